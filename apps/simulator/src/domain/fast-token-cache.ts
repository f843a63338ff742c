import { encodeText, loadTokenizer } from "@symphony/common";
import { LRUCache } from "lru-cache";
import { TokenCache } from "@symphony/mock-vllm/domain";

/** Letters separated by single spaces: the synthetic prompts and the mock's filler output. */
const WORDS_ONLY = /^ ?[A-Za-z]+(?: [A-Za-z]+)*$/;

/**
 * The mock engine's TokenCache (same interface, so ChatTemplate and OutputPlanner use it), made
 * cheap for simulations of hundreds of thousands of requests:
 *
 * - Text made only of ASCII words separated by single spaces is encoded word by word. cl100k's
 *   pre-tokenizer splits such text exactly at " word" pieces and BPE never merges across pieces,
 *   so the concatenated per-word ids equal the full encoding; each distinct word is encoded
 *   once. Synthetic prompts (PromptSynthesizer) and generated filler answers are all like this.
 * - Anything else is encoded with the real tokenizer and memoised per text (bounded, least recently
 *   used entries dropped first), like the mock's own cache.
 */
export class FastTokenCache extends TokenCache {
  private readonly texts: LRUCache<string, readonly number[]>;
  /**
   * Synthetic prompts just made (`remember`): the node and the engine read them back within
   * simulated milliseconds. A small cache of their own keeps the hundreds of thousands of
   * one-off prompts of an open loop from filling `texts` (peak memory of the simulated hour in
   * the bench: 1.06 GB instead of 1.8 GB); a prompt resent later in a conversation's history is
   * re-encoded word by word, exactly. Kept few and first-in first-out: a prompt held for long
   * outlives young-generation collections, which then copy it (most of the garbage collector's
   * work in an open loop).
   */
  private readonly recent: RecentIds;
  /** Ids of " word" (with its leading space) and of "word", by word. */
  private readonly spacedWords = new Map<string, readonly number[]>();
  private readonly bareWords = new Map<string, readonly number[]>();
  /** Texts encoded by the full tokenizer (not the word path), for tests and stats. */
  fullEncodes = 0;

  constructor(maxTexts = 50_000, maxRecent = 512) {
    super(loadTokenizer("cl100k"), 1); // cl100k by design: the word path relies on its pre-tokenizer
    this.texts = new LRUCache({ max: maxTexts });
    this.recent = new RecentIds(maxRecent);
  }

  override encode(text: string): readonly number[] {
    const recent = this.recent.get(text);
    if (recent) return toArray(recent);
    const hit = this.texts.get(text);
    if (hit) return hit;
    const ids = WORDS_ONLY.test(text) ? this.encodeWords(text) : this.encodeFull(text);
    this.texts.set(text, ids);
    return ids;
  }

  override count(text: string): number {
    return this.recent.get(text)?.length ?? this.encode(text).length;
  }

  override encodeInto(text: string, out: number[], at: number): number {
    const recent = this.recent.get(text);
    if (!recent) return super.encodeInto(text, out, at);
    for (let i = 0; i < recent.length; i++) out[at++] = recent[i]!;
    return at;
  }

  /**
   * Records the ids of `text` when the caller knows them (e.g. synthetic prompts built word by
   * word). A typed array: kept until hundreds of later prompts push it out, the ids would
   * otherwise be copied by every young-generation collection in between; its numbers live
   * outside the collected heap, and each read gets a short-lived plain copy.
   */
  remember(text: string, ids: Int32Array): void {
    this.recent.set(text, ids);
  }

  override get size(): number {
    return this.texts.size + this.recent.size;
  }

  private encodeFull(text: string): readonly number[] {
    this.fullEncodes++;
    return encodeText(text);
  }

  private encodeWords(text: string): number[] {
    const out: number[] = [];
    const words = text.split(" ");
    // "a b" splits into ["a", "b"]: the first word has no leading space, the others have one;
    // " a b" splits into ["", "a", "b"] and every word has one.
    for (let w = 0; w < words.length; w++) {
      const word = words[w]!;
      if (word === "") continue;
      const spaced = w > 0;
      const cache = spaced ? this.spacedWords : this.bareWords;
      let ids = cache.get(word);
      if (!ids) {
        ids = encodeText(spaced ? ` ${word}` : word);
        if (cache.size < 200_000) cache.set(word, ids);
      }
      for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
    }
    return out;
  }
}

/** The ids of the last `capacity` texts remembered; the oldest is dropped first (reads do not refresh). */
class RecentIds {
  private readonly byText = new Map<string, Int32Array>();
  /** Remembered texts in insertion order, a ring; `next` is the oldest slot. */
  private readonly ring: (string | undefined)[];
  private next = 0;

  constructor(capacity: number) {
    this.ring = Array.from({ length: Math.max(1, capacity) }, () => undefined);
  }

  get size(): number {
    return this.byText.size;
  }

  get(text: string): Int32Array | undefined {
    return this.byText.get(text);
  }

  set(text: string, ids: Int32Array): void {
    if (!this.byText.has(text)) {
      const oldest = this.ring[this.next];
      if (oldest !== undefined) this.byText.delete(oldest);
      this.ring[this.next] = text;
      this.next = (this.next + 1) % this.ring.length;
    }
    this.byText.set(text, ids);
  }
}

/** A plain-array copy of `ids` (the TokenCache interface hands out arrays). */
function toArray(ids: Int32Array): number[] {
  const out = new Array<number>(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i]!;
  return out;
}
