import { ChatFormatError, chatFormatFor, type ChatFormat, type Tokenizer } from "@symphony/common";
import { ROLE_NAMES, type InferenceRequest } from "@symphony/runtime";
import { CHAT_TEMPLATE_TOKENS_PER_MESSAGE } from "../domain";

/**
 * Prompts with more text than this are counted by `countPromptTokensSliced` instead of in one
 * go: tokenizing hostile text costs about 3 µs per character, so this bounds one synchronous
 * count to about 0.2 s.
 */
export const SLICED_COUNT_CHARS = 64 * 1024;

/** Characters tokenized between two yields to the event loop (about 50 ms in the worst case). */
export const SLICE_CHARS = 16 * 1024;

/** Characters of prompt text in a request (message contents, or the prompt). */
export function promptChars(req: InferenceRequest): number {
  let n = req.prompt.length;
  for (const m of req.messages) n += m.content.length;
  return n;
}

const nextTurnOfLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Tokens of `text`, counted in slices of about SLICE_CHARS that end just before whitespace (where
 * the Llama 3 and cl100k pre-tokenizers split anyway, so the sum matches counting the whole
 * text, to within a token per slice at worst), yielding to the event loop between slices so
 * heartbeats, health checks and other turns go on while a long prompt is counted.
 */
export async function countTextSliced(tokenizer: Tokenizer, text: string): Promise<number> {
  let n = 0;
  for (let start = 0; start < text.length;) {
    let end = Math.min(text.length, start + SLICE_CHARS);
    if (end < text.length) {
      const cut = text.lastIndexOf(" ", end);
      if (cut > start + SLICE_CHARS / 2) end = cut;
    }
    n += tokenizer.countTokens(text.slice(start, end));
    start = end;
    if (start < text.length) await nextTurnOfLoop();
  }
  return n;
}

/**
 * The prompt's tokens as PromptTokenCounter counts them (the model's chat template with the
 * generation prompt; BOS before a completion prompt; an approximation per message when the
 * template does not apply), but asynchronous and in slices (see countTextSliced), for prompts
 * too long to tokenize in one stretch of the event loop. Nothing is cached: a prompt this long
 * is rare, and its later turns' new messages are short.
 */
export async function countPromptTokensSliced(tokenizer: Tokenizer, req: InferenceRequest): Promise<number> {
  let format: ChatFormat | undefined;
  try {
    format = chatFormatFor(tokenizer);
  } catch {
    format = undefined;
  }
  if (req.messages.length === 0) return (format ? 1 : 0) + (await countTextSliced(tokenizer, req.prompt));
  if (format) {
    const messages = req.messages.map((m) => ({ role: ROLE_NAMES[m.role] ?? "user", content: m.content }));
    let pieces: ReturnType<ChatFormat["render"]> | undefined;
    try {
      pieces = format.render(messages);
    } catch (err) {
      if (!(err instanceof ChatFormatError)) throw err;
    }
    if (pieces) {
      let n = 0;
      for (const piece of pieces)
        n += typeof piece === "number" ? 1 : await countTextSliced(tokenizer, piece);
      return n;
    }
  }
  let n = 0;
  for (const m of req.messages)
    n += (await countTextSliced(tokenizer, m.content)) + CHAT_TEMPLATE_TOKENS_PER_MESSAGE;
  return n;
}
