import * as grpc from "@grpc/grpc-js";
import { once } from "node:events";
import { type Timers, type Tokenizer } from "@symphony/common";
import {
  DEFAULT_REQUEST_LIMITS,
  requestSizeProblem,
  validateInferenceRequest,
  type InferenceEvent,
  type InferenceRequest,
  type Logger,
  type NodeSchedulerServiceServer,
  type NodeStatus,
  type RequestLimits,
} from "@symphony/runtime";
import type { PrefetchMode } from "../config";
import {
  NodeCore,
  WarmupPlanner,
  type Dispatch,
  type NodeCoreConfig,
  type TurnFailure,
  type WarmupTiming,
} from "../domain";
import type { EngineAdapter, EngineLoad, GrpcCodeName } from "../engine/engine-adapter";
import type { EngineKvEvents } from "../engine/kv-events-feed";
import type { ResidencyLookup } from "@symphony/kv-events";
import { toEngineError } from "../engine/error-mapping";
import { generateWithRetry, type RetryPolicy } from "../engine/retry";
import type { Registry } from "prom-client";
import { createNodeMetrics, type NodeMetrics } from "./metrics";
import { PromptTokenCounter } from "./prompt-token-counter";
import { priorityClassOf, toEngineRequest } from "./request-mapping";
import { SessionContexts } from "./session-contexts";
import { countPromptTokensSliced, promptChars, SLICED_COUNT_CHARS } from "./sliced-prompt-count";

export interface NodeServiceDeps {
  core: NodeCoreConfig;
  retry: RetryPolicy;
  /** The node id (may be known only after the port is bound). */
  nodeId: () => string;
  timers: Timers;
  engine: EngineAdapter;
  engineLoad: () => EngineLoad;
  /** Registry the node's metrics go to. */
  registry: Registry;
  logger: Logger;
  /** The engine's tokenizer (--tokenizer): prompts are counted for admission as the engine counts them. */
  tokenizer: Tokenizer;
  /** How hinted sessions get their KV back (see PrefetchMode). Default "directive". */
  prefetchMode?: PrefetchMode;
  warmup?: { timing: WarmupTiming; leadUs: number; minGapUs: number; maxInFlight?: number };
  /** The engine's KV-cache events: real residency instead of the node's bookkeeping. */
  kvEvents?: EngineKvEvents;
  /** Most session contexts kept for warm-ups and residency lookups. Default 100,000. */
  maxTrackedSessions?: number;
  /** Size limits checked before any tokenization (--max-prompt-bytes, --max-messages). */
  requestLimits?: RequestLimits;
}

/** Tokens per KV block assumed until the engine's events say otherwise (vLLM's default). */
const DEFAULT_BLOCK_SIZE = 16;
/** Warm-ups running at once when not configured (`--max-warmups-in-flight`). */
const DEFAULT_MAX_WARMUPS_IN_FLIGHT = 16;
/** Sessions whose engine residency a status reports (most recently active first). */
const REPORTED_SESSIONS = 1024;
/** A warm-up that has not answered in this long is abandoned (it only ever helps). */
const WARMUP_TIMEOUT_MS = 60_000;

/**
 * The key of an open turn on this node: the client's request_id within its session. request_id
 * is only unique per client/session (two sessions may both send "turn-0"), so it is never used
 * alone: two sessions' turns with the same request_id are different turns, while the same
 * (session_id, request_id) twice at once is a duplicate and rejected.
 */
export function turnKey(sessionId: string, requestId: string): string {
  // U+0000 cannot collide: it separates the two parts whatever characters they hold.
  return `${sessionId}\u0000${requestId}`;
}

