/**
 * The fields Symphony reads from an OpenAI-compatible streaming response (vLLM's SSE chunks),
 * shared by every client of such servers (the node's engine adapter, workloadgen's HTTP target).
 */
export interface OpenAiStreamChoice {
  delta?: {
    content?: string | null;
    /** vLLM with a reasoning parser (older name). */
    reasoning_content?: string | null;
    /** vLLM with a reasoning parser (newer name). */
    reasoning?: string | null;
  };
  /** Completions API. */
  text?: string | null;
  finish_reason?: string | null;
}

export interface OpenAiUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number | null } | null;
}

export interface OpenAiStreamChunk {
  choices?: OpenAiStreamChoice[];
  usage?: OpenAiUsage | null;
  error?: { message?: string; code?: number | string };
}

/** A piece of generated text and whether it is reasoning ("thinking") rather than the answer. */
export interface StreamPiece {
  text: string;
  reasoning: boolean;
}

/**
 * The generated pieces of one choice: reasoning first, then content (one chunk may carry both).
 * Empty pieces are dropped.
 */
export function streamPieces(choice: OpenAiStreamChoice, chat: boolean): StreamPiece[] {
  if (!chat) return choice.text ? [{ text: choice.text, reasoning: false }] : [];
  const out: StreamPiece[] = [];
  const reasoning = choice.delta?.reasoning_content ?? choice.delta?.reasoning;
  if (reasoning) out.push({ text: reasoning, reasoning: true });
  if (choice.delta?.content) out.push({ text: choice.delta.content, reasoning: false });
  return out;
}
