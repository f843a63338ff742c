import type { InferenceRequest } from "./gen/symphony/v1/inference";

/** Size limits a scheduler or node applies to a request before any tokenization. */
export interface RequestLimits {
  /** UTF-8 bytes of prompt text (the prompt, or every message's content together). */
  readonly maxPromptBytes: number;
  /** Chat messages in one request. */
  readonly maxMessages: number;
}

/**
 * Defaults: 4 MiB of text (about a million tokens, far beyond today's context windows) and
 * 10,000 messages (an agent's longest sessions are in the hundreds).
 */
export const DEFAULT_REQUEST_LIMITS: RequestLimits = { maxPromptBytes: 4 << 20, maxMessages: 10_000 };

/**
 * Why a request is too large (one line naming the field, the size and the flag that sets the
 * limit), or undefined. Linear in the text and cheap: string lengths bound the UTF-8 size from
 * both sides (chars <= bytes <= 3 x chars), so bytes are counted only near the limit.
 */
export function requestSizeProblem(
  req: InferenceRequest,
  limits: RequestLimits,
  who: string,
): string | undefined {
  if (req.messages.length > limits.maxMessages)
    return `messages: ${req.messages.length} messages, more than ${who}'s --max-messages ${limits.maxMessages}`;
  let chars = req.prompt.length;
  for (const m of req.messages) chars += m.content.length;
  if (chars * 3 <= limits.maxPromptBytes) return undefined;
  let bytes = chars > limits.maxPromptBytes ? chars : Buffer.byteLength(req.prompt, "utf8");
  if (bytes <= limits.maxPromptBytes)
    for (const m of req.messages) {
      bytes += Buffer.byteLength(m.content, "utf8");
      if (bytes > limits.maxPromptBytes) break;
    }
  if (bytes <= limits.maxPromptBytes) return undefined;
  const field = req.messages.length > 0 ? "messages[].content" : "prompt";
  return `${field}: more than ${limits.maxPromptBytes} bytes of text (at least ${bytes}), over ${who}'s --max-prompt-bytes ${limits.maxPromptBytes}`;
}

/**
 * The gRPC receive limit that goes with `limits`: room for the prompt twice over (the expected
 * response rides along), per-message framing and the other fields. Anything larger is refused by
 * grpc-js (RESOURCE_EXHAUSTED) before it is even decoded.
 */
export function grpcReceiveLimit(limits: RequestLimits): number {
  return 2 * limits.maxPromptBytes + 16 * limits.maxMessages + (1 << 20);
}