interface ActiveTurn {
  /** turnKey(session_id, request_id): the turn's id in `turns` and in the NodeCore. */
  key: string;
  req: InferenceRequest;
  call: grpc.ServerWritableStream<InferenceRequest, InferenceEvent>;
  abort: AbortController;
  promptTokens: number;
  /** The stream has been ended (finished, error or cancelled): write nothing more. */
  ended: boolean;
  /**
   * Prompt tokens the engine's events said were cached (GPU, then CPU tier) when the turn was
   * dispatched; undefined without events or before the session's context was tokenized.
   */
  predictedCachedTokens?: number;
  /** Of those, the tokens on the GPU itself (the rest would be loaded from the CPU tier). */
  predictedGpuTokens?: number;
}

/**
 * gRPC face of the node: validates and counts requests, feeds the NodeCore, and runs the engine
 * call for each turn the core dispatches. Every Submit stream ends with exactly one Finished or
 * Error event (errors are events, so the stream itself closes with status OK).
 */
export class NodeService {
  readonly core: NodeCore;
  readonly metrics: NodeMetrics;
  private readonly turns = new Map<string, ActiveTurn>();
  private readonly promptCounter: PromptTokenCounter;
  private readonly prefetchMode: PrefetchMode;
  /** What each session sent and received, for warm-ups and residency lookups (stock engines). */
  private readonly contexts?: SessionContexts;
  readonly warmups?: WarmupPlanner;
  private warmupSeq = 0;
  private warmupsInFlight = 0;

  constructor(private readonly deps: NodeServiceDeps) {
    this.promptCounter = new PromptTokenCounter(deps.tokenizer);
    this.prefetchMode = deps.prefetchMode ?? "directive";
    this.core = new NodeCore(
      { ...deps.core, modelTransfers: this.prefetchMode === "directive" },
      deps.timers,
      {
        dispatch: (d) => this.onDispatch(d),
        fail: (id, failure) => this.onCoreFailure(id, failure),
      },
    );
    if (this.prefetchMode === "warmup" || deps.kvEvents) {
      this.contexts = new SessionContexts(deps.maxTrackedSessions ?? 10_000);
    }
    if (this.prefetchMode === "warmup") {
      this.warmups = new WarmupPlanner(
        {
          timing: deps.warmup?.timing ?? "at-hint",
          leadUs: deps.warmup?.leadUs ?? 500_000,
          minGapUs: deps.warmup?.minGapUs ?? 1_000_000,
          blockSize: () => deps.kvEvents?.index.blockSize ?? DEFAULT_BLOCK_SIZE,
        },
        deps.timers,
        { send: (sessionId) => this.sendWarmup(sessionId) },
      );
    }
    this.metrics = createNodeMetrics(deps.registry, this.core, deps.engineLoad, {
      warmups: this.warmups,
      kvEvents: deps.kvEvents,
    });
  }

  readonly handlers: NodeSchedulerServiceServer = {
    submit: (call) => this.submit(call),
    advise: (call, callback) => {
      const hint = call.request;
      if (!hint.sessionId) {
        return callback({ code: grpc.status.INVALID_ARGUMENT, details: "session_id: required (non-empty)" });
      }
      let accepted = this.core.advise(hint);
      if (this.warmups) {
        const expectedArrivalUs = this.deps.timers.nowUs() + hint.expectedArrivalMs * 1000;
        const planned = this.warmups.onHint(
          hint.sessionId,
          expectedArrivalUs,
          this.contexts?.get(hint.sessionId) !== undefined,
        );
        accepted = accepted || planned;
      }
      this.metrics.hints.inc({ accepted: String(accepted) });
      this.deps.logger.debug("hint", {
        sessionId: hint.sessionId,
        expectedArrivalMs: hint.expectedArrivalMs,
        accepted,
      });
      callback(null, { accepted, nodeId: this.deps.nodeId() });
    },
    closeSession: (call, callback) => {
      const { sessionId } = call.request;
      if (!sessionId) {
        return callback({ code: grpc.status.INVALID_ARGUMENT, details: "session_id: required (non-empty)" });
      }
      // Unknown sessions are not an error: released=false (closing twice is harmless).
      this.forgetSession(sessionId);
      callback(null, this.core.closeSession(sessionId));
    },
    status: (_call, callback) => callback(null, this.status()),
  };

