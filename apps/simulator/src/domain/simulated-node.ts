import type { Timers } from "@symphony/common";
import {
  ChatTemplate,
  EngineCore,
  OutputPlanner,
  type EngineConfig,
  type RequestSummary,
  type StepTimeModel,
  type TokenCache,
} from "@symphony/mock-vllm/src/domain";
import {
  NodeCore,
  type Dispatch,
  type NodeCoreConfig,
  type TurnFailure,
} from "@symphony/node-scheduler/src/domain";
import type { FinishedInfo, StartedInfo } from "@symphony/workloadgen/src/domain";
import type { NetworkModel } from "./network-model";
import type { SimTurn } from "./sim-turn";

/** Per-message template overhead the node adds to its prompt count (node-scheduler's CHAT_TEMPLATE_TOKENS_PER_MESSAGE). */
const TEMPLATE_TOKENS_PER_MESSAGE = 4;

/** Tokenizer, chat template and output planner shared by every simulated engine (they are stateless caches). */
export interface EngineText {
  readonly tokens: TokenCache;
  readonly template: ChatTemplate;
  readonly planner: OutputPlanner;
  /** Longest prompt + output the engine accepts (vLLM --max-model-len). */
  readonly maxModelLen: number;
}

/** What a node reports upstream; the cluster carries it over the network to scheduler and client. */
export interface NodeSink {
  started(turn: SimTurn, info: StartedInfo): void;
  /** The turn finished on this node; `contextTokens` = prompt + completion (for the scheduler). */
  finished(turn: SimTurn, info: FinishedInfo, contextTokens: number): void;
  failed(turn: SimTurn, failure: { code: string; message: string }): void;
}

/**
 * One node of the simulated cluster: the node-scheduler's real `NodeCore` in front of the mock
 * engine's real `EngineCore`, wired as node-scheduler's transport wires them (a dispatched turn
 * becomes an engine request; the engine's completion calls `core.onFinished` with its usage),
 * with the node<->engine link delays in between and the engine's tokens streamed back as events.
 *
 * Streamed tokens take no events of their own: each token's arrival time at the client (its
 * emission plus the fixed engine->client path delay) is noted on the turn, and the client gets
 * them in one run, each with its time, before anything else of that turn reaches it (finish,
 * failure) or when it cancels (then only those that arrived before). The client's per-turn
 * state is the same as with one event per token, since nothing else reads it in between. So
 * the engine may fast-forward (`EngineConfig.fastForward`, on unless the spec sets it false).
 *
 * With `fastForward: false` the node steps the old way, for comparison: the engine runs every
 * request every step, and the tokens of a step reach their clients in one timer event.
 */
export class SimulatedNode {
  readonly core: NodeCore;
  readonly engine: EngineCore;
  private readonly turns = new Map<string, SimTurn>();
  private readonly fastForward: boolean;
  /** Per-step delivery (fastForward false): the step's tokens waiting for their event (turn, index pairs). */
  private pendingTurns: SimTurn[] = [];
  private pendingIndexes: number[] = [];
  /** The other half of the double buffer (reused, so no arrays are allocated per step). */
  private spareTurns: SimTurn[] = [];
  private spareIndexes: number[] = [];
  private flushScheduled = false;

  constructor(
    readonly nodeId: string,
    private readonly timers: Timers,
    coreConfig: NodeCoreConfig,
    engineConfig: EngineConfig,
    stepModel: StepTimeModel,
    private readonly text: EngineText,
    private readonly net: NetworkModel,
    private readonly sink: NodeSink,
  ) {
    this.fastForward = engineConfig.fastForward ?? true;
    this.engine = new EngineCore({ ...engineConfig, fastForward: this.fastForward }, stepModel, timers);
    this.core = new NodeCore(coreConfig, timers, {
      dispatch: (d) => this.onDispatch(d),
      fail: (id, failure) => this.onCoreFailure(id, failure),
    });
  }

  /** Turns on this node (queued, restoring or on the engine). */
  get activeTurns(): number {
    return this.turns.size;
  }

  /** A turn arrives from the scheduler. */
  receive(turn: SimTurn): void {
    if (turn.cancelled) return;
    const req = turn.request;
    turn.phase = "on-node";
    turn.nodeId = this.nodeId;
    turn.nodePromptTokens = this.countPromptTokens(turn);
    this.turns.set(req.requestId, turn);
    const result = this.core.submit({
      requestId: req.requestId,
      sessionId: req.sessionId,
      turnIndex: req.turnIndex,
      priority: req.priority,
      promptTokens: turn.nodePromptTokens,
      maxOutputTokens: req.maxOutputTokens,
      isLast: req.isLast,
    });
    if (!result.accepted) this.endWithError(turn, result.failure);
  }

  /** The client went away (scheduler relayed the cancel). */
  cancel(turn: SimTurn): void {
    if (!this.turns.delete(turn.request.requestId)) return;
    this.core.cancel(turn.request.requestId);
    this.engine.abort(turn.request.requestId);
  }

  /** The node's prompt count: tokens of each message plus the template overhead (as the live node counts). */
  private countPromptTokens(turn: SimTurn): number {
    const req = turn.request;
    const tokens = this.text.tokens;
    // Encoded as the engine will encode it (completion prompts untrimmed, chat content trimmed), so
    // the engine's encode is a cache hit.
    if (req.messages === undefined) return tokens.encode(req.prompt ?? "").length;
    let n = 0;
    for (const m of req.messages) n += tokens.encode(m.content.trim()).length + TEMPLATE_TOKENS_PER_MESSAGE;
    return n;
  }

