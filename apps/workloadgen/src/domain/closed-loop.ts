import { countTokens, rngFor } from "@symphony/common";
import type { Conversation } from "./dataset";
import type { PriorityName, SessionPlan, SessionSource } from "./plan";
import type { ThinkTimeModel } from "./think-time";

export interface ClosedLoopOptions {
  seed: number;
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

  constructor(
    private readonly conversations: readonly Conversation[],
    private readonly thinkTime: ThinkTimeModel,
    private readonly options: ClosedLoopOptions,
  ) {
    if (conversations.length === 0) throw new Error("dataset has no usable conversations");
    this.speedRng = rngFor(options.seed, "workloadgen.user-speeds");
  }

  next(): SessionPlan {
    const n = this.index++;
    const conv = this.conversations[n % this.conversations.length]!;
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
      turns: conv.turns.map((t, i) => ({
        turnIndex: i,
        text: t.user,
        promptTokens: countTokens(t.user),
        maxOutputTokens: Math.min(this.options.maxOutputTokens, Math.max(1, countTokens(t.assistant))),
        expectedResponse: t.assistant,
      })),
    };
  }
}
