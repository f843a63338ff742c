import { rngFor, SlotMap, TypedArraySlab, type Rng, type Timers } from "@symphony/common";
import {
  ChatTemplate,
  EngineCore,
  OutputPlanner,
  type ChatMessage,
  type EngineConfig,
  type RequestSummary,
  type StepTimeModel,
  type TokenCache,
} from "@symphony/mock-vllm/domain";
import {
  approxChatPromptTokens,
  NodeCore,
  WarmupPlanner,
  type Dispatch,
  type NodeCoreConfig,
  type TurnFailure,
  type WarmupStats,
  type WarmupTiming,
} from "@symphony/node-scheduler/domain";
import type { FinishedInfo, SessionHint, StartedInfo } from "@symphony/workloadgen/domain";
import type { NetworkModel } from "./network-model";
import type { SimTurn } from "./sim-turn";

/** Tokenizer, chat template and output planner shared by every simulated engine (they are stateless caches). */
export interface EngineText {
  readonly tokens: TokenCache;
  readonly template: ChatTemplate;
  readonly planner: OutputPlanner;
  /** Longest prompt + output the engine accepts (vLLM --max-model-len). */
  readonly maxModelLen: number;
  /** Told each prompt text once the engine has its ids (nothing reads them later). */
  readonly promptEncoded?: (text: string) => void;
}

/**
 * How the node drives its engine (node-scheduler's `--prefetch-mode`):
 * - `directive`: the engine takes the node's residency (the proposed vLLM APIs): the node models
 *   copies between its tiers, and a turn's resident KV is loaded, not recomputed.
 * - `warmup`: a stock vLLM: the engine keeps what its own prefix cache (and, when configured, its
 *   native CPU offload) keeps; on a hint the node sends a warm-up request (the session's context,
 *   1 output token) so the context is back on the GPU before the turn.
 * - `off`: a stock vLLM, no warm-ups.
 */
export type PrefetchMode = "directive" | "warmup" | "off";

/** The node's engine mode and warm-up settings (node-scheduler's `--prefetch-mode`, `--warmup-*`). */
export interface EngineDrive {
  readonly prefetchMode: PrefetchMode;
  readonly warmupTiming: WarmupTiming;
  /** just-in-time: send this long before the hinted arrival, µs. */
  readonly warmupLeadUs: number;
  /** No warm-up for a session due back sooner than this, µs. */
  readonly warmupMinGapUs: number;
  readonly maxWarmupsInFlight: number;
  /**
   * Hint accuracy: each hint's ETA is multiplied by 1 + e·U(−1, 1) with this e (0 = exact),
   * drawn from the node's own stream `simulator.hint-eta:<node>`.
   */
  readonly hintEtaError: number;
  readonly seed: number;
}

/** Today's behaviour: the directive engine, exact hints. */
export const DIRECTIVE_DRIVE: EngineDrive = {
  prefetchMode: "directive",
  warmupTiming: "at-hint",
  warmupLeadUs: 500_000,
  warmupMinGapUs: 1_000_000,
  maxWarmupsInFlight: 16,
  hintEtaError: 0,
  seed: 0,
};

/** What a node reports upstream; the cluster carries it over the network to scheduler and client. */
export interface NodeSink {
  started(turn: SimTurn, info: StartedInfo): void;
  /** The turn finished on this node; `contextTokens` = prompt + completion (for the scheduler). */
  finished(turn: SimTurn, info: FinishedInfo, contextTokens: number): void;
  /** The turn failed on this node; a retryable failure before Started may be placed elsewhere. */
  failed(turn: SimTurn, failure: { code: string; message: string; retryable: boolean }): void;
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
  private readonly turns = new SlotMap<string, SimTurn>();
  private readonly fastForward: boolean;
  /** Per-step delivery (fastForward false): the step's tokens waiting for their event (turn, index pairs). */
  private pendingTurns: SimTurn[] = [];
  private pendingIndexes: number[] = [];
  /** The other half of the double buffer (reused, so no arrays are allocated per step). */
  private spareTurns: SimTurn[] = [];
  private spareIndexes: number[] = [];
  private flushScheduled = false;
  /** Where the turns' token arrival arrays are cut from (fast-forward, streaming). */
  private readonly arrivalArrays = new TypedArraySlab();
  /** Stock engine with warm-ups: plans them from hints and scores each by its turn. */
  readonly warmups: WarmupPlanner | undefined;
  /** Warm-up mode: each session's context as the engine last saw it (messages + the reply). */
  private readonly contexts = new Map<string, ChatMessage[]>();
  private warmupsInFlight = 0;
  private warmupSeq = 0;
  private readonly etaRng: Rng;