  status(): NodeStatus {
    const s = this.core.status();
    const load = this.deps.engineLoad();
    const real = this.engineResidency();
    return {
      nodeId: this.deps.nodeId(),
      queueDepth: s.queueDepth,
      running: s.running,
      residentSessions: real?.residentSessions ?? s.residentSessions,
      residencyFromEngine: real !== undefined,
      sessionResidency: real?.sessions ?? [],
      kvTiers: real?.tiers ?? s.tiers,
      engineKvUsage: load.kvUsage,
      engineWaiting: load.waiting,
      engineRunning: load.running,
      sessionHits: s.sessionHits,
      sessionMisses: s.sessionMisses,
    };
  }

  /**
   * The engine's real KV residency from its events: blocks it caches per tier (budgets stay the
   * node's), and sessions whose tokenized context has at least one block there. undefined
   * without events.
   */
  engineResidency():
    | { tiers: NodeStatus["kvTiers"]; residentSessions: number; sessions: NodeStatus["sessionResidency"] }
    | undefined {
    const events = this.deps.kvEvents;
    if (!events) return undefined;
    const blockSize = events.index.blockSize ?? 0;
    const blocks = events.index.stats();
    let gpuSessions = 0;
    let cpuSessions = 0;
    let resident = 0;
    const sessions: NodeStatus["sessionResidency"] = [];
    // The most recently active sessions only: a lookup hashes the whole context, and a status is
    // built for every heartbeat.
    for (const [sessionId, tracked] of this.contexts?.entries() ?? []) {
      if (sessions.length >= REPORTED_SESSIONS) break;
      if (!tracked.tokenIds) continue;
      const r = events.index.lookup(tracked.tokenIds);
      if (r.gpuTokens > 0) gpuSessions++;
      if (r.cpuTokens > 0) cpuSessions++;
      if (r.anyTokens > 0) resident++;
      sessions.push({ sessionId, cachedTokens: r.anyTokens, contextTokens: tracked.tokenIds.length });
    }
    const bytesPerToken = this.deps.core.bytesPerToken;
    const tier = (name: "gpu" | "cpu", usedTokens: number, budgetTokens: number, sessions: number) => ({
      name,
      usedTokens,
      budgetTokens,
      usedBytes: usedTokens * bytesPerToken,
      budgetBytes: budgetTokens * bytesPerToken,
      sessions,
    });
    return {
      tiers: [
        tier("gpu", blocks.gpuBlocks * blockSize, this.core.gpu.budgetTokens, gpuSessions),
        tier("cpu", blocks.cpuBlocks * blockSize, this.core.cpu.budgetTokens, cpuSessions),
      ],
      residentSessions: resident,
      sessions,
    };
  }

