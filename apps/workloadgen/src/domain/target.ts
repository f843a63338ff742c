import type { Message } from "./chat-session";
import type { PriorityName } from "./plan";

/** One turn as the run loop hands it to a Target (transport maps it to the wire). */
export interface TurnRequest {
  requestId: string;
  clientId: string;
  sessionId: string;
  /**
   * Sub-agents: the session whose context this one starts from. Sent as
   * `InferenceRequest.parent_session_id`, so the scheduler places a new child on the parent's node.
   */
  parentSessionId?: string;
  turnIndex: number;
  /** Chat mode: the whole conversation including this turn's prompt. */
  messages?: Message[];
  /** Completion mode: the raw prompt. */
  prompt?: string;
  /** Client's estimate of the whole prompt in tokens. */
  promptTokens: number;
  maxOutputTokens: number;
  stream: boolean;
  priority: PriorityName;
  isLast: boolean;
  expectedResponse?: string;
  ignoreEos: boolean;
}

export interface StartedInfo {
  nodeId: string;
  queueTimeUs: number;
  kvTier: string;
}

export interface FinishedInfo {
  nodeId: string;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  finishReason: string;
  /**
   * Where the token counts come from: the server's usage (default), or the client's own count
   * with the stack's tokenizer when the server sent none (flagged in every record).
   */
  usageSource?: "server" | "client";
  /**
   * Where the session's earlier context was found, when the server learns it only as the turn
   * ends (a simulated stock engine: its prefix cache, not the node's accounting). Replaces the
   * Started event's `kvTier` in the record; absent = that one stands.
   */
  kvTier?: string;
}

export interface TurnFailure {
  /** gRPC status code name, or a local reason. */
  code: string;
  message: string;
}

/** The streamed text of each output token by index (an array of strings is one). */
export interface TokenTexts {
  at(index: number): string | undefined;
}

/** Callbacks for one turn. Exactly one of `finished`/`failed` is called, last. */
export interface TurnHandlers {
  started(info: StartedInfo): void;
  /**
   * A chunk of output. `reasoning` = the server marked it as reasoning (vLLM `reasoning_content` /
   * `reasoning`); absent, the runner still detects a leading `<think>...</think>` block.
   */
  token(text: string, tokenCount: number, reasoning?: boolean): void;
  /**
   * Optional, for targets that learn of tokens after they arrived (the simulator): `count`
   * one-token chunks `texts.at(from + i)`, each as if `token(texts.at(from + i), 1)` had been
   * called at time `arrivalsUs[i]` (the runner's clock). Targets call `token` when it is absent.
   * `texts` may decode as it is read: the runner stops reading once the texts change nothing.
   */
  tokensAt?(texts: TokenTexts, from: number, arrivalsUs: ArrayLike<number>, count: number): void;
  /**
   * Optional, for targets that hold a non-streamed answer as token texts (the simulator): as
   * `token(text, tokenCount)` with `text` = `texts.at(0) + texts.at(1) + ...` up to the first
   * undefined. The runner reads the texts only as far as they change anything. Targets call
   * `token` when it is absent.
   */
  wholeText?(texts: TokenTexts, tokenCount: number): void;
  finished(info: FinishedInfo): void;
  failed(error: TurnFailure): void;
}

/** "Session S's next turn comes in about N ms." */
export interface SessionHint {
  sessionId: string;
  clientId: string;
  expectedArrivalMs: number;
  expectedPromptTokens: number;
  nextTurnIndex: number;
}

/**
 * Where turns go: the Symphony scheduler over gRPC today; an OpenAI-HTTP target can implement
 * the same interface. Calls return at once; results arrive through callbacks.
 */
export interface Target {
  submit(turn: TurnRequest, handlers: TurnHandlers): { cancel(): void };
  /** Advisory; failures are the target's to count and log, never the run's. */
  advise(hint: SessionHint): void;
  closeSession(sessionId: string, clientId: string): void;
}