  constructor(
    readonly nodeId: string,
    private readonly timers: Timers,
    coreConfig: NodeCoreConfig,
    engineConfig: EngineConfig,
    stepModel: StepTimeModel,
    private readonly text: EngineText,
    private readonly net: NetworkModel,
    private readonly sink: NodeSink,
    private readonly drive: EngineDrive = DIRECTIVE_DRIVE,
  ) {
    this.fastForward = engineConfig.fastForward ?? true;
    this.engine = new EngineCore({ ...engineConfig, fastForward: this.fastForward }, stepModel, timers);
    const directive = drive.prefetchMode === "directive";
    this.core = new NodeCore(directive ? coreConfig : { ...coreConfig, modelTransfers: false }, timers, {
      dispatch: (d) => this.onDispatch(d),
      fail: (id, failure) => this.onCoreFailure(id, failure),
    });
    this.etaRng = rngFor(drive.seed, `simulator.hint-eta:${nodeId}`);
    this.warmups =
      drive.prefetchMode === "warmup"
        ? new WarmupPlanner(
            {
              timing: drive.warmupTiming,
              leadUs: drive.warmupLeadUs,
              minGapUs: drive.warmupMinGapUs,
              blockSize: () => engineConfig.blockSize,
            },
            timers,
            { send: (sessionId) => this.sendWarmup(sessionId) },
          )
        : undefined;
  }

  /**
   * A hint reaches the node: the core's residency (directive) and, in warm-up mode, the warm-up
   * planner. The ETA carries the configured error. Returns whether either took it.
   */
  advise(hint: SessionHint): boolean {
    const e = this.drive.hintEtaError;
    const etaMs =
      e > 0
        ? hint.expectedArrivalMs * Math.max(0, 1 + e * (2 * this.etaRng.next() - 1))
        : hint.expectedArrivalMs;
    const seen = etaMs === hint.expectedArrivalMs ? hint : { ...hint, expectedArrivalMs: etaMs };
    let accepted = this.core.advise(seen);
    if (this.warmups) {
      const planned = this.warmups.onHint(
        hint.sessionId,
        this.timers.nowUs() + Math.round(etaMs * 1000),
        this.contexts.has(hint.sessionId),
      );
      accepted = accepted || planned;
    }
    return accepted;
  }

  /** The scheduler released the session here (it ended or moved). */
  closeSession(sessionId: string): void {
    this.core.closeSession(sessionId);
    this.forgetSession(sessionId);
  }

  private forgetSession(sessionId: string): void {
    this.warmups?.onSessionClosed(sessionId);
    this.contexts.delete(sessionId);
  }

  /** Warm-up counters (undefined unless in warm-up mode). */
  get warmupStats(): WarmupStats | undefined {
    return this.warmups?.stats;
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
    this.warmups?.onTurnArrived(req.sessionId);
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
    if (req.messages === undefined) return tokens.count(req.prompt ?? "");
    return approxChatPromptTokens(req.messages, (content) => tokens.count(content.trim()));
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
      req.messages !== undefined
        ? template.apply(req.messages)
        : template.completionPromptIds(req.prompt ?? "");
    const encoded = this.text.promptEncoded;
    if (encoded !== undefined) {
      if (req.messages === undefined) encoded(req.prompt ?? "");
      else for (const m of req.messages) encoded(m.content);
    }
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
    turn.tokenText = this.text.tokens;
    if (req.stream && this.fastForward)
      turn.tokenArrivalsUs = this.arrivalArrays.float64(plan.tokenIds.length);
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
          // Like mock-vllm's --kv-connector (directive mode): the node's resident KV is loaded.
          // A stock engine has only its own caches.
          externalKvTokens: this.drive.prefetchMode === "directive" ? turn.residentKvTokens : 0,
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
      turn.noteArrival(this.timers.nowUs() + this.net.eventEngineToClientUs);
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
      t.handlers.token(t.pieces!.at(indexes[i]!)!, 1);
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
    let k = turn.arrivals;
    for (let i = from; i < from + count; i++) arrivals[k++] = timesUs[i]! + delay;
    turn.arrivals = k;
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
      const info: FinishedInfo = {
        nodeId: this.nodeId,
        promptTokens: s.promptTokens,
        completionTokens: s.completionTokens,
        cachedTokens: s.cachedTokens,
        finishReason: turn.plan!.finishReason,
      };
      if (this.drive.prefetchMode !== "directive") {
        info.kvTier = this.foundTier(turn, s);
        this.afterStockTurn(turn, s);
      }
      this.sink.finished(turn, info, s.promptTokens + s.completionTokens);
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
    this.warmups?.onTurnFailed(turn.request.sessionId);
    turn.phase = "returning";
    this.sink.failed(turn, failure);
  }

