import { rngFor, type Rng, type Tokenizer } from "@symphony/common";
import type { Conversation, DatasetTurn } from "./dataset";
import { standardNormal } from "./distributions";
import type { ClosedLoopOptions } from "./closed-loop";
import type { PlannedTurn, SessionPlan, SessionSource } from "./plan";
import { promptVocabulary, promptWords, promptWordsText, type PromptVocabulary } from "./prompt-synth";
import type { ThinkTimeModel } from "./think-time";

/**
 * Shape of synthetic ShareGPT-like chats. Lengths are tokens of the served model's tokenizer
 * (the texts are made of single-token words, so a drawn length is the exact token count).
 */
export interface ChatSynthShape {
  /** Turns per conversation = 1 + Geometric(p) (failures before the first success), capped. */
  readonly turnsGeometricP: number;
  readonly maxTurns: number;
  /** User prompt per turn: LogNormal with this median and log-σ, rounded, clamped to [min, max]. */
  readonly promptMedianTokens: number;
  readonly promptSigma: number;
  readonly promptMinTokens: number;
  readonly promptMaxTokens: number;
  /** Assistant reply per turn, the same way. */
  readonly replyMedianTokens: number;
  readonly replySigma: number;
  readonly replyMinTokens: number;
  readonly replyMaxTokens: number;
  /**
   * A conversation ends before the turn that would take its text (every prompt and reply so
   * far) past this many tokens, so no turn outgrows the model's context (`--max-model-len`,
   * less template overhead); a first turn that alone would is shortened to fit. 0 = no limit.
   */
  readonly maxContextTokens: number;
}

/**
 * ShareGPT-like defaults from published statistics of the ShareGPT dataset: 1 + Geometric(0.285)
 * turns (mean 3.5, 71.5 % multi-turn), capped at 40; prompts median 40 tokens, σ 1.3, in
 * [4, 4096]; replies median 275, σ 0.7, in [16, 2048].
 */
export const SHAREGPT_CHAT_SHAPE: ChatSynthShape = {
  turnsGeometricP: 0.285,
  maxTurns: 40,
  promptMedianTokens: 40,
  promptSigma: 1.3,
  promptMinTokens: 4,
  promptMaxTokens: 4096,
  replyMedianTokens: 275,
  replySigma: 0.7,
  replyMinTokens: 16,
  replyMaxTokens: 2048,
  maxContextTokens: 0,
};

/** Why a shape is unusable, or undefined when it is fine (one line, naming the field). */
export function chatShapeProblem(s: ChatSynthShape): string | undefined {
  if (!(s.turnsGeometricP > 0 && s.turnsGeometricP <= 1))
    return `turnsGeometricP must be in (0, 1], got ${s.turnsGeometricP}`;
  if (!(Number.isInteger(s.maxTurns) && s.maxTurns >= 1))
    return `maxTurns must be an integer >= 1, got ${s.maxTurns}`;
  for (const k of ["prompt", "reply"] as const) {
    const median = s[`${k}MedianTokens`];
    const min = s[`${k}MinTokens`];
    const max = s[`${k}MaxTokens`];
    if (!(median > 0)) return `${k}MedianTokens must be > 0, got ${median}`;
    if (!(s[`${k}Sigma`] >= 0)) return `${k}Sigma must be >= 0, got ${s[`${k}Sigma`]}`;
    if (!(Number.isInteger(min) && min >= 1 && Number.isInteger(max) && max >= min))
      return `${k}MinTokens/${k}MaxTokens must be integers with 1 <= min <= max, got ${min}/${max}`;
  }
  if (!(Number.isInteger(s.maxContextTokens) && s.maxContextTokens >= 0))
    return `maxContextTokens must be an integer >= 0, got ${s.maxContextTokens}`;
  if (s.maxContextTokens > 0 && s.maxContextTokens < s.promptMinTokens + s.replyMinTokens)
    return `maxContextTokens ${s.maxContextTokens} cannot hold one turn (promptMinTokens + replyMinTokens = ${s.promptMinTokens + s.replyMinTokens})`;
  return undefined;
}

/** 1 + Geometric(p) turns, capped at `max`: inversion, one uniform per draw. */
export function drawTurnCount(rng: Rng, p: number, max: number): number {
  if (p >= 1) return 1;
  const u = 1 - rng.next(); // (0, 1]
  const failures = Math.floor(Math.log(u) / Math.log(1 - p));
  return Math.min(max, 1 + failures);
}

/** round(median × e^(σZ)) clamped to [min, max]: one normal per draw. */
export function drawLogNormalTokens(
  rng: Rng,
  median: number,
  sigma: number,
  min: number,
  max: number,
): number {
  const x = Math.round(median * Math.exp(sigma * standardNormal(rng)));
  return Math.min(max, Math.max(min, x));
}

/** Token counts of one conversation: prompt and reply per turn. */
export interface ChatLengths {
  readonly prompts: number[];
  readonly replies: number[];
}

/**
 * The lengths of conversation `index`. Each conversation has its own streams
 * (`workloadgen.chat-synth.{turns,prompts,replies}:<index>`), so conversation k is the same
 * whichever others are drawn, and the prompt lengths do not move when a reply parameter does.
 */