  /** Resolves when no turn is open any more, or after `graceMs`, whichever comes first. */
  async drain(graceMs: number): Promise<void> {
    const end = Date.now() + graceMs;
    while (this.turns.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  }

  /** Ends every open turn with UNAVAILABLE (node shutting down) and aborts its engine call. */
  shutdown(): void {
    this.warmups?.cancelAll();
    for (const turn of [...this.turns.values()]) {
      this.core.cancel(turn.key);
      this.endWithError(turn, "UNAVAILABLE", "node is shutting down", true);
    }
  }

  /** `countedTokens`: the prompt's tokens when counted already (a long prompt, in slices). */
  private submit(
    call: grpc.ServerWritableStream<InferenceRequest, InferenceEvent>,
    countedTokens?: number,
  ): void {
    const req = call.request;
    const invalid =
      validateInferenceRequest(req) ??
      requestSizeProblem(req, this.deps.requestLimits ?? DEFAULT_REQUEST_LIMITS, "this node");
    if (invalid) return this.rejectCall(call, "INVALID_ARGUMENT", invalid, false);
    // A long prompt is counted in slices, the event loop free in between (heartbeats go on).
    if (countedTokens === undefined && promptChars(req) > SLICED_COUNT_CHARS) {
      void countPromptTokensSliced(this.deps.tokenizer, req).then(
        (n) => void (call.cancelled || this.submit(call, n)),
        (err: unknown) =>
          this.rejectCall(call, "INTERNAL", `counting the prompt failed: ${String(err)}`, false),
      );
      return;
    }
    const key = turnKey(req.sessionId, req.requestId);
    if (this.turns.has(key)) {
      return this.rejectCall(
        call,
        "INVALID_ARGUMENT",
        `request_id: "${req.requestId}" of session "${req.sessionId}" is already running on this node ` +
          `(request ids must be unique within a session)`,
        false,
      );
    }
    let deadlineMs = req.deadlineMs > 0 ? req.deadlineMs : undefined;
    const grpcDeadline = call.getDeadline();
    const grpcDeadlineMs = grpcDeadline instanceof Date ? grpcDeadline.getTime() : grpcDeadline;
    if (Number.isFinite(grpcDeadlineMs)) {
      const left = grpcDeadlineMs - Date.now();
      deadlineMs = deadlineMs === undefined ? left : Math.min(deadlineMs, left);
    }
    if (deadlineMs !== undefined && deadlineMs <= 0) {
      return this.rejectCall(call, "DEADLINE_EXCEEDED", "deadline already passed on arrival", false);
    }

    const turn: ActiveTurn = {
      key,
      req,
      call,
      abort: new AbortController(),
      promptTokens: countedTokens ?? this.promptCounter.count(req),
      ended: false,
    };
    this.turns.set(key, turn);
    this.warmups?.onTurnArrived(req.sessionId);
    call.on("cancelled", () => {
      if (turn.ended) return;
      turn.ended = true;
      turn.abort.abort();
      this.turns.delete(key);
      this.core.cancel(key);
      this.metrics.turns.inc({ outcome: "CANCELLED" });
    });

    const result = this.core.submit({
      requestId: key,
      sessionId: req.sessionId,
      turnIndex: req.turnIndex,
      priority: priorityClassOf(req.priority),
      promptTokens: turn.promptTokens,
      maxOutputTokens: req.maxOutputTokens,
      isLast: req.isLast,
      deadlineUs:
        deadlineMs === undefined ? undefined : this.deps.timers.nowUs() + Math.round(deadlineMs * 1000),
    });
    if (!result.accepted) {
      this.endWithError(turn, result.failure.code, result.failure.message, result.failure.retryable);
    }
  }

  private onDispatch(d: Dispatch): void {
    const turn = this.turns.get(d.requestId);
    if (!turn || turn.ended) {
      this.core.onFailed(d.requestId);
      return;
    }
    this.metrics.queueSeconds.observe(d.queueTimeUs / 1e6);
    this.metrics.restoreSeconds.observe(d.kvRestoreUs / 1e6);
    turn.call.write({
      event: {
        $case: "started",
        value: { nodeId: this.deps.nodeId(), queueTimeUs: d.queueTimeUs, kvTier: d.kvTier },
      },
    });
    void this.runTurn(turn, d);
  }

  private async runTurn(turn: ActiveTurn, d: Dispatch): Promise<void> {
    const { req } = turn;
    let bufferedText = "";
    let tokensSeen = 0;
    // The reply, kept for the session's context (warm-ups, residency lookups).
    const replyPieces: string[] | undefined = this.contexts ? [] : undefined;
    const found = this.lookUpContext(req.sessionId);
    turn.predictedCachedTokens = found?.anyTokens;
    turn.predictedGpuTokens = found?.gpuTokens;
    // Back-pressure: while the client's stream is full, the adapter stops reading the engine.
    let full: Promise<unknown> | undefined;
    const sink = {
      onToken: (text: string, tokenCount: number, reasoning = false) => {
        tokensSeen += tokenCount;
        if (replyPieces && !reasoning) replyPieces.push(text);
        if (turn.ended) return;
        if (req.stream) {
          const ok = turn.call.write({ event: { $case: "token", value: { text, tokenCount, reasoning } } });
          if (!ok && !full) {
            full = once(turn.call, "drain", { signal: turn.abort.signal }).finally(() => (full = undefined));
            full.catch(() => {}); // an abort ends the turn through the engine call instead
          }
        } else bufferedText += text;
      },
      drained: () => full,
    };
    try {
      const result = await generateWithRetry(
        this.deps.engine,
        this.prefetchMode === "directive"
          ? { ...toEngineRequest(req), kvTier: d.kvTier, residentKvTokens: d.residentKvTokens }
          : toEngineRequest(req),
        sink,
        turn.abort.signal,
        this.deps.retry,
        (attempt, err) => {
          this.metrics.engineRetries.inc();
          this.deps.logger.warn("engine call retried", {
            requestId: req.requestId,
            attempt,
            code: err.code,
            error: err.message,
          });
        },
      );
      if (turn.ended) return;
      const usage = result.usage ?? {
        promptTokens: turn.promptTokens,
        completionTokens: tokensSeen,
        cachedTokens: 0,
      };
      this.core.onFinished(turn.key, usage);
      this.afterTurn(turn, usage.cachedTokens, replyPieces);
      if (!req.stream) {
        turn.call.write({
          event: {
            $case: "token",
            value: { text: bufferedText, tokenCount: usage.completionTokens || tokensSeen, reasoning: false },
          },
        });
      }
      this.metrics.engineTtftSeconds.observe(result.ttftUs / 1e6);
      this.metrics.engineE2eSeconds.observe(result.e2eUs / 1e6);
      this.metrics.turns.inc({ outcome: "finished" });
      turn.ended = true;
      this.turns.delete(turn.key);
      turn.call.write({
        event: {
          $case: "finished",
          value: {
            usage,
            finishReason:
              result.finishReason || (usage.completionTokens >= req.maxOutputTokens ? "length" : "stop"),
            timings: {
              queueTimeUs: d.queueTimeUs,
              engineTtftUs: result.ttftUs,
              engineE2eUs: result.e2eUs,
              kvRestoreUs: d.kvRestoreUs,
            },
            nodeId: this.deps.nodeId(),
          },
        },
      });
      turn.call.end();
    } catch (raw) {
      if (turn.ended) return;
      const err = toEngineError(raw, "", false);
      this.core.onFailed(turn.key);
      this.warmups?.onTurnFailed(req.sessionId);
      this.deps.logger.warn("turn failed", {
        requestId: req.requestId,
        sessionId: req.sessionId,
        code: err.code,
        error: err.message,
      });
      // Tokens already reached the client: retrying the turn would duplicate output.
      this.endWithError(turn, err.code, err.message, err.retryable && !err.streamed);
    }
  }

  /** Scores the session's warm-up, records its context, and (with events) asks for its token ids. */
  private afterTurn(turn: ActiveTurn, cachedTokens: number, replyPieces: string[] | undefined): void {
    const { req } = turn;
    // A warm-up is useful when its turn found the context where the warm-up put it: on the GPU
    // (known from the events), else at least cached (the engine's cached_tokens, which also
    // counts CPU-tier loads).
    this.warmups?.onTurnFinished(req.sessionId, turn.predictedGpuTokens ?? cachedTokens);
    if (turn.predictedCachedTokens !== undefined) {
      const p = turn.predictedCachedTokens;
      this.metrics.residencyPredictions.inc({
        result: cachedTokens === p ? "exact" : cachedTokens > p ? "under" : "over",
      });
    }
    if (!this.contexts || !replyPieces) return;
    if (req.isLast) {
      this.forgetSession(req.sessionId);
      return;
    }
    const engineReq = toEngineRequest(req);
    const tracked = this.contexts.recordTurn(
      req.sessionId,
      { messages: engineReq.messages, prompt: engineReq.prompt },
      replyPieces.join(""),
    );
    const { kvEvents, engine } = this.deps;
    if (!kvEvents || !engine.tokenize) return;
    engine.tokenize(tracked.context, AbortSignal.timeout(WARMUP_TIMEOUT_MS)).then(
      (ids) => {
        tracked.tokenIds = Uint32Array.from(ids);
      },
      (err: unknown) => {
        this.metrics.tokenizeFailures.inc();
        this.deps.logger.debug("tokenize failed", {
          sessionId: req.sessionId,
          error: (err as Error).message,
        });
      },
    );
  }

  /**
   * Where the engine's events say the session's known context is as its turn goes out (counted
   * by tier), and how many of its tokens the turn should find cached: the GPU prefix, then the
   * CPU tier (full blocks only). undefined without events or a tokenized context.
   */
  private lookUpContext(sessionId: string): ResidencyLookup | undefined {
    const events = this.deps.kvEvents;
    const tokenIds = this.contexts?.peek(sessionId)?.tokenIds;
    const blockSize = events?.index.blockSize;
    if (!events || !tokenIds || !blockSize) return undefined;
    const found = events.index.lookup(tokenIds);
    // The context ends with the token that ended the reply: sampled, never fed back, so the turn
    // that produced it left its KV uncomputed. What a returning turn can find is the full blocks
    // before it (a warm-up computes it too, which only adds).
    const fullBlocks = Math.floor((tokenIds.length - 1) / blockSize) * blockSize;
    const where =
      found.gpuTokens >= fullBlocks
        ? "gpu"
        : found.anyTokens >= fullBlocks
          ? "cpu"
          : found.anyTokens > 0
            ? "partial"
            : "miss";
    this.metrics.contextResidency.inc({ where });
    return found;
  }

  private sendWarmup(sessionId: string): boolean {
    const planner = this.warmups!;
    const context = this.contexts?.get(sessionId)?.context;
    const engine = this.deps.engine;
    if (!context || !engine.warmup) return false;
    // Warm-ups bypass the queue: cap them so a burst of hints cannot flood the engine.
    if (this.warmupsInFlight >= (this.deps.warmup?.maxInFlight ?? DEFAULT_MAX_WARMUPS_IN_FLIGHT))
      return false;
    this.warmupsInFlight++;
    const requestId = `symphony-warmup-${++this.warmupSeq}`;
    engine
      .warmup(context, requestId, AbortSignal.timeout(WARMUP_TIMEOUT_MS))
      .then(
        (r) => planner.onWarmupDone(sessionId, r.promptTokens),
        (err: unknown) => {
          planner.onWarmupFailed(sessionId);
          this.deps.logger.debug("warm-up failed", { sessionId, error: (err as Error).message });
        },
      )
      .finally(() => this.warmupsInFlight--);
    return true;
  }

  private forgetSession(sessionId: string): void {
    this.warmups?.onSessionClosed(sessionId);
    this.contexts?.delete(sessionId);
  }

  private onCoreFailure(requestId: string, failure: TurnFailure): void {
    const turn = this.turns.get(requestId);
    if (!turn || turn.ended) return;
    turn.abort.abort();
    this.endWithError(turn, failure.code, failure.message, failure.retryable);
  }

  private endWithError(turn: ActiveTurn, code: GrpcCodeName, message: string, retryable: boolean): void {
    if (turn.ended) return;
    turn.ended = true;
    this.turns.delete(turn.key);
    this.metrics.turns.inc({ outcome: code });
    turn.abort.abort();
    turn.call.write({ event: { $case: "error", value: { code, message, retryable } } });
    turn.call.end();
  }

  private rejectCall(
    call: grpc.ServerWritableStream<InferenceRequest, InferenceEvent>,
    code: GrpcCodeName,
    message: string,
    retryable: boolean,
  ): void {
    this.metrics.turns.inc({ outcome: code });
    call.write({ event: { $case: "error", value: { code, message, retryable } } });
    call.end();
  }
}
