import { loadTokenizer, rngFor, type Rng } from "@symphony/common";
import { promptVocabulary } from "@symphony/workloadgen/domain";

/** Shape of the synthetic multi-turn chat dataset (ShareGPT-like lengths). Token counts are cl100k tokens. */
export interface ChatDatasetShape {
  /** Conversations in the file (sessions reuse them round-robin in workloadgen's closed loop). */
  readonly conversations: number;
  /** User/assistant pairs per conversation, drawn uniformly in [min, max]. */
  readonly minTurns: number;
  readonly maxTurns: number;
  /** Mean user prompt length, tokens (log-normal-ish: mean × exp(N(0, 0.5)) clamped to [8, 4 × mean]). */
  readonly meanPromptTokens: number;
  /** Mean assistant reply length, tokens (same spread). */
  readonly meanReplyTokens: number;
}

/** ShareGPT averages: about 4-5 turns, ~100-token prompts, ~250-token replies (vLLM bench's ShareGPT figures). */
export const DEFAULT_DATASET_SHAPE: ChatDatasetShape = {
  conversations: 200,
  minTurns: 3,
  maxTurns: 8,
  meanPromptTokens: 120,
  meanReplyTokens: 240,
};

/** One conversation in ShareGPT's JSON shape, as workloadgen's `--dataset` reads it. */
export interface ShareGptConversation {
  id: string;
  conversations: { from: "human" | "gpt"; value: string }[];
}

/** A length drawn around `mean`: mean × exp(σZ − σ²/2) with σ = 0.5 (so the mean is kept), clamped. */
function drawLength(rng: Rng, mean: number): number {
  // Box-Muller from two uniforms.
  const u1 = Math.max(rng.next(), 1e-12);
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rng.next());
  const sigma = 0.5;
  const x = Math.round(mean * Math.exp(sigma * z - (sigma * sigma) / 2));
  return Math.min(Math.max(x, 8), Math.round(4 * mean));
}

/** `n` single-token words (each " word" is one cl100k token), so the text is `n` tokens. */
function words(rng: Rng, n: number): string {
  const vocabulary = promptVocabulary(loadTokenizer("cl100k")).words;
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = vocabulary[rng.int(0, vocabulary.length - 1)]!;
  return out.join("").trimStart();
}

/**
 * A seeded synthetic ShareGPT-style dataset of multi-turn chats. The same (shape, seed) gives the
 * same conversations, so the simulated and the live runs replay identical sessions.
 */
export function synthesizeChatDataset(shape: ChatDatasetShape, seed: number): ShareGptConversation[] {
  if (!(shape.minTurns >= 1 && shape.maxTurns >= shape.minTurns))
    throw new RangeError(`turns: need 1 <= minTurns <= maxTurns, got ${shape.minTurns}..${shape.maxTurns}`);
  const rng = rngFor(seed, "experiments.dataset");
  const out: ShareGptConversation[] = [];
  for (let c = 0; c < shape.conversations; c++) {
    const turns = rng.int(shape.minTurns, shape.maxTurns);
    const conversations: ShareGptConversation["conversations"] = [];
    for (let t = 0; t < turns; t++) {
      // A unique opening word per conversation keeps two sessions from sharing a cached prefix by accident.
      const prompt =
        (t === 0 ? `conversation ${c}: ` : "") + words(rng, drawLength(rng, shape.meanPromptTokens));
      conversations.push({ from: "human", value: prompt });
      conversations.push({ from: "gpt", value: words(rng, drawLength(rng, shape.meanReplyTokens)) });
    }
    out.push({ id: `synthetic-${seed}-${c}`, conversations });
  }
  return out;
}
