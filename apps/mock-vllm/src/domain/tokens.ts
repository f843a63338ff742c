import type { Tokenizer } from "@symphony/common";
import { LRUCache } from "lru-cache";

/**
 * The served model's tokenizer with the caches the engine needs: encoded texts (chat histories
 * resend the same messages every turn) and the streamed text of each token id.
 *
 * (lru-cache, not a Map trimmed from its front: V8 Maps whose oldest keys are deleted again and
 * again make `keys().next()` scan the deleted slots, ~100x slower at tens of thousands of entries.)
 */
export class TokenCache {
  private readonly cache: LRUCache<string, readonly number[]>;
  /**
   * Streamed text of each token id, decoded once: read once per streamed token, so an array
   * indexed by id (filled up front so V8 keeps it a flat array, not a dictionary) rather than a
   * Map. Covers the vocabulary and Llama 3's special ids (which cl100k borrows).
   */
  private readonly pieceCache: (string | undefined)[];

  constructor(
    readonly tokenizer: Tokenizer,
    maxEntries = 20_000,
  ) {
    this.cache = new LRUCache({ max: maxEntries });
    this.pieceCache = Array.from({ length: Math.max(tokenizer.vocabSize, 128_256) }, () => undefined);
  }

  encode(text: string): readonly number[] {
    const hit = this.cache.get(text);
    if (hit) return hit;
    const ids = this.tokenizer.encode(text);
    this.cache.set(text, ids);
    return ids;
  }

  /** How many tokens `text` encodes to (what `encode(text).length` gives). */
  count(text: string): number {
    return this.encode(text).length;
  }

  /** Writes the ids of `text` into `out` from index `at` on; returns the index after the last. */
  encodeInto(text: string, out: number[] | Int32Array, at: number): number {
    const ids = this.encode(text);
    for (let i = 0; i < ids.length; i++) out[at++] = ids[i]!;
    return at;
  }

  get size(): number {
    return this.cache.size;
  }

  /**
   * The text one token adds to a stream; special tokens give "" (vLLM's skip_special_tokens),
   * SentencePiece tokens keep their leading space (" world"), as vLLM's detokenizer streams them.
   */
  tokenText(id: number): string {
    let s = this.pieceCache[id];
    if (s === undefined) {
      s =
        this.tokenizer.isSpecial(id) || id >= this.tokenizer.vocabSize
          ? ""
          : this.tokenizer.decodeContinuation([id]);
      if (id >= 0 && id < this.pieceCache.length) this.pieceCache[id] = s;
    }
    return s;
  }

  /**
   * The text each token adds when streamed one by one, as vLLM's incremental detokenizer emits
   * it: a character split over several tokens (multi-byte UTF-8) appears with the token that
   * completes it, and the tokens before it carry "". Joining the pieces gives the full text.
   */
  streamPieces(ids: ArrayLike<number>): string[] {
    const pieces: string[] = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const single = this.tokenText(ids[i]!);
      if (!single.includes("\uFFFD")) {
        pieces[i] = single;
        continue;
      }
      // Grow the group until it decodes cleanly (a UTF-8 character spans at most 4 tokens).
      let j = i;
      let text = single;
      while (text.includes("\uFFFD") && j + 1 < ids.length && j - i < 3) {
        j++;
        text = this.tokenizer.decodeContinuation(Array.prototype.slice.call(ids, i, j + 1));
      }
      for (let k = i; k < j; k++) pieces[k] = "";
      pieces[j] = text;
      i = j;
    }
    return pieces;
  }
}
