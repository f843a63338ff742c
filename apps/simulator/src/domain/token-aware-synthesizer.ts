import { encodeText } from "@symphony/common";
import {
  PHRASE_WORDS,
  PromptSynthesizer,
  promptWordsText,
  type PromptWords,
} from "@symphony/workloadgen/domain";
import type { FastTokenCache, KnownIds } from "./fast-token-cache";

/**
 * workloadgen's PromptSynthesizer that also hands the token ids of each synthetic prompt to the
 * simulation's token cache, so the simulated node and engine never re-tokenize it. The text is
 * the very same (same seed, same random stream, same words; a unit test compares it with the
 * parent's); its ids are known word by word because every word is one token.
 */
export class TokenAwareSynthesizer extends PromptSynthesizer {
  private readonly spacedIds: number[];
  private readonly bareIds: number[];
  /** The ids of phrase p's words at PHRASE_WORDS * p ... (each word is one token). */
  private readonly phraseIds: Int32Array;

  constructor(
    synthSeed: number,
    blockTokens: number,
    private readonly tokens: FastTokenCache,
  ) {
    super(synthSeed, tokens.tokenizer, blockTokens);
    const words = this.vocabulary.words;
    this.spacedIds = words.map((w) => encodeText(w)[0]!);
    // A prompt's first word has no leading space; only words that are one token bare come first.
    this.bareIds = words.map((w) => {
      const ids = encodeText(w.trimStart());
      return ids.length === 1 ? ids[0]! : -1;
    });
    this.phraseIds = Int32Array.from(this.vocabulary.phrases.words, (w) => this.spacedIds[w]!);
  }

  override text(key: string, tokens: number): string {
    const words = this.promptWords(key, tokens);
    const text = promptWordsText(this.vocabulary, words);
    this.tokens.remember(
      text,
      new SyntheticIds(words, this.bareIds[words.first] ?? -1, this.phraseIds, this.spacedIds),
    );
    return text;
  }
}

// SyntheticIds.writeInto copies phrases 8 ids at a time.
if (PHRASE_WORDS !== 8) throw new Error(`SyntheticIds expects 8 words per phrase, not ${PHRASE_WORDS}`);

/** The ids of a synthetic prompt, written from its words (each word is one token) when read. */
class SyntheticIds implements KnownIds {
  readonly length: number;

  constructor(
    private readonly words: PromptWords,
    /** The id of the first word, bare. */
    private readonly firstId: number,
    private readonly phraseIds: Int32Array,
    private readonly spacedIds: readonly number[],
  ) {
    this.length = (words.first >= 0 ? 1 : 0) + words.phrases.length * PHRASE_WORDS + words.tail.length;
  }

  writeInto(out: number[] | Int32Array, at: number): number {
    const { words, phraseIds: p, spacedIds } = this;
    if (words.first >= 0) out[at++] = this.firstId;
    const phrases = words.phrases;
    // A phrase's 8 ids written out one by one, not in an inner loop: most of a prompt's ids are
    // written here, once per request, and the loop's counters cost about as much as the copies.
    for (let i = 0; i < phrases.length; i++, at += 8) {
      const f = phrases[i]! * 8;
      out[at] = p[f]!;
      out[at + 1] = p[f + 1]!;
      out[at + 2] = p[f + 2]!;
      out[at + 3] = p[f + 3]!;
      out[at + 4] = p[f + 4]!;
      out[at + 5] = p[f + 5]!;
      out[at + 6] = p[f + 6]!;
      out[at + 7] = p[f + 7]!;
    }
    const tail = words.tail;
    for (let i = 0; i < tail.length; i++) out[at++] = spacedIds[tail[i]!]!;
    return at;
  }
}
