import { createHash } from "node:crypto";
import { ChatFormatError, chatFormatFor, type ChatFormat, type Tokenizer } from "@symphony/common";
import { ROLE_NAMES, type InferenceRequest } from "@symphony/runtime";
import { LRUCache } from "lru-cache";
import { approxChatPromptTokens } from "../domain";

/** Texts shorter than this are counted without hashing (hashing would cost about as much). */
const SHORT_TEXT_CHARS = 64;

/**
 * Counts a request's prompt tokens for admission as the engine will: with the engine's tokenizer
 * (--tokenizer) and its model's chat template (Llama 3.1 or Llama 2 Chat, with the generation
 * prompt, as a chat completion renders by default), and BOS before a completion prompt (vLLM's
 * add_special_tokens default).
 *
 * Clients resend the whole conversation every turn, so counting it afresh would cost O(context)
 * tokenizer work per turn (~1 ms per 5k tokens). Instead each piece of the rendered template (a
 * message's content, or a Llama 2 exchange) is counted once and cached by a hash of its text
 * (bounded, least recently used dropped first), so a turn tokenizes only its new messages.
 */
export class PromptTokenCounter {
  // lru-cache, not a Map trimmed from its front: once full, a V8 Map whose oldest keys are
  // deleted again and again makes `keys().next()` scan the deleted slots (~100x slower).
  private readonly cache: LRUCache<string, number>;
  /** Counts of short texts (roles, separators, short messages); bounded. */
  private readonly short = new Map<string, number>();
  private readonly format: ChatFormat | undefined;
  hits = 0;
  misses = 0;

  /** @param maxEntries cached text counts kept (each ~100 bytes). */
  constructor(
    private readonly tokenizer: Tokenizer,
    maxEntries = 200_000,
  ) {
    this.cache = new LRUCache({ max: maxEntries });
    try {
      this.format = chatFormatFor(tokenizer);
    } catch {
      this.format = undefined; // no known template: approximate (see approxChatPromptTokens)
    }
  }

  count(req: InferenceRequest): number {
    if (req.messages.length === 0) return (this.format ? 1 : 0) + this.countText(req.prompt);
    if (this.format) {
      const messages = req.messages.map((m) => ({ role: ROLE_NAMES[m.role] ?? "user", content: m.content }));
      try {
        let n = 0;
        for (const piece of this.format.render(messages))
          n += typeof piece === "number" ? 1 : this.countText(piece);
        return n;
      } catch (err) {
        // The engine will reject it (e.g. Llama 2 Chat: roles must alternate); count roughly.
        if (!(err instanceof ChatFormatError)) throw err;
      }
    }
    return approxChatPromptTokens(req.messages, (content) => this.countText(content));
  }

  private countText(text: string): number {
    if (text.length < SHORT_TEXT_CHARS) {
      let n = this.short.get(text);
      if (n === undefined) {
        n = this.tokenizer.countTokens(text);
        if (this.short.size < 4096) this.short.set(text, n);
      }
      return n;
    }
    const key = createHash("sha1").update(text).digest("base64");
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const tokens = this.tokenizer.countTokens(text);
    this.cache.set(key, tokens);
    return tokens;
  }
}
