import { encodeText, loadTokenizer } from "@symphony/common";
import { LRUCache } from "lru-cache";
import { TokenCache } from "@symphony/mock-vllm/domain";

/** Token ids known without encoding their text (see `FastTokenCache.remember`). */
export interface KnownIds {
  readonly length: number;
  /** Writes the ids into `out` from index `at` on; returns the index after the last. */
  writeInto(out: number[] | Int32Array, at: number): number;
}

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
    if (recent) {
      const ids = new Array<number>(recent.length);
      recent.writeInto(ids, 0);
      return ids;
    }
    const hit = this.texts.get(text);
    if (hit) return hit;
    const ids = WORDS_ONLY.test(text) ? this.encodeWords(text) : this.encodeFull(text);
    this.texts.set(text, ids);
    return ids;
  }

  override count(text: string): number {
    return this.recent.get(text)?.length ?? this.encode(text).length;
  }

  override encodeInto(text: string, out: number[] | Int32Array, at: number): number {
    const recent = this.recent.get(text);
    return recent ? recent.writeInto(out, at) : super.encodeInto(text, out, at);
  }

  /**
   * Records the ids of `text` when the caller knows them (e.g. synthetic prompts built word by
   * word), as something that writes them out when read: no array of them is made until a reader
   * asks, and then straight into the reader's own (the engine's prompt array).
   */
  remember(text: string, ids: KnownIds): void {
    this.recent.set(text, ids);
  }

  /**
   * Drops `text` from the recent prompts (its last reader, the engine, has its ids): a prompt held
   * until `maxRecent` newer ones push it out would survive a young-generation collection or two
   * (copied each time) for nothing. Read again later, it is encoded again, word by word.
   */
  forget(text: string): void {
    this.recent.delete(text);
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

/**
 * The ids of the last `capacity` texts remembered; the oldest is dropped first (reads do not
 * refresh). Found by length, then by `===`: a synthetic prompt is read back as the very string
 * object it was remembered as, which `===` settles by identity; another text of the same length
 * is compared by its characters up to the first that differs. No text is ever hashed (a Map keyed
 * by the text hashes every character of each new prompt).
 *
 * Entries are slots of a ring of parallel arrays, not an object each: an object per entry lives
 * about as long as young-generation collections are apart, so V8 allocates such objects straight
 * in the old generation ("pretenuring" their allocation site), and a dropped entry there keeps
 * its text and ids alive until the next full collection, promoting every prompt.
 */
class RecentIds {
  /** The ring slot of the newest entry of each text length. */
  private readonly byLength = new Map<number, number>();
  private readonly texts: (string | undefined)[];
  private readonly ids: (KnownIds | undefined)[];
  /** The slot of the next older entry of the same length, or -1. */
  private readonly sameLength: Int32Array;
  /** The oldest slot (the next to be reused). */
  private next = 0;
  private count = 0;

  constructor(capacity: number) {
    const n = Math.max(1, capacity);
    this.texts = Array.from({ length: n }, () => undefined);
    this.ids = Array.from({ length: n }, () => undefined);
    this.sameLength = new Int32Array(n).fill(-1);
  }

  get size(): number {
    return this.count;
  }

  get(text: string): KnownIds | undefined {
    const i = this.find(text);
    return i < 0 ? undefined : this.ids[i];
  }

  set(text: string, ids: KnownIds): void {
    const found = this.find(text);
    if (found >= 0) {
      this.ids[found] = ids;
      return;
    }
    const slot = this.next;
    if (this.texts[slot] !== undefined) this.unlink(slot);
    const head = this.byLength.get(text.length);
    this.texts[slot] = text;
    this.ids[slot] = ids;
    this.sameLength[slot] = head ?? -1;
    this.byLength.set(text.length, slot);
    this.next = (slot + 1) % this.texts.length;
    this.count++;
  }

  delete(text: string): void {
    const slot = this.find(text);
    if (slot >= 0) this.unlink(slot);
  }

  private find(text: string): number {
    const head = this.byLength.get(text.length);
    for (let i = head ?? -1; i >= 0; i = this.sameLength[i]!) if (this.texts[i] === text) return i;
    return -1;
  }

  private unlink(slot: number): void {
    const n = this.texts[slot]!.length;
    const older = this.sameLength[slot]!;
    let i = this.byLength.get(n)!;
    if (i === slot) {
      if (older < 0) this.byLength.delete(n);
      else this.byLength.set(n, older);
    } else {
      while (this.sameLength[i] !== slot) i = this.sameLength[i]!;
      this.sameLength[i] = older;
    }
    this.texts[slot] = undefined;
    this.ids[slot] = undefined;
    this.count--;
  }
}