export function chatLengths(shape: ChatSynthShape, seed: number, index: number): ChatLengths {
  const turns = drawTurnCount(
    rngFor(seed, `workloadgen.chat-synth.turns:${index}`),
    shape.turnsGeometricP,
    shape.maxTurns,
  );
  const promptRng = rngFor(seed, `workloadgen.chat-synth.prompts:${index}`);
  const replyRng = rngFor(seed, `workloadgen.chat-synth.replies:${index}`);
  const prompts: number[] = [];
  const replies: number[] = [];
  let context = 0;
  for (let t = 0; t < turns; t++) {
    let p = drawLogNormalTokens(
      promptRng,
      shape.promptMedianTokens,
      shape.promptSigma,
      shape.promptMinTokens,
      shape.promptMaxTokens,
    );
    let r = drawLogNormalTokens(
      replyRng,
      shape.replyMedianTokens,
      shape.replySigma,
      shape.replyMinTokens,
      shape.replyMaxTokens,
    );
    if (shape.maxContextTokens > 0 && context + p + r > shape.maxContextTokens) {
      if (t > 0) break;
      // A first turn longer than the context: keep as much reply as fits beside the shortest prompt.
      r = Math.min(r, shape.maxContextTokens - shape.promptMinTokens);
      p = Math.min(p, shape.maxContextTokens - r);
    }
    prompts.push(p);
    replies.push(r);
    context += p + r;
  }
  return { prompts, replies };
}

/** Conversation `index` with texts of exactly the drawn token counts (stream `workloadgen.chat-synth.text:<index>`). */
function synthesizeWith(
  vocabulary: PromptVocabulary,
  shape: ChatSynthShape,
  seed: number,
  index: number,
): { conversation: Conversation; lengths: ChatLengths } {
  const lengths = chatLengths(shape, seed, index);
  const textRng = rngFor(seed, `workloadgen.chat-synth.text:${index}`);
  const text = (n: number) => promptWordsText(vocabulary, promptWords(vocabulary, textRng, n));
  const turns: DatasetTurn[] = lengths.prompts.map((p, t) => ({
    user: text(p),
    assistant: text(lengths.replies[t]!),
  }));
  return { conversation: { id: `sharegpt-synth-${seed}-${index}`, turns }, lengths };
}

/**
 * `count` seeded ShareGPT-like conversations (index 0..count−1), e.g. to write a ShareGPT JSON
 * file. The same (shape, seed, tokenizer) gives the same texts.
 */
export function synthesizeChats(
  shape: ChatSynthShape,
  seed: number,
  count: number,
  tokenizer: Tokenizer,
): Conversation[] {
  const problem = chatShapeProblem(shape);
  if (problem) throw new RangeError(problem);
  const vocabulary = promptVocabulary(tokenizer);
  return Array.from({ length: count }, (_, i) => synthesizeWith(vocabulary, shape, seed, i).conversation);
}

/**
 * Closed-loop chat sessions, each a fresh synthetic conversation (session n plays conversation n:
 * no conversation repeats, so no session finds another's text in a prefix cache). Every turn is
 * sent with the history as the run received it (the LoadRunner's chat mode), and its
 * max_output_tokens is the drawn reply length (capped), which the dataset reply also has.
 * Waits come from `thinkTime`: planned per turn (`chat-gaps`) or from the texts (`typing`).
 */
export class SyntheticChatSource implements SessionSource {
  private index = 0;
  private readonly speedRng: Rng;
  private readonly gapRng: Rng;
  private readonly vocabulary: PromptVocabulary;

  constructor(
    private readonly shape: ChatSynthShape,
    private readonly thinkTime: ThinkTimeModel,
    private readonly options: ClosedLoopOptions,
  ) {
    const problem = chatShapeProblem(shape);
    if (problem) throw new RangeError(problem);
    this.vocabulary = promptVocabulary(options.tokenizer);
    this.speedRng = rngFor(options.seed, "workloadgen.user-speeds");
    this.gapRng = rngFor(options.seed, "workloadgen.chat-synth.gaps");
  }

  next(): SessionPlan {
    const n = this.index++;
    const { conversation, lengths } = synthesizeWith(this.vocabulary, this.shape, this.options.seed, n);
    const turns: PlannedTurn[] = conversation.turns.map((t, i) => {
      const delayUs = this.thinkTime.plannedDelayUs(this.gapRng);
      return {
        turnIndex: i,
        text: t.user,
        promptTokens: lengths.prompts[i]!,
        maxOutputTokens: Math.min(this.options.maxOutputTokens, lengths.replies[i]!),
        expectedResponse: t.assistant,
        ...(delayUs !== undefined ? { delayUs } : {}),
      };
    });
    return {
      sessionId: `s${String(n).padStart(6, "0")}`,
      clientId: `client-${n % this.options.numClients}`,
      profile: "sharegpt-synth",
      priority: this.options.priority,
      stream: this.options.stream,
      ignoreEos: false,
      mode: "chat",
      speeds: this.thinkTime.userSpeeds(this.speedRng),
      turns,
    };
  }
}
