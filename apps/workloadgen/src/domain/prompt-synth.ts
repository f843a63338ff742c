import { countTokens, rngFor, type Rng } from "@symphony/common";

/**
 * Common English words that are each ONE cl100k token with a leading space. The tokenizer's
 * pre-split keeps " word" pieces apart, so N such words joined make exactly N tokens.
 * (Checked at load: any word that is not one token is dropped.)
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

export const SINGLE_TOKEN_WORDS: readonly string[] = [...new Set(CANDIDATE_WORDS)]
  .map((w) => ` ${w}`)
  .filter((w) => countTokens(w) === 1);

function words(rng: Rng, count: number): string[] {
  const out = new Array<string>(count);
  const last = SINGLE_TOKEN_WORDS.length - 1;
  for (let i = 0; i < count; i++) out[i] = SINGLE_TOKEN_WORDS[rng.int(0, last)]!;
  return out;
}

/**
 * Deterministic prompt text of an exact token count, for open-loop profiles and trace replay.
 * Same (seed, key, tokens) -> same text. With `hashIds` (Mooncake traces), the text starts with
 * one block of `blockTokens` words per hash id, so requests sharing hash ids share prefix text.
 */
export class PromptSynthesizer {
  private readonly blocks = new Map<number, string[]>();

  constructor(
    private readonly seed: number,
    /** Tokens per Mooncake hash block (512 in the published traces). */
    private readonly blockTokens = 512,
    /** Blocks kept in memory; older ones are regenerated on demand (same text). */
    private readonly maxCachedBlocks = 4096,
  ) {}

  /** `tokens` tokens of text unique to `key` (e.g. a request id). */
  text(key: string, tokens: number): string {
    return words(rngFor(this.seed, `prompt:${key}`), Math.max(0, tokens)).join("");
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
      parts.push(...words(rngFor(this.seed, `prompt:${key}`), tokens - parts.length));
    return parts.join("");
  }

  private block(id: number): string[] {
    let block = this.blocks.get(id);
    if (!block) {
      block = words(rngFor(this.seed, `block:${id}`), this.blockTokens);
      if (this.blocks.size >= this.maxCachedBlocks) this.blocks.clear();
      this.blocks.set(id, block);
    }
    return block;
  }
}
