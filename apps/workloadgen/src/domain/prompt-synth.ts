import { rngFor, type Rng, type Tokenizer } from "@symphony/common";

/**
 * Common English words, most of them ONE token with a leading space in any English vocabulary
 * (each tokenizer keeps those that are: see `promptVocabulary`).
 */
const CANDIDATE_WORDS = (
  "time year people way day man thing woman life child world school state family student group " +
  "country problem hand part place case week company system program question work government " +
  "number night point home water room mother area money story fact month lot right study book " +
  "eye job word business issue side kind head house service friend father power hour game line " +
  "end member law car city community name president team minute idea kid body information back " +
  "parent face others level office door health person art war history party result change " +
  "morning reason research girl guy moment air teacher force education foot boy age policy " +
  "music market sense nation plan college interest death experience effect class control " +
  "care field development role effort rate heart drug show leader light voice wife police mind " +
  "price report decision son view relationship town road arm difference value building action " +
  "model season society tax director position player record paper space ground form event " +
  "official matter center couple site project activity star table need court oil situation cost " +
  "industry figure street image phone data picture practice piece land product doctor wall " +
  "patient worker news test movie north love support technology step baby computer type " +
  "attention film tree source organization hair window evidence population site garden river"
)
  .split(" ")
  .filter(Boolean);

/**
 * The words prompts are made of, for one tokenizer: each is ONE token wherever it stands in a
 * prompt, so N words make exactly N tokens of the served model.
 */
export interface PromptVocabulary {
  /** The words, each with its leading space (" word"): one token after other text. */
  readonly words: readonly string[];
  /**
   * Indexes (into `words`) of the words that are one token without their leading space too. A
   * prompt starts with one of them, bare: chat templates trim message content, and text that
   * needs no trimming stays the very same string (cheap to look up in token caches).
   */
  readonly bareFirst: readonly number[];
  /**
   * A fixed table of 4096 random phrases of PHRASE_WORDS spaced words (the same for every seed;
   * prompts differ by which phrases they pick). Two random prompts share their first 16-token
   * KV block with probability ~1e-10, so synthetic prompts still defeat prefix caches.
   */
  readonly phrases: { readonly words: Uint16Array; readonly texts: readonly string[] };
}

/** Words per phrase. Prompts are built from whole phrases: a few draws and string pieces per prompt. */
export const PHRASE_WORDS = 8;

const vocabularies = new WeakMap<Tokenizer, PromptVocabulary>();

/**
 * The prompt vocabulary of `tokenizer` (built once per tokenizer). Byte-level BPE (cl100k, Llama
 * 3) splits " word" pieces apart before merging; SentencePiece (Llama 2) writes each space as
 * "▁" in front of the next word, so " word" is the token of "word" with its prepended "▁".
 */
export function promptVocabulary(tokenizer: Tokenizer): PromptVocabulary {
  let v = vocabularies.get(tokenizer);
  if (!v) {
    const tokensAfterText = (w: string) => tokenizer.countTokens(tokenizer.prependsSpace ? w.trimStart() : w);
    const words = [...new Set(CANDIDATE_WORDS)].map((w) => ` ${w}`).filter((w) => tokensAfterText(w) === 1);
    const bareFirst = words.flatMap((w, i) => (tokenizer.countTokens(w.trimStart()) === 1 ? [i] : []));
    v = { words, bareFirst, phrases: phraseTable(words) };
    vocabularies.set(tokenizer, v);
  }
  return v;
}

function phraseTable(vocabulary: readonly string[]): PromptVocabulary["phrases"] {
  const count = 4096;
  const rng = rngFor(0, "workloadgen.prompt-phrases");
  const words = new Uint16Array(count * PHRASE_WORDS);
  const texts = new Array<string>(count);
  const parts = new Array<string>(PHRASE_WORDS);
  for (let p = 0; p < count; p++) {
    for (let k = 0; k < PHRASE_WORDS; k++) {
      const w = rng.index(vocabulary.length);
      words[p * PHRASE_WORDS + k] = w;
      parts[k] = vocabulary[w]!;
    }
    // join() makes a flat string; `+=` would leave a rope that every prompt join re-walks.
    texts[p] = parts.join("");
  }
  return { words, texts };
}

/** A synthetic prompt of exactly one token per word: a bare first word, whole phrases, single words. */
export interface PromptWords {
  /** Index into the vocabulary's words of the first word (written without its space); -1 if empty. */
  readonly first: number;
  /** Indexes into the vocabulary's phrases. */
  readonly phrases: readonly number[];
  /** Indexes into the vocabulary's words of the words after the phrases. */
  readonly tail: readonly number[];
}

