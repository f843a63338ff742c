import { createHash } from "node:crypto";
import { countTokens, type InferenceRequest } from "@symphony/common";
import { LRUCache } from "lru-cache";

/**
 * Tokens per chat message spent on the chat template (role markers, separators). An
 * approximation; the engine's usage report is what sizes the session's KV afterwards.
 */
export const CHAT_TEMPLATE_TOKENS_PER_MESSAGE = 4;

/**
 * Counts a request's prompt tokens (cl100k_base, the stack's tokenizer) for admission.
 * Clients resend the whole conversation every turn, so counting it afresh would cost O(context)
 * tokenizer work per turn (~1 ms per 5k tokens). Instead each message's count is cached by a hash
 * of its content (bounded, least recently used dropped first), so a turn tokenizes only its new
 * messages.
 */
export class PromptTokenCounter {
  // lru-cache, not a Map trimmed from its front: once full, a V8 Map whose oldest keys are
  // deleted again and again makes `keys().next()` scan the deleted slots (~100x slower).
  private readonly cache: LRUCache<string, number>;
  hits = 0;
  misses = 0;

  /** @param maxEntries cached message counts kept (each ~100 bytes). */
  constructor(maxEntries = 200_000) {
    this.cache = new LRUCache({ max: maxEntries });
  }

  count(req: InferenceRequest): number {
    if (req.messages.length === 0) return countTokens(req.prompt);
    let n = 0;
    for (const m of req.messages) n += this.countMessage(m.content) + CHAT_TEMPLATE_TOKENS_PER_MESSAGE;
    return n;
  }

  private countMessage(content: string): number {
    if (content.length < 64) return countTokens(content); // hashing would cost about as much
    const key = createHash("sha1").update(content).digest("base64");
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      this.hits++;
      return cached;
    }
    this.misses++;
    const tokens = countTokens(content);
    this.cache.set(key, tokens);
    return tokens;
  }
}
