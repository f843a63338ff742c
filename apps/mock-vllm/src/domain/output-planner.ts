import {
  chatFormatFor,
  hashDecimal,
  hashHex,
  hashText,
  rngForStream,
  streamHash,
  TypedArraySlab,
  type Rng,
} from "@symphony/common";
import type { TokenCache } from "./tokens";

/** Common words that are single tokens with a leading space: generated text is a stream of them. */
const WORDS = (
  "the of and to in is that for it as was with be by on not he this are or his from at which but have " +
  "an they you were her she there been one all we their has would when if so no will more out up into " +
  "do any your what time can only other new some could these two may first then like our over such " +
  "model system data request token cache memory server time each after most also made many before must " +
  "through back years where much your way well down should because long used people work good world " +
  "point part small number place under still great between light water again state never high every"
).split(" ");

export interface OutputPlanInput {
  /** Seeds generated text: the same prompt gives the same output (like temperature 0). */
  readonly promptTokenIds: ArrayLike<number>;
  /** Text the "model" answers (the Symphony `expected_response` extension), if given. */
  readonly expectedResponse?: string;
  /** Upper bound on output tokens (max_tokens, resolved against max-model-len). */
  readonly maxTokens: number;
  /** No EOS before this many tokens (vLLM min_tokens). */
  readonly minTokens: number;
  /** Keep generating to maxTokens, past any EOS (vLLM ignore_eos). */
  readonly ignoreEos: boolean;
}

export interface OutputPlan {
  readonly tokenIds: Int32Array;
  readonly finishReason: "stop" | "length";
}

/**
 * Decides what a request outputs, deterministically. With an expected response the model says
 * exactly that (truncated at maxTokens -> "length"; padded with filler words up to minTokens,
 * or to maxTokens under ignore_eos). Otherwise it says seeded filler words and samples an EOS
 * after a geometric number of tokens with mean `eosMeanTokens` (0 = never: always maxTokens).
 */
export class OutputPlanner {
  private readonly wordIds: number[];
  /** The model's end-of-turn token (`<|eot_id|>`, `</s>`). */
  private readonly endOfTurnId: number;
  /** Where the plans' token arrays are cut from. */
  private readonly planArrays = new TypedArraySlab();
  /** The hash of the output streams' names up to the prompt key (see `promptStream`). */
  private readonly outputStream: number;

  constructor(
    seed: number,
    private readonly eosMeanTokens: number,
    private readonly tokens: TokenCache,
  ) {
    this.endOfTurnId = chatFormatFor(tokens.tokenizer).endOfTurnId;
    this.outputStream = streamHash(seed, "mock-vllm.output:");
    this.wordIds = [];
    for (const w of WORDS) {
      // SentencePiece puts the space in front of the text by itself.
      const ids = tokens.encode(tokens.tokenizer.prependsSpace ? w : ` ${w}`);
      if (ids.length === 1 && !this.wordIds.includes(ids[0]!)) this.wordIds.push(ids[0]!);
    }
  }

  plan(input: OutputPlanInput): OutputPlan {
    const { maxTokens, minTokens, ignoreEos } = input;
    let rng: Rng | undefined;
    const rngForPrompt = () => (rng ??= rngForStream(promptStream(this.outputStream, input.promptTokenIds)));
    let base: readonly number[] = [];
    let naturalLen: number;
    if (input.expectedResponse !== undefined) {
      base = this.tokens.encode(input.expectedResponse);
      naturalLen = base.length;
    } else if (this.eosMeanTokens > 0) {
      // Geometric: EOS has probability 1/mean after each token; inverse-CDF sample.
      const p = 1 / this.eosMeanTokens;
      const u = rngForPrompt().next();
      naturalLen = 1 + Math.floor(Math.log1p(-u) / Math.log1p(-p));
    } else {
      naturalLen = Number.POSITIVE_INFINITY;
    }
    let len: number;
    let finishReason: "stop" | "length";
    if (ignoreEos || naturalLen >= maxTokens) {
      len = maxTokens;
      finishReason = "length";
    } else {
      len = Math.max(naturalLen, minTokens);
      finishReason = len >= maxTokens ? "length" : "stop";
      len = Math.min(len, maxTokens);
    }
    // A typed array: the plan lives as long as its request, and a typed array's numbers sit
    // outside the garbage-collected heap (young-generation collections do not copy them); cut
    // from a slab, which costs less than a buffer of its own per plan.
    // An empty answer is still one sampled token: the end-of-turn token, which has no text.
    const out = this.planArrays.int32(len === 0 ? 1 : len);
    const fromBase = Math.min(len, base.length);
    for (let i = 0; i < fromBase; i++) out[i] = base[i]!;
    if (len > fromBase) {
      const r = rngForPrompt();
      const n = this.wordIds.length;
      // rng.index, not rng.int: int's exact range handling cost more than everything else here.
      for (let i = fromBase; i < len; i++) out[i] = this.wordIds[r.index(n)]!;
    }
    if (len === 0) out[0] = this.endOfTurnId;
    return { tokenIds: out, finishReason };
  }
}

/**
 * The hash of the prompt's output stream name, `mock-vllm.output:<key>` after the seed, where the
 * key is `<FNV-1a over the token ids, hex>:<count>`: hashed on from `outputStream` without
 * formatting the name (`rngFor(seed, name)` of the formatted name is the same stream).
 */
function promptStream(outputStream: number, ids: ArrayLike<number>): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < ids.length; i++) h = Math.imul(h ^ ids[i]!, 0x01000193);
  return hashDecimal(hashText(hashHex(outputStream, h >>> 0), ":"), ids.length);
}
