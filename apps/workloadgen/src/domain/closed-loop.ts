import { rngFor, type Tokenizer } from "@symphony/common";
import type { Conversation } from "./dataset";
import type { PlannedTurn, PriorityName, SessionPlan, SessionSource } from "./plan";
import type { ThinkTimeModel } from "./think-time";

export interface ClosedLoopOptions {
  seed: number;
  /** The served model's tokenizer: turns' prompt and reply lengths are its counts. */
  tokenizer: Tokenizer;
  /** Cap on max_output_tokens per turn. */
  maxOutputTokens: number;
  priority: PriorityName;
  stream: boolean;
  /** Number of concurrent users; client ids are `client-<k>` round-robin. */
  numClients: number;
}

/**
 * Closed-loop chat sessions from a dataset: each session replays one conversation (cycling
 * through the dataset in order), with the user's reading/typing speeds drawn from `thinkTime`.
 * max_output_tokens = the dataset reply's token count, at least 1, at most `maxOutputTokens`.
 */
export class DatasetSessionSource implements SessionSource {
  private index = 0;
  private readonly speedRng;
  /** Waits drawn per turn when the think-time model plans them (`chat-gaps`); unused with `typing`. */
  private readonly gapRng;
  /**
   * Turns per conversation, built on first use: sessions cycle through the dataset, and
   * tokenizing the same texts again for every session made starting 10,000 clients a
   * 0.7-second stall of the event loop.
   */
  private readonly turnsCache = new Map<number, readonly PlannedTurn[]>();

  constructor(
    private readonly conversations: readonly Conversation[],
    private readonly thinkTime: ThinkTimeModel,
    private readonly options: ClosedLoopOptions,
  ) {
    if (conversations.length === 0) throw new Error("dataset has no usable conversations");
    this.speedRng = rngFor(options.seed, "workloadgen.user-speeds");
    this.gapRng = rngFor(options.seed, "workloadgen.think-gaps");
  }

  next(): SessionPlan {
    const n = this.index++;
    const convIndex = n % this.conversations.length;
    const conv = this.conversations[convIndex]!;
    let turns = this.turnsCache.get(convIndex);
    if (!turns) {
      turns = conv.turns.map((t, i) => ({
        turnIndex: i,
        text: t.user,
        promptTokens: this.options.tokenizer.countTokens(t.user),
        maxOutputTokens: Math.min(
          this.options.maxOutputTokens,
          Math.max(1, this.options.tokenizer.countTokens(t.assistant)),
        ),
        expectedResponse: t.assistant,
      }));
      this.turnsCache.set(convIndex, turns);
    }
    return {
      sessionId: `s${String(n).padStart(6, "0")}`,
      clientId: `client-${n % this.options.numClients}`,
      profile: "dataset",
      priority: this.options.priority,
      stream: this.options.stream,
      ignoreEos: false,
      mode: "chat",
      ...(conv.system !== undefined ? { system: conv.system } : {}),
      speeds: this.thinkTime.userSpeeds(this.speedRng),
      // Copies: a plan is the session's own data.
      turns: turns.map((t) => {
        const delayUs = this.thinkTime.plannedDelayUs(this.gapRng);
        return delayUs === undefined ? { ...t } : { ...t, delayUs };
      }),
    };
  }
}