  private onDispatch(d: Dispatch): void {
    const turn = this.turns.get(d.requestId);
    if (!turn || turn.cancelled) {
      this.core.onFailed(d.requestId);
      return;
    }
    this.sink.started(turn, { nodeId: this.nodeId, queueTimeUs: d.queueTimeUs, kvTier: d.kvTier });
    turn.residentKvTokens = d.residentKvTokens;
    const delay = this.net.delayUs("nodeEngine", turn.requestBytes);
    this.timers.at(this.timers.nowUs() + delay, () => this.startOnEngine(turn));
  }

  /** The request reaches the engine: template, length checks and output plan as mock-vllm's HTTP layer does. */
  private startOnEngine(turn: SimTurn): void {
    if (turn.cancelled || turn.phase === "done") return;
    const req = turn.request;
    const { template, planner, maxModelLen } = this.text;
    const promptTokenIds =
      req.messages !== undefined ? template.apply(req.messages) : template.completionPrompt(req.prompt ?? "");
    if (promptTokenIds.length + req.maxOutputTokens > maxModelLen) {
      this.core.onFailed(req.requestId);
      this.endWithError(turn, {
        code: "INVALID_ARGUMENT",
        message:
          `engine rejected the request: max_tokens ${req.maxOutputTokens} + ${promptTokenIds.length} prompt ` +
          `tokens exceed the model's context length ${maxModelLen}`,
        retryable: false,
      });
      return;
    }
    const plan = planner.plan({
      promptTokenIds,
      expectedResponse: req.expectedResponse,
      maxTokens: req.maxOutputTokens,
      minTokens: 0,
      ignoreEos: req.ignoreEos,
    });
    turn.plan = plan;
    turn.pieces = this.text.tokens.streamPieces(plan.tokenIds);
    turn.phase = "on-engine";
    turn.onEngineToken = this.onToken;
    turn.onEngineTokens = this.onTokens;
    turn.onEngineFinish = this.onEngineFinish;
    try {
      this.engine.submit(
        {
          id: req.requestId,
          promptTokenIds,
          outputTokenIds: plan.tokenIds,
          finishReason: plan.finishReason,
          // Like mock-vllm's --kv-connector (directive mode, as the live stack runs it): the node's resident KV is loaded.
          externalKvTokens: turn.residentKvTokens,
        },
        turn,
      );
    } catch (err) {
      this.core.onFailed(req.requestId);
      this.endWithError(turn, {
        code: "INVALID_ARGUMENT",
        message: `engine rejected the request: ${(err as Error).message}`,
        retryable: false,
      });
    }
  }

  private readonly onToken = (turn: SimTurn, index: number): void => {
    if (!turn.request.stream) return; // non-streaming: one Token event with the whole text at the end
    if (this.fastForward) {
      turn.tokenArrivalsUs.push(this.timers.nowUs() + this.net.eventEngineToClientUs);
      return;
    }
    this.pendingTurns.push(turn);
    this.pendingIndexes.push(index);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      this.timers.at(this.timers.nowUs() + this.net.eventEngineToClientUs, this.flushTokens);
    }
  };

  /** Per-step delivery: every token of one engine step reaches its client (same path delay). */
  private readonly flushTokens = (): void => {
    const turns = this.pendingTurns;
    const indexes = this.pendingIndexes;
    this.pendingTurns = this.spareTurns;
    this.pendingIndexes = this.spareIndexes;
    this.flushScheduled = false;
    for (let i = 0; i < turns.length; i++) {
      const t = turns[i]!;
      if (t.cancelled || t.phase === "done") continue;
      t.handlers.token(t.pieces![indexes[i]!]!, 1);
    }
    turns.length = 0;
    indexes.length = 0;
    this.spareTurns = turns;
    this.spareIndexes = indexes;
  };

  private readonly onTokens = (
    turn: SimTurn,
    _first: number,
    count: number,
    timesUs: readonly number[],
    from: number,
  ): void => {
    if (!turn.request.stream) return;
    const delay = this.net.eventEngineToClientUs;
    const arrivals = turn.tokenArrivalsUs;
    for (let i = from; i < from + count; i++) arrivals.push(timesUs[i]! + delay);
  };

  private readonly onEngineFinish = (turn: SimTurn, s: RequestSummary): void => {
    if (s.finishReason === "abort") return; // cancelled or failed by the node: already handled
    this.timers.at(this.timers.nowUs() + this.net.eventEngineToNodeUs, () => {
      if (!this.turns.delete(turn.request.requestId) || turn.cancelled) return;
      this.core.onFinished(turn.request.requestId, {
        promptTokens: s.promptTokens,
        completionTokens: s.completionTokens,
      });
      turn.phase = "returning";
      this.sink.finished(
        turn,
        {
          nodeId: this.nodeId,
          promptTokens: s.promptTokens,
          completionTokens: s.completionTokens,
          cachedTokens: s.cachedTokens,
          finishReason: turn.plan!.finishReason,
        },
        s.promptTokens + s.completionTokens,
      );
    });
  };

  private onCoreFailure(requestId: string, failure: TurnFailure): void {
    const turn = this.turns.get(requestId);
    if (!turn) return;
    this.engine.abort(requestId);
    this.endWithError(turn, failure);
  }

  private endWithError(turn: SimTurn, failure: { code: string; message: string; retryable: boolean }): void {
    this.turns.delete(turn.request.requestId);
    turn.phase = "returning";
    this.sink.failed(turn, { code: failure.code, message: failure.message });
  }
}
