import type { UserSpeeds } from "./think-time";

export type PriorityName = "high" | "normal" | "low";

/** One planned turn of a session. Either `text` is given or the runner synthesizes `promptTokens` tokens. */
export interface PlannedTurn {
  turnIndex: number;
  /** The user prompt (dataset replay); absent for synthetic prompts. */
  text?: string;
  /** Tokens of this turn's new user text (not the whole context). */
  promptTokens: number;
  /** Mooncake hash ids: the synthesized prompt starts with these shared blocks. */
  hashIds?: number[];
  /** Cap on generated tokens (>= 1). */
  maxOutputTokens: number;
  /** The dataset's reply, sent so the mock engine can replay it. */
  expectedResponse?: string;
  /**
   * Wait before this turn in µs of user time: for turn 0 after the session starts, later after
   * the previous response ended. Absent: the ThinkTimeModel derives it from the actual response.
   */
  delayUs?: number;
  /**
   * What this turn's new text is (agents): "user" a typed prompt (default), "tool" a tool call's
   * result after `delayUs` of tool latency, "join" the sub-agents' final answers after they all end.
   */
  kind?: "user" | "tool" | "join";
  /**
   * Agents: sub-agents spawned when the previous turn ends. Each starts from this session's
   * context; this turn is sent `delayUs` after the last of them ends, its prompt being their answers.
   */
  subAgents?: SessionPlan[];
  /** The wait announced in the hint, µs of user time (default `delayUs`): the client's estimate. */
  adviseDelayUs?: number;
}

/** One session (conversation) the run will play. Pure data: the same plan drives live and simulated runs. */
export interface SessionPlan {
  sessionId: string;
  clientId: string;
  /** Client profile name, or "dataset"/"trace". */
  profile: string;
  /** Open loop: start time in µs of user time from the run start. Closed loop: absent (starts when a slot frees). */
  startUs?: number;
  priority: PriorityName;
  stream: boolean;
  /** Generate exactly max_output_tokens (synthetic workloads with no expected response). */
  ignoreEos: boolean;
  /** "chat" sends `messages` with the history; "completion" sends a raw `prompt` (single-turn). */
  mode: "chat" | "completion";
  system?: string;
  /** Closed loop: this user's reading/typing speeds. */
  speeds?: UserSpeeds;
  turns: PlannedTurn[];
  /** "chat" (default) or "agent", for per-kind reports. */
  kind?: "chat" | "agent";
  /** Sub-agents: the session that spawned this one (its context is this session's prefix). */
  parentSessionId?: string;
}

/** A pull-based stream of sessions. Open-loop sources yield them in `startUs` order. */
export interface SessionSource {
  /** The next session, or undefined when the workload is exhausted. */
  next(): SessionPlan | undefined;
}

/** An array as a SessionSource (tests, small plans). */
export function arraySource(plans: readonly SessionPlan[]): SessionSource {
  let i = 0;
  return { next: () => plans[i++] };
}