  // ---- stock engine ------------------------------------------------------------------------

  /**
   * Where a stock engine found the session's earlier context (the prompt up to its new user
   * message): "gpu" when its prefix cache held every full block of it (all but the reply's last
   * two tokens, which the previous turn never computed), "cpu" when the CPU offload tier supplied
   * the rest, "evicted" otherwise; "new" for a first turn.
   */
  private foundTier(turn: SimTurn, s: RequestSummary): string {
    const messages = turn.request.messages;
    if (turn.request.turnIndex === 0 || messages === undefined || messages.length < 2) return "new";
    const context = this.text.template.apply(messages.slice(0, -1), { addGenerationPrompt: false }).length;
    const bs = this.engine.config.blockSize;
    const needed = Math.floor(Math.max(0, context - 2) / bs) * bs;
    if (s.prefixHitTokens >= needed) return "gpu";
    if (s.cachedTokens >= needed) return "cpu";
    return "evicted";
  }

  /** Scores the session's warm-up by what its turn found on the GPU, and keeps its context. */
  private afterStockTurn(turn: SimTurn, s: RequestSummary): void {
    const req = turn.request;
    this.warmups?.onTurnFinished(req.sessionId, s.prefixHitTokens);
    if (!this.warmups || req.messages === undefined) return;
    if (req.isLast) {
      this.forgetSession(req.sessionId);
      return;
    }
    this.contexts.set(req.sessionId, [...req.messages, { role: "assistant", content: turn.pieces!.text() }]);
  }

  /**
   * A warm-up: the session's context (no generation prompt, so its blocks are exactly the next
   * turn's leading blocks) with one output token, straight to the engine (warm-ups bypass the
   * node's queue, capped at `maxWarmupsInFlight`, as the live node sends them).
   */
  private sendWarmup(sessionId: string): boolean {
    const context = this.contexts.get(sessionId);
    if (!context || this.warmupsInFlight >= this.drive.maxWarmupsInFlight) return false;
    this.warmupsInFlight++;
    const id = `symphony-warmup-${this.nodeId}-${++this.warmupSeq}`;
    let bytes = 96;
    for (const m of context) bytes += m.content.length + 8;
    const done = (fn: () => void) =>
      this.timers.at(this.timers.nowUs() + this.net.eventEngineToNodeUs, () => {
        this.warmupsInFlight--;
        fn();
      });
    this.timers.at(this.timers.nowUs() + this.net.delayUs("nodeEngine", bytes), () => {
      const promptTokenIds = this.text.template.apply(context, { addGenerationPrompt: false });
      const planner = this.warmups!;
      try {
        if (promptTokenIds.length + 1 > this.text.maxModelLen)
          throw new RangeError("longer than max-model-len");
        this.engine.submit(
          {
            id,
            promptTokenIds,
            outputTokenIds: [promptTokenIds[promptTokenIds.length - 1]!],
            finishReason: "length",
            maxTokens: 1,
          },
          {
            onToken: () => {},
            onFinish: (r) =>
              done(() =>
                r.finishReason === "abort"
                  ? planner.onWarmupFailed(sessionId)
                  : planner.onWarmupDone(sessionId, r.promptTokens),
              ),
          },
        );
      } catch {
        done(() => planner.onWarmupFailed(sessionId));
      }
    });
    return true;
  }
}
