import { encodeText, rngFor } from "@symphony/common";
import { PromptSynthesizer, SINGLE_TOKEN_WORDS } from "@symphony/workloadgen/src/domain";
import type { FastTokenCache } from "./fast-token-cache";

/**
 * workloadgen's PromptSynthesizer that also hands the token ids of each synthetic prompt to the
 * simulation's token cache, so the simulated node and engine never re-tokenize it. The text is
 * the very same (same seed, same random stream, same words; a unit test compares it with the
 * parent's); its ids are known word by word because every word is one token.
 */
export class TokenAwareSynthesizer extends PromptSynthesizer {
  private readonly spacedIds: number[];
  private readonly bareIds: number[];

  constructor(
    private readonly synthSeed: number,
    blockTokens: number,
    private readonly tokens: FastTokenCache,
  ) {
    super(synthSeed, blockTokens);
    this.spacedIds = SINGLE_TOKEN_WORDS.map((w) => encodeText(w)[0]!);
    // Chat content is trimmed by the template: the first word then has no leading space.
    this.bareIds = SINGLE_TOKEN_WORDS.map((w) => {
      const ids = encodeText(w.trimStart());
      return ids.length === 1 ? ids[0]! : -1;
    });
  }

  override text(key: string, tokens: number): string {
    const rng = rngFor(this.synthSeed, `prompt:${key}`);
    const n = Math.max(0, tokens);
    const last = SINGLE_TOKEN_WORDS.length - 1;
    const parts = new Array<string>(n);
    const ids = new Array<number>(n);
    let firstWord = 0;
    for (let i = 0; i < n; i++) {
      const w = rng.int(0, last);
      if (i === 0) firstWord = w;
      parts[i] = SINGLE_TOKEN_WORDS[w]!;
      ids[i] = this.spacedIds[w]!;
    }
    const text = parts.join("");
    this.tokens.remember(text, ids);
    if (n > 0) {
      const firstBare = this.bareIds[firstWord]!;
      if (firstBare >= 0) {
        const trimmedIds = ids.slice();
        trimmedIds[0] = firstBare;
        this.tokens.remember(text.trimStart(), trimmedIds);
      }
    }
    return text;
  }
}