/** The words of a prompt of `count` tokens, drawn from `rng`. */
export function promptWords(v: PromptVocabulary, rng: Rng, count: number): PromptWords {
  if (count <= 0) return { first: -1, phrases: [], tail: [] };
  const first = v.bareFirst[rng.index(v.bareFirst.length)]!;
  // Plain arrays, not typed ones: a typed array of this size gets a buffer outside the heap,
  // costly to allocate for something that lives a moment. Made at their final size: grown by
  // push, each would leave its smaller copies behind and keep up to half again its size unused.
  const numPhrases = Math.floor((count - 1) / PHRASE_WORDS);
  const phrases = new Array<number>(numPhrases);
  for (let i = 0; i < numPhrases; i++) phrases[i] = rng.index(v.phrases.texts.length);
  const numTail = count - 1 - numPhrases * PHRASE_WORDS;
  const tail = new Array<number>(numTail);
  for (let i = 0; i < numTail; i++) tail[i] = rng.index(v.words.length);
  return { first, phrases, tail };
}

/**
 * The text of promptWords(): no surrounding whitespace, exactly one token per word. Built by `+`,
 * not joined: V8 keeps the result as a rope (a tree of its pieces, the phrase table's strings)
 * and copies the characters into one flat string only when something reads them. A live run
 * serializes every prompt, which costs about what a join did; most simulations read only a
 * prompt's length and identity, never its characters (~50 pieces a prompt, 360,000 prompts in a
 * simulated hour: a third of the cost of joining).
 */
export function promptWordsText(v: PromptVocabulary, w: PromptWords): string {
  if (w.first < 0) return "";
  let text = v.words[w.first]!.slice(1);
  const phrases = v.phrases.texts;
  for (let i = 0; i < w.phrases.length; i++) text += phrases[w.phrases[i]!]!;
  for (let i = 0; i < w.tail.length; i++) text += v.words[w.tail[i]!]!;
  return text;
}

/** `count` words, each with its leading space (prefix blocks, which follow other text). */
function words(v: PromptVocabulary, rng: Rng, count: number): string[] {
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) out[i] = v.words[rng.index(v.words.length)]!;
  return out;
}

/**
 * Deterministic prompt text of an exact token count of `tokenizer` (the served model's), for
 * open-loop profiles, agent sessions and trace replay. Same (seed, key, tokens, tokenizer) -> same
 * text. With `hashIds` (Mooncake traces), the text starts with one block of `blockTokens` words
 * per hash id, so requests sharing hash ids share prefix text.
 */
export class PromptSynthesizer {
  private readonly blocks = new Map<number, string[]>();
  protected readonly vocabulary: PromptVocabulary;

  constructor(
    private readonly seed: number,
    tokenizer: Tokenizer,
    /** Tokens per Mooncake hash block (512 in the published traces). */
    private readonly blockTokens = 512,
    /** Blocks kept in memory; older ones are regenerated on demand (same text). */
    private readonly maxCachedBlocks = 4096,
  ) {
    this.vocabulary = promptVocabulary(tokenizer);
  }

  /** `tokens` tokens of text unique to `key` (e.g. a request id), starting without a space. */
  text(key: string, tokens: number): string {
    return promptWordsText(this.vocabulary, this.promptWords(key, tokens));
  }

  /** The words of text(key, tokens). */
  protected promptWords(key: string, tokens: number): PromptWords {
    return promptWords(this.vocabulary, rngFor(this.seed, `prompt:${key}`), tokens);
  }

  /** Text whose first tokens are the shared blocks of `hashIds`, `tokens` tokens in all. */
  textWithPrefix(key: string, tokens: number, hashIds: readonly number[]): string {
    const parts: string[] = [];
    for (const id of hashIds) {
      if (parts.length >= tokens) break;
      for (const w of this.block(id)) {
        if (parts.length >= tokens) break;
        parts.push(w);
      }
    }
    if (parts.length < tokens)
      parts.push(...words(this.vocabulary, rngFor(this.seed, `prompt:${key}`), tokens - parts.length));
    return parts.join("");
  }

  private block(id: number): string[] {
    let block = this.blocks.get(id);
    if (!block) {
      block = words(this.vocabulary, rngFor(this.seed, `block:${id}`), this.blockTokens);
      if (this.blocks.size >= this.maxCachedBlocks) this.blocks.clear();
      this.blocks.set(id, block);
    }
    return block;
  }
}
