import { decodeTokens, encodeText } from "@symphony/common";
import { LRUCache } from "lru-cache";

/**
 * Llama 3 special token ids. The stack tokenises text with cl100k_base (see @symphony/common),
 * whose ids stop at 100276, so these ids never collide with text tokens; they only matter for
 * counting and for prefix-cache hashing.
 */
export const SPECIAL = {
  beginOfText: 128000,
  startHeader: 128006,
  endHeader: 128007,
  endOfTurn: 128009,
} as const;

const SPECIAL_IDS = new Set<number>(Object.values(SPECIAL));

/**
 * Text of each token id, decoded once: read once per streamed token, so an array indexed by id
 * (filled up front so V8 keeps it a flat array, not a dictionary) rather than a Map. Covers
 * cl100k's ids and Llama 3's special ids.
 */
const pieceCache: (string | undefined)[] = Array.from({ length: 128_256 }, () => undefined);

/** The text of one token on its own; special tokens decode to "" (vLLM skip_special_tokens). */
export function tokenText(id: number): string {
  let s = pieceCache[id];
  if (s === undefined) {
    s = SPECIAL_IDS.has(id) ? "" : decodeTokens([id]);
    if (id >= 0 && id < pieceCache.length) pieceCache[id] = s;
  }
  return s;
}

/**
 * The text each token adds when streamed one by one, as vLLM's incremental detokenizer emits
 * it: a character split over several tokens (multi-byte UTF-8) appears with the token that
 * completes it, and the tokens before it carry "". Joining the pieces gives the full text.
 */
export function streamPieces(ids: readonly number[]): string[] {
  const pieces: string[] = new Array<string>(ids.length);
  for (let i = 0; i < ids.length; i++) {
    const single = tokenText(ids[i]!);
    if (!single.includes("\uFFFD")) {
      pieces[i] = single;
      continue;
    }
    // Grow the group until it decodes cleanly (a UTF-8 character spans at most 4 tokens).
    let j = i;
    let text = single;
    while (text.includes("\uFFFD") && j + 1 < ids.length && j - i < 3) {
      j++;
      text = decodeTokens(ids.slice(i, j + 1) as number[]);
    }
    for (let k = i; k < j; k++) pieces[k] = "";
    pieces[j] = text;
    i = j;
  }
  return pieces;
}

/**
 * Encodes text, memoising recent strings: chat histories resend the same messages every turn.
 * (lru-cache, not a Map trimmed from its front: V8 Maps whose oldest keys are deleted again and
 * again make `keys().next()` scan the deleted slots, ~100x slower at tens of thousands of entries.)
 */
export class TokenCache {
  private readonly cache: LRUCache<string, readonly number[]>;
  constructor(maxEntries = 20_000) {
    this.cache = new LRUCache({ max: maxEntries });
  }

  encode(text: string): readonly number[] {
    const hit = this.cache.get(text);
    if (hit) return hit;
    const ids = encodeText(text);
    this.cache.set(text, ids);
    return ids;
  }

  get size(): number {
    return this.cache.size;
  }
}
