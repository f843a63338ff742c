import { SlotMap, TypedArraySlab, type TimerHandle, type Timers } from "@symphony/common";
import {
  CpuOffloadTier,
  type BlockSource,
  type CpuOffloadConfig,
  type KvTransferType,
  type OffloadStats,
} from "./cpu-offload";
import { BlockPool, hashBlockOf, NO_HASH } from "./kv-cache";
import { blockStored, KvEventQueue, type KvEventSink } from "./kv-events";
import type { StepShape, StepTimeModel } from "./step-time-model";

/** Why a request stopped: EOS ("stop"), max_tokens ("length") or cancelled ("abort"). */
export type FinishReason = "stop" | "length" | "abort";

/** A generation request as the engine sees it: token ids in, token ids out. */
export interface EngineRequest {
  /** Unique among live requests. */
  readonly id: string;
  /** The templated prompt's token ids (at least one). */
  readonly promptTokenIds: ArrayLike<number>;
  /**
   * Every token the "model" will emit, in order (at least one). The engine streams them one
   * per decode step; their count is the completion length.
   */
  readonly outputTokenIds: ArrayLike<number>;
  /** Reported when the last output token is emitted. */
  readonly finishReason: "stop" | "length";
  /**
   * Leading prompt tokens whose KV an external tier supplies when the request is first
   * scheduled (Symphony's node residency with a KV connector, as vLLM does with LMCache or its
   * offloading connector): they are loaded, not recomputed. Counted as cached tokens, not as
   * prefix-cache hits. Default 0.
   */
  readonly externalKvTokens?: number;
  /**
   * The request's `max_tokens` as the server resolved it (the client's, else max-model-len minus
   * the prompt), for vLLM's `request_params_max_tokens`; absent or 0 = not reported.
   */
  readonly maxTokens?: number;
}

/** What a request cost and when things happened (engine clock, µs). */
export interface RequestSummary {
  readonly id: string;
  readonly finishReason: FinishReason;
  readonly promptTokens: number;
  /** Output tokens emitted (fewer than planned when aborted). */
  readonly completionTokens: number;
  /**
   * Prompt tokens not computed when the request was first scheduled: prefix-cache hits plus KV
   * loaded by a connector (the CPU tier, or resident tokens), as vLLM's num_cached_tokens.
   */
  readonly cachedTokens: number;
  /** Of `cachedTokens`, those found in the GPU prefix cache (the rest a connector loaded). */
  readonly prefixHitTokens: number;
  readonly numPreemptions: number;
  readonly arrivalUs: number;
  /** When the request first entered a batch; -1 if it never did. */
  readonly firstScheduledUs: number;
  /** When its first token was emitted; -1 if none was. */
  readonly firstTokenUs: number;
  readonly finishUs: number;
  /** The request's `maxTokens` (0 when it gave none). */
  readonly maxTokens: number;
}

/** Per-request callbacks, called synchronously from the step loop. They must not throw. */
export interface EngineListener {
  /** Output token `index` (0 = first token) with id `tokenId` was just emitted. */
  onToken(index: number, tokenId: number): void;
  /**
   * Output tokens `firstIndex .. firstIndex + count - 1` were emitted at engine-clock times
   * `timesUs[timesFrom + i]` (fast-forwarded steps, see `EngineConfig.fastForward`). Called late,
   * once the steps are over, in token order and always before `onFinish`. Without it, each token
   * gets its own `onToken` call at that later moment.
   */
  onTokens?(firstIndex: number, count: number, timesUs: readonly number[], timesFrom: number): void;
  /** The request finished (or was aborted); no callback follows. */
  onFinish(summary: RequestSummary): void;
}

/** Engine-wide hooks for metrics. All durations in engine-clock µs. */
export interface EngineObserver {
  onFirstToken?(ttftUs: number): void;
  onInterToken?(itlUs: number): void;
  onFinish?(summary: RequestSummary): void;
  /** `shape` is the engine's own, reused next step: read it, do not keep it. */
  onStep?(shape: StepShape, durationUs: number): void;
  /** A KV copy between GPU and the CPU offload tier was started (`bytes`, modelled duration). */
  onKvTransfer?(type: KvTransferType, bytes: number, durationUs: number): void;
}

/** Scheduler and cache limits, named like vLLM's flags. */
export interface EngineConfig {
  /** --max-num-seqs: most requests in the running batch. */
  readonly maxNumSeqs: number;
  /** --max-num-batched-tokens: token budget of one step (prefill chunks + decodes). */
  readonly maxNumBatchedTokens: number;
  /** --num-gpu-blocks: KV-cache capacity in blocks. */
  readonly numGpuBlocks: number;
  /** --block-size: token slots per KV block (vLLM default 16). */
  readonly blockSize: number;
  /** --enable-prefix-caching (vLLM v1 default on). */
  readonly enablePrefixCaching: boolean;
  /** Modelled durations are divided by this (10 = ten times faster than real time). */
  readonly timeScale: number;
  /**
   * How far (µs) the step chain may trail the clock before it stops catching up. Timers fire
   * late (setTimeout has 1 ms granularity; a busy event loop adds more), so consecutive steps
   * are chained on their modelled end times rather than on when the timer fired, and only a
   * lag beyond this bound is dropped (a stalled process then resumes at the modelled pace instead of
   * bursting). Default 25000.
   */
  readonly maxLagUs?: number;
  /**
   * vLLM's native CPU offload (`--kv-offloading-size`, backend native): write-through of every
   * filled block to a CPU tier, loaded back before a request's prefill when the GPU prefix cache
   * misses. Absent = off (the engine then behaves exactly as without this field).
   */
  readonly cpuOffload?: CpuOffloadConfig;
  /**
   * Fast-forward stretches of steps in which the batch only decodes (nothing arrives, nothing
   * finishes, no preemption): such a step costs O(1) plus the requests that fill a KV block in
   * it, and the tokens of those steps reach listeners late (`EngineListener.onTokens`) with their
   * exact times. Every scheduling decision, step duration and counter is the same as without it.
   * For virtual time (the simulator): a live server would stream those tokens late. Default false.
   */
  readonly fastForward?: boolean;
}

/** A point-in-time view for metrics and tests. */
export interface EngineStats {
  readonly numRunning: number;
  readonly numWaiting: number;
  /** Fraction of KV blocks in use, 0..1 (vLLM's kv_cache_usage_perc). */
  readonly kvCacheUsage: number;
  readonly numGpuBlocks: number;
  readonly numFreeBlocks: number;
  /** Blocks holding a findable cached prefix (in use or free), as announced by BlockStored GPU. */
  readonly numCachedBlocks: number;
  /** Prompt tokens looked up in the prefix cache (vLLM counts tokens, not requests). */
  readonly prefixCacheQueries: number;
  /** Of those, tokens found cached. */
  readonly prefixCacheHits: number;
  /** Prompt tokens looked up by a KV connector (vllm:external_prefix_cache_queries). */
  readonly externalPrefixCacheQueries: number;
  /** Of those, tokens it supplied (CPU tier loads, resident tokens). */
  readonly externalPrefixCacheHits: number;
  /** The CPU offload tier's counters; null when offload is off. */
  readonly offload: OffloadStats | null;
  readonly numPreemptions: number;
  readonly promptTokens: number;
  readonly generationTokens: number;
  readonly finished: Readonly<Record<FinishReason, number>>;
  readonly steps: number;
}

const enum Status {
  Waiting,
  Running,
  Done,
  /** vLLM's WAITING_FOR_REMOTE_KVS: blocks held, KV being copied in from the CPU tier. */
  Loading,
}

/** Mutable per-request state; only EngineCore touches it. */
class RequestState {
  status = Status.Waiting;
  /** Tokens whose KV has been computed (and sit in `blocks`). */
  numComputed = 0;
  /** Output tokens emitted so far. */
  numOutput = 0;
  /** The pool's block ids holding this request's KV, in token order. */
  blocks: number[] = [];
  /**
   * Chained hashes of the full blocks of prompt + output, the first `numHashes` computed (lazily);
   * sized for every full block of the request's tokens, which are all known from the start.
   */
  readonly blockHashes: Float64Array;
  numHashes = 0;
  /** How many of `blocks` are registered in the prefix cache. */
  numCachedBlocks = 0;
  /** Blocks below this index were written through to the CPU tier (or found there). */
  numStoredBlocks = 0;
  /** This request's blocks as the CPU tier sees them (made on first use). */
  source: BlockSource | null = null;
  /** Tokens this step computes. */
  scheduledTokens = 0;
  /** Fast-forward: lazy (see EngineCore.ffLazy), the steps applied so far, and its queue order. */
  ffLazy = false;
  ffBase = 0;
  ffJoin = 0;
  /** Fast-forward: its bucket in EngineCore.ffBuckets and its index in EngineCore.ffLazy. */
  ffBucket = 0;
  ffIndex = 0;
  cachedTokens = -1;
  prefixHitTokens = 0;
  numPreemptions = 0;
  firstScheduledUs = -1;
  firstTokenUs = -1;
  lastTokenUs = -1;
  readonly promptLen: number;
  readonly id: string;
  /**
   * The request's token ids as typed arrays (copied unless they are Int32Arrays already, like
   * OutputPlanner's plans): their numbers live outside the garbage-collected heap for as long
   * as the request runs, so young-generation collections (which copy every survivor) do not
   * copy them, and the engine's hashing always reads one kind of array.
   */
  readonly prompt: Int32Array;
  readonly output: Int32Array;
  readonly finishReason: "stop" | "length";
  readonly externalKvTokens: number;
  readonly maxTokens: number;

  constructor(
    req: EngineRequest,
    readonly listener: EngineListener,
    readonly arrivalUs: number,
    blockSize: number,
    arrays: TypedArraySlab,
  ) {
    this.id = req.id;
    this.prompt = int32(req.promptTokenIds);
    this.output = int32(req.outputTokenIds);
    this.promptLen = this.prompt.length;
    this.blockHashes = arrays.float64(Math.floor((this.promptLen + this.output.length) / blockSize));
    this.finishReason = req.finishReason;
    this.externalKvTokens = req.externalKvTokens ?? 0;
    this.maxTokens = req.maxTokens ?? 0;
  }

  /** Token `i` of prompt + output. */
  tokenAt(i: number): number {
    const p = this.promptLen;
    return i < p ? this.prompt[i]! : this.output[i - p]!;
  }

  /** Tokens known so far: the prompt plus every output token already sampled. */
  get numTokens(): number {
    return this.promptLen + this.numOutput;
  }
}

/** `ids` as an Int32Array: itself when it is one (requests are read-only), else a copy. */
function int32(ids: ArrayLike<number>): Int32Array {
  return ids instanceof Int32Array ? ids : new Int32Array(ids);
}

/** Keeps the requests of `list` with `status`, in place, in order. */
function keepStatus(list: RequestState[], status: Status): void {
  let n = 0;
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    if (r.status === status) list[n++] = r;
  }
  list.length = n;
}

/** Drops the requests that are no longer lazy from `list`, in place, keeping the order. */
function keepLazy(list: RequestState[]): void {
  let n = 0;
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    if (r.ffLazy) list[n++] = r;
  }
  list.length = n;
}

/**
 * The stretch step whose completion emits lazy request `r`'s last token (its list in
 * EngineCore.ffFinishes): ffBase - numOutput never changes while it is lazy, so this is fixed.
 */
function ffFinishStep(r: RequestState): number {
  return r.ffBase + r.output.length - r.numOutput;
}

/** Drops the holes (finished requests) from the lazy list, in place, keeping the order. */
function dropHoles(list: (RequestState | null)[]): RequestState[] {
  let n = 0;
  for (let i = 0; i < list.length; i++) {
    const r = list[i]!;
    if (r === null) continue;
    r.ffIndex = n;
    list[n++] = r;
  }
  list.length = n;
  return list as RequestState[];
}

/**
 * A vLLM v1-style engine core as a discrete-event step machine (vllm/v1/core/sched/scheduler.py).
 *
 * Each step the scheduler (1) walks the running requests in order, giving each its next tokens
 * (one decode token, or the next chunk of an unfinished prefill) within the step's token budget;
 * when a request needs a KV block and none is free, it preempts the last running request
 * (freeing its blocks; it is recomputed later), and (2) if nothing was preempted, admits
 * waiting requests first come first served while the budget, `maxNumSeqs` and free blocks allow,
 * reusing cached prefix blocks. The step lasts `StepTimeModel.stepUs(shape) / timeScale`; at its
 * end every request whose KV has caught up with its tokens emits one token.
 *
 * One timer drives the whole loop (not one per request), and everything is synchronous, so the
 * same class runs on RealTimers (live) and VirtualTimers (simulation).
 */
export class EngineCore {
  private readonly pool: BlockPool;
  /** Where the requests' block-hash arrays are cut from (one buffer each would cost more). */
  private readonly requestArrays = new TypedArraySlab();
  private readonly byId = new SlotMap<string, RequestState>();
  private waiting: RequestState[] = [];
  private running: RequestState[] = [];
  private batch: RequestState[] = [];
  /** The other half of the batch double buffer (see completeStep). */
  private spareBatch: RequestState[] = [];
  private needsCompaction = false;
  private timer: TimerHandle | null = null;
  /** Modelled end of the step in flight (µs, fractional), or NaN when idle. */
  private stepEndUs = Number.NaN;
  private readonly maxLagUs: number;
  private closed = false;
  /** Pending KV events of this step; null when no sink was given. */
  private readonly events: KvEventQueue | null;
  private readonly offload: CpuOffloadTier<RequestState> | null;
  /** Nothing to run but copies in flight: the timer is a wake-up at the next completion. */
  private waitingOnTransfers = false;

  /**
   * The shape of the step being scheduled, summed as requests join its batch; the one object is
   * handed to the step time model and onStep every step (neither keeps it).
   */
  private readonly acc = {
    prefillTokens: 0,
    prefillAttentionPairs: 0,
    decodeSeqs: 0,
    kvTokensRead: 0,
    numSeqs: 0,
  };

  // Fast-forward (config.fastForward). While `ff`, the running queue starts with `ffLazy`:
  // requests that decode one token every step. Their numComputed / numOutput lag by the steps
  // done since their `ffBase` until `ffCatchUp` applies them; a step touches only those that fill
  // a KV block or finish in it (`ffBuckets`, `ffFinishes`). The rest of the queue (prefills,
  // admitted requests) is scheduled and completed one by one, as always.
  private ff = false;
  /** Steps completed since the stretch began. */
  private ffDone = 0;
  /**
   * End time (the clock when its timer fired) of step `ffTimesBase + 1 + i`, for i below
   * ffTimesLen (the array is written over, not emptied: its storage is kept between stretches).
   */
  private readonly ffTimes: number[] = [];
  private ffTimesLen = 0;
  private ffTimesBase = 0;
  /**
   * The lazy requests, in queue order (a prefix of `running`), with a hole (null) where one
   * finished, so that nothing keeps it alive: the holes are dropped when they outnumber the lazy
   * requests (ffNumLazy), not every step that finishes one (each drop is a pass over the list).
   */
  private ffLazy: (RequestState | null)[] = [];
  private ffNumLazy = 0;
  /** Lazy requests (queue order) whose KV fills a block at steps ≡ index (mod blockSize). */
  private ffBuckets: RequestState[][] = [];
  /** Buckets holding finished requests: each is cleaned up just before it is next read. */
  private ffBucketStale: boolean[] = [];
  /**
   * Lazy requests (queue order) by the step whose completion emits their last token, in a ring
   * indexed by step & (length - 1): every pending step lies less than its length after ffDone
   * (it grows when one would not). Its lists are reused, so no array is made per finish step.
   */
  private ffFinishes: RequestState[][] = [[]];
  private ffFinishSpare: RequestState[] = [];
  /** Σ numComputed of the lazy requests as of the last completed step. */
  private ffLazyKv = 0;
  /** The requests of the step in flight beyond the lazy ones, in batch order. */
  private ffBatch: RequestState[] = [];
  /** A write-through store was skipped (tier full): it is retried every step, so the stretch ends. */
  private ffStoreSkipped = false;
  private ffJoins = 0;

  private numRunning = 0;
  private numWaiting = 0;
  private prefixCacheQueries = 0;
  private prefixCacheHits = 0;
  private externalPrefixCacheQueries = 0;
  private externalPrefixCacheHits = 0;
  private numPreemptions = 0;
  private promptTokens = 0;
  private generationTokens = 0;
  private steps = 0;
  private readonly finished: Record<FinishReason, number> = { stop: 0, length: 0, abort: 0 };

  constructor(
    readonly config: EngineConfig,
    private readonly model: StepTimeModel,
    private readonly timers: Timers,
    private readonly observer: EngineObserver = {},
    /**
     * Where KV-cache events go, one batch per step (vLLM's `--kv-events-config`); absent = no
     * events are collected at all.
     */
    private readonly kvEventSink?: KvEventSink,
  ) {
    if (!(config.timeScale > 0)) throw new RangeError(`timeScale must be > 0, got ${config.timeScale}`);
    if (config.blockSize < 1 || config.maxNumSeqs < 1 || config.maxNumBatchedTokens < 1)
      throw new RangeError("blockSize, maxNumSeqs and maxNumBatchedTokens must be >= 1");
    this.events = kvEventSink ? new KvEventQueue() : null;
    this.pool = new BlockPool(config.numGpuBlocks, this.events);
    this.offload = config.cpuOffload
      ? new CpuOffloadTier<RequestState>(
          config.cpuOffload,
          config.blockSize,
          config.timeScale,
          this.events,
          observer.onKvTransfer?.bind(observer),
        )
      : null;
    this.maxLagUs = config.maxLagUs ?? 25_000;
  }

  /** Tokens the KV cache holds when full: the longest sequence that can ever run. */
  get capacityTokens(): number {
    return this.config.numGpuBlocks * this.config.blockSize;
  }

  /**
   * Queues a request. Throws RangeError for an empty prompt/output, a duplicate live id, or a
   * sequence longer than the whole KV cache (it could never be scheduled).
   */
  submit(req: EngineRequest, listener: EngineListener): void {
    if (this.closed) throw new RangeError("engine is closed");
    if (req.promptTokenIds.length === 0) throw new RangeError(`request ${req.id}: empty prompt`);
    if (req.outputTokenIds.length === 0) throw new RangeError(`request ${req.id}: no output tokens`);
    if (this.byId.has(req.id)) throw new RangeError(`request ${req.id}: id already in use`);
    const maxLen = req.promptTokenIds.length + req.outputTokenIds.length - 1;
    if (maxLen > this.capacityTokens)
      throw new RangeError(
        `request ${req.id}: ${maxLen} tokens exceed the KV cache (${this.capacityTokens} tokens)`,
      );
    const r = new RequestState(req, listener, this.timers.nowUs(), this.config.blockSize, this.requestArrays);
    this.byId.set(req.id, r);
    this.waiting.push(r);
    this.numWaiting++;
    if (Number.isNaN(this.stepEndUs) || this.waitingOnTransfers) {
      // Idle engine: the request starts a step at once, as vLLM's busy loop would pick it up.
      if (this.timer) this.timers.cancel(this.timer);
      this.timer = null;
      this.startStep(this.timers.nowUs());
      this.flushEvents();
      if (!Number.isNaN(this.stepEndUs)) this.timer = this.timers.at(Math.ceil(this.stepEndUs), this.onTimer);
    }
  }

  /** Cancels a live request: frees its blocks and calls its onFinish with "abort". */
  abort(id: string): boolean {
    const r = this.byId.get(id);
    if (!r) return false;
    if (this.ff) this.ffEnd();
    this.finish(r, "abort", this.timers.nowUs());
    return true;
  }

  /** Aborts everything and stops the step loop (shutdown). */
  close(): void {
    this.closed = true;
    if (this.timer) this.timers.cancel(this.timer);
    this.timer = null;
    this.stepEndUs = Number.NaN;
    for (const id of [...this.byId.keys()]) this.abort(id);
  }

  stats(): EngineStats {
    const kv = this.pool.stats();
    return {
      numRunning: this.numRunning,
      numWaiting: this.numWaiting,
      kvCacheUsage: kv.usage,
      numGpuBlocks: kv.numBlocks,
      numFreeBlocks: kv.numFreeBlocks,
      numCachedBlocks: kv.numCachedBlocks,
      prefixCacheQueries: this.prefixCacheQueries,
      prefixCacheHits: this.prefixCacheHits,
      externalPrefixCacheQueries: this.externalPrefixCacheQueries,
      externalPrefixCacheHits: this.externalPrefixCacheHits,
      offload: this.offload ? this.offload.stats() : null,
      numPreemptions: this.numPreemptions,
      promptTokens: this.promptTokens,
      generationTokens: this.generationTokens,
      finished: { ...this.finished },
      steps: this.steps,
    };
  }

  /** Drops all cached prefixes (vLLM's POST /reset_prefix_cache). */
  resetPrefixCache(): void {
    this.pool.resetPrefixCache();
    for (const r of this.byId.values()) r.numCachedBlocks = 0;
    this.flushEvents();
  }

  /** Whether `hash` is stored and ready in the CPU offload tier (false when offload is off). */
  cpuTierHas(hash: number): boolean {
    return this.offload?.has(hash) ?? false;
  }

  // --- step loop ----------------------------------------------------------------------------

  /**
   * Schedules a batch starting at `startUs`; goes idle when there is nothing to run. `startUs`
   * may lie in the past (the step chain runs on modelled end times while timers fire late): only
   * requests that had arrived by then join, so no request joins a step that began before it
   * arrived. When nothing else runs, the engine was idle when the first of the later arrivals
   * came, and the step starts at its arrival instead (vLLM's busy loop picks it up at once).
   */
  private startStep(startUs: number): void {
    if (this.ff) {
      const shape = this.ffSchedule(startUs);
      if (shape) return this.runStep(startUs, shape);
      this.ffEnd();
    }
    let shape = this.schedule(startUs);
    if (this.batch.length === 0 && this.numWaiting > 0) {
      const firstArrivalUs = this.firstWaitingArrivalAfter(startUs);
      if (firstArrivalUs !== null) {
        startUs = firstArrivalUs;
        shape = this.schedule(startUs);
      }
    }
    if (this.batch.length === 0) {
      // Nothing runs; with copies in flight, wake up when the next one completes (vLLM keeps
      // polling its connector while transfers are pending).
      this.waitingOnTransfers = this.offload !== null && this.offload.busy;
      this.stepEndUs = this.waitingOnTransfers ? this.offload!.nextCompletionUs() : Number.NaN;
      return;
    }
    this.waitingOnTransfers = false;
    if (this.config.fastForward) this.ffBegin();
    this.runStep(startUs, shape);
  }

  private runStep(startUs: number, shape: StepShape): void {
    const durationUs = this.model.stepUs(shape) / this.config.timeScale;
    this.steps++;
    this.observer.onStep?.(shape, durationUs);
    this.stepEndUs = startUs + durationUs;
  }

  /** The earliest arrival after `startUs` among the waiting requests, or null if none. */
  private firstWaitingArrivalAfter(startUs: number): number | null {
    let first: number | null = null;
    for (const r of this.waiting) {
      if (r.status !== Status.Waiting || r.arrivalUs <= startUs) continue;
      if (first === null || r.arrivalUs < first) first = r.arrivalUs;
    }
    return first;
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    const loopStartUs = this.timers.nowUs();
    for (let guard = 0; ; guard++) {
      const endUs = this.stepEndUs;
      if (this.ff) this.ffComplete();
      else this.completeStep();
      if (this.closed) return;
      const now = this.timers.nowUs();
      this.startStep(Math.max(endUs, now - this.maxLagUs));
      this.flushEvents();
      if (Number.isNaN(this.stepEndUs)) return;
      // Run steps whose modelled end has already passed in this callback (time scales where a
      // step is shorter than the timer granularity, or a process that fell behind), but yield
      // to I/O after a few ms of work so new requests, aborts and scrapes are still served.
      if (this.stepEndUs > now || guard >= 32 || now - loopStartUs > 5000) {
        this.timer = this.timers.at(Math.ceil(this.stepEndUs), this.onTimer);
        return;
      }
    }
  };

  /** Builds the batch of a step starting at `startUs` (see startStep). */
  private schedule(startUs: number): StepShape {
    if (this.offload) this.completeTransfers();
    if (this.needsCompaction) this.compact();
    const batch = this.batch;
    batch.length = 0;
    const acc = this.acc;
    acc.prefillTokens = 0;
    acc.prefillAttentionPairs = 0;
    acc.decodeSeqs = 0;
    acc.kvTokensRead = 0;
    let budget = this.config.maxNumBatchedTokens;
    let preempted = false;

    // 1. Running requests, in order: decodes and unfinished chunked prefills.
    for (let i = 0; i < this.running.length && budget > 0;) {
      const r = this.running[i]!;
      const n = Math.min(r.numTokens - r.numComputed, budget);
      let scheduled = true;
      while (!this.allocateSlots(r, n)) {
        const victim = this.running.pop()!;
        this.preempt(victim);
        preempted = true;
        if (victim === r) {
          scheduled = false;
          break;
        }
      }
      if (!scheduled) break;
      this.addToBatch(batch, r, n);
      budget -= n;
      i++;
    }

    // 2. Waiting requests, FCFS, unless this step had to preempt (vLLM skips admission then).
    if (!preempted) this.admit(startUs, budget, batch);
    acc.numSeqs = batch.length;
    return acc;
  }

  /** Puts `r` with `n` tokens in `batch`, adding to the step's shape (`acc`). */
  private addToBatch(batch: RequestState[], r: RequestState, n: number): void {
    const acc = this.acc;
    r.scheduledTokens = n;
    batch.push(r);
    acc.kvTokensRead += r.numComputed;
    if (n === 1 && r.numOutput > 0 && r.numComputed + 1 === r.promptLen + r.numOutput) acc.decodeSeqs++;
    else {
      acc.prefillTokens += n;
      acc.prefillAttentionPairs += n * (r.numComputed + n / 2);
    }
  }

  /**
   * Admits waiting requests FCFS into `batch` while `budget`, maxNumSeqs and free blocks allow.
   * Admitted requests are taken from the head and removed with one splice (not shift() each).
   */
  private admit(startUs: number, budget: number, batch: RequestState[]): void {
    const { blockSize, maxNumSeqs } = this.config;
    let admitted = 0;
    while (admitted < this.waiting.length && budget > 0 && this.running.length < maxNumSeqs) {
      const r = this.waiting[admitted]!;
      // The queue is in arrival order (requeued requests at its head arrived earlier still), so
      // the first one that arrived after the step began ends admission.
      if (r.arrivalUs > startUs) break;
      let n: number;
      if (r.blocks.length > 0) {
        // Its KV was just loaded from the CPU tier: blocks held, lookups already counted.
        n = Math.min(r.numTokens - r.numComputed, budget);
        const newBlocks = Math.ceil((r.numComputed + n) / blockSize) - r.blocks.length;
        if (newBlocks > this.pool.numFreeBlocks) break;
        if (newBlocks > 0) this.pool.allocateInto(newBlocks, r.blocks);
      } else {
        const cached = this.config.enablePrefixCaching ? this.findCachedPrefix(r) : [];
        const prefixHit = cached.length * blockSize;
        let reclaimed = 0;
        for (const id of cached) if (this.pool.refCount(id) === 0) reclaimed++;
        if (this.offload) {
          const loading = this.startCpuLoad(r, cached, reclaimed);
          if (loading === null) break; // head-of-line waits for blocks
          if (loading) {
            admitted++; // leaves the queue head; still counted waiting, as in vLLM
            continue;
          }
        }
        // On first scheduling only: after a preemption the loaded KV is gone too (recompute).
        const external = r.cachedTokens < 0 ? Math.min(r.externalKvTokens, r.numTokens - 1) : 0;
        const numComputed = Math.max(prefixHit, external);
        n = Math.min(r.numTokens - numComputed, budget);
        const newBlocks = Math.ceil((numComputed + n) / blockSize) - cached.length;
        if (newBlocks + reclaimed > this.pool.numFreeBlocks) break; // head-of-line waits for blocks
        this.pool.touch(cached);
        r.numCachedBlocks = cached.length;
        this.pool.allocateInto(newBlocks, cached); // `cached` is this request's own new array
        r.blocks = cached;
        r.numComputed = numComputed;
        if (this.config.enablePrefixCaching) {
          this.prefixCacheQueries += r.numTokens;
          this.prefixCacheHits += prefixHit;
        }
        if (this.offload || r.cachedTokens < 0) {
          // A connector looked this request up (the CPU tier, or the node's resident tokens).
          this.externalPrefixCacheQueries += r.numTokens;
          this.externalPrefixCacheHits += numComputed - prefixHit;
        }
        if (r.cachedTokens < 0) {
          r.cachedTokens = numComputed;
          r.prefixHitTokens = prefixHit;
        }
      }
      if (r.firstScheduledUs < 0) r.firstScheduledUs = Math.ceil(startUs);
      admitted++;
      this.numWaiting--;
      r.status = Status.Running;
      this.running.push(r);
      this.numRunning++;
      this.addToBatch(batch, r, n);
      budget -= n;
    }
    if (admitted > 0) this.waiting.splice(0, admitted);
  }

  /** Ends the step in flight: advances each request's KV and emits the sampled tokens. */
  private completeStep(): void {
    const now = this.timers.nowUs();
    // Iterate the step's batch while `this.batch` points at the spare buffer, so a callback that
    // schedules (it cannot today) would never disturb this loop; no array is copied per step.
    const batch = this.batch;
    this.batch = this.spareBatch;
    this.spareBatch = batch;
    for (let i = 0; i < batch.length; i++) {
      const r = batch[i]!;
      if (r.status === Status.Running) this.completeRequest(r, now); // else aborted during the step
    }
  }

  /** `r`'s part of the step that just ended: its KV advances; a token is sampled unless mid-prefill. */
  private completeRequest(r: RequestState, now: number): void {
    const blockSize = this.config.blockSize;
    r.numComputed += r.scheduledTokens;
    // Only when a block has just filled (cacheFullBlocks would do nothing otherwise).
    if (this.config.enablePrefixCaching && r.numComputed >= (r.numCachedBlocks + 1) * blockSize)
      this.cacheFullBlocks(r);
    if (this.offload && r.numComputed >= (r.numStoredBlocks + 1) * blockSize) this.storeToCpu(r, now);
    if (r.numComputed < r.numTokens) return; // partial prefill chunk: nothing sampled
    const index = r.numOutput++;
    this.generationTokens++;
    if (index === 0) {
      r.firstTokenUs = now;
      this.promptTokens += r.promptLen;
      this.observer.onFirstToken?.(now - r.arrivalUs);
    } else {
      this.observer.onInterToken?.(now - r.lastTokenUs);
    }
    r.lastTokenUs = now;
    r.listener.onToken(index, r.output[index]!);
    if (r.status === Status.Running && r.numOutput === r.output.length) this.finish(r, r.finishReason, now);
  }

  // --- fast-forward (config.fastForward) -----------------------------------------------------

  /**
   * After a regular schedule: starts a stretch when the batch begins with requests that decode
   * (they become lazy). It lasts until a step would preempt or a write-through store is skipped;
   * everything else (arrivals, prefills, finishes, CPU loads) happens within it, one by one for
   * the requests concerned, in the order the regular loop would take them.
   */
  private ffBegin(): void {
    // A per-token observer sees every token as it is emitted: nothing to skip.
    if (this.observer.onInterToken) return;
    const batch = this.batch;
    let n = 0;
    while (n < batch.length && this.ffCanJoin(batch[n]!)) n++;
    if (n === 0) return;
    this.ff = true;
    this.ffDone = 0;
    this.ffTimesLen = 0;
    this.ffTimesBase = 0;
    this.ffLazy.length = 0;
    this.ffNumLazy = 0;
    this.ffLazyKv = 0;
    const bs = this.config.blockSize;
    if (this.ffBuckets.length !== bs) {
      this.ffBuckets = Array.from({ length: bs }, () => []);
      this.ffBucketStale = new Array<boolean>(bs).fill(false);
    } else {
      for (const b of this.ffBuckets) b.length = 0;
      this.ffBucketStale.fill(false);
    }
    for (let i = 0; i < n; i++) this.ffJoin(batch[i]!);
    this.ffBatch = batch.slice(n);
    this.ffStoreSkipped = false;
  }

  /**
   * Whether `r` (in the step in flight) decodes one token and its blocks are all cached and
   * written through (a lagging block is retried every step, which only the regular path does).
   */
  private ffCanJoin(r: RequestState): boolean {
    if (r.status !== Status.Running || r.scheduledTokens !== 1 || r.numOutput === 0) return false;
    if (r.numComputed + 1 !== r.numTokens) return false;
    const full = Math.floor(r.numComputed / this.config.blockSize);
    if (this.config.enablePrefixCaching && r.numCachedBlocks < full) return false;
    return !this.offload || r.numStoredBlocks >= full;
  }

  /**
   * Makes `r` lazy as of now (`ffDone` steps done): its numComputed / numOutput are those of now
   * (for a request in the step in flight, from before that step).
   */
  private ffJoin(r: RequestState): void {
    const bs = this.config.blockSize;
    const k = this.ffDone;
    r.ffLazy = true;
    r.ffBase = k;
    r.ffJoin = ++this.ffJoins;
    r.scheduledTokens = 1;
    r.ffIndex = this.ffLazy.length;
    this.ffLazy.push(r);
    this.ffNumLazy++;
    this.ffLazyKv += r.numComputed;
    // Step j completes a block when numComputed + (j - k) is a multiple of the block size.
    const b = (((k - r.numComputed) % bs) + bs) % bs;
    r.ffBucket = b;
    this.ffBuckets[b]!.push(r);
    const last = ffFinishStep(r);
    if (last - k >= this.ffFinishes.length) this.ffGrowFinishes(last - k);
    this.ffFinishes[this.ffFinishSlot(last)]!.push(r);
  }

  /** The finish ring's index of stretch step `step`. */
  private ffFinishSlot(step: number): number {
    return step & (this.ffFinishes.length - 1);
  }

  /** Makes the finish ring longer than `distance` steps, each pending list at its new index. */
  private ffGrowFinishes(distance: number): void {
    const old = this.ffFinishes;
    let size = old.length;
    while (size <= distance) size *= 2;
    const ring: RequestState[][] = Array.from({ length: size }, () => []);
    for (const list of old) {
      if (list.length === 0) continue;
      ring[ffFinishStep(list[0]!) & (size - 1)] = list;
    }
    this.ffFinishes = ring;
  }

  /** Drops the finished requests from the bucket of step `k` if it holds any. */
  private ffFreshBucket(k: number): RequestState[] {
    const i = k % this.config.blockSize;
    const bucket = this.ffBuckets[i]!;
    if (this.ffBucketStale[i]) {
      keepLazy(bucket);
      this.ffBucketStale[i] = false;
    }
    return bucket;
  }

  /** completeStep for a stretch step: lazy requests that fill a block or finish, then the rest. */
  private ffComplete(): void {
    const now = this.timers.nowUs();
    const k = ++this.ffDone;
    this.ffTimes[this.ffTimesLen++] = now;
    this.generationTokens += this.ffNumLazy;
    this.ffLazyKv += this.ffNumLazy;
    const bs = this.config.blockSize;
    const caching = this.config.enablePrefixCaching;
    const bucket = this.ffFreshBucket(k);
    // The step's list is swapped for an empty one while it is read: a listener that aborts a
    // request ends the stretch (ffEnd), which empties the lists of the lazy requests left.
    const slot = this.ffFinishSlot(k);
    const finishing = this.ffFinishes[slot]!;
    this.ffFinishes[slot] = this.ffFinishSpare;
    // Merge the two lists (both in queue order): the regular loop takes requests in batch order.
    let bi = 0;
    let fi = 0;
    const nf = finishing.length;
    let finished = 0;
    while (bi < bucket.length || fi < nf) {
      let r: RequestState;
      const b = bi < bucket.length ? bucket[bi]! : null;
      const f = fi < nf ? finishing[fi]! : null;
      if (b && (!f || b.ffJoin <= f.ffJoin)) {
        r = b;
        bi++;
        if (f === b) fi++;
      } else {
        r = f!;
        fi++;
      }
      this.ffCatchUp(r);
      if (caching && r.numComputed >= (r.numCachedBlocks + 1) * bs) this.cacheFullBlocks(r);
      if (this.offload && r.numComputed >= (r.numStoredBlocks + 1) * bs) {
        this.storeToCpu(r, now);
        if (r.numComputed >= (r.numStoredBlocks + 1) * bs) this.ffStoreSkipped = true;
      }
      if (r.numOutput === r.output.length) {
        r.ffLazy = false;
        this.ffLazyKv -= r.numComputed;
        this.ffBucketStale[r.ffBucket] = true;
        if (this.ff) this.ffLazy[r.ffIndex] = null; // (a listener may have ended the stretch)
        finished++;
        this.finish(r, r.finishReason, now);
      }
    }
    finishing.length = 0;
    this.ffFinishSpare = finishing;
    if (finished > 0 && this.ff) {
      this.ffNumLazy -= finished;
      if (this.ffLazy.length > 2 * this.ffNumLazy) dropHoles(this.ffLazy);
    }
    const rest = this.ffBatch;
    for (let i = 0; i < rest.length; i++) {
      const r = rest[i]!;
      if (r.status === Status.Running) this.completeRequest(r, now);
    }
  }

  /**
   * schedule() within a stretch: the lazy requests decode (those that just filled a block get a
   * new one), then the rest of the queue and admissions as in schedule(). Null when the step
   * would preempt (or the stretch must end otherwise): a regular schedule follows.
   */
  private ffSchedule(startUs: number): StepShape | null {
    if (this.ffStoreSkipped) return null;
    if (this.offload) this.completeTransfers();
    if (this.needsCompaction) this.compact();
    const running = this.running;
    const bs = this.config.blockSize;
    // Requests right after the lazy ones that now decode join them.
    let nLazy = this.ffNumLazy;
    while (nLazy < running.length) {
      const r = running[nLazy]!;
      if (!this.ffCanJoinNext(r)) break;
      this.ffJoin(r);
      nLazy++;
    }
    if (nLazy === 0) return null;
    // Past ~4k steps, apply everyone's steps so that the times array can start over.
    if (this.ffTimesLen > 4096) this.ffRebase();
    let budget = this.config.maxNumBatchedTokens - nLazy;
    if (budget < 0) return null;
    // Blocks: the lazy requests that just filled one, then the others in queue order, as the
    // regular loop allocates. Checked first: short of blocks, the regular schedule preempts.
    const bucket = this.ffFreshBucket(this.ffDone);
    let need = 0;
    for (let i = 0; i < bucket.length; i++) {
      const r = bucket[i]!;
      need += Math.max(0, Math.ceil((r.numComputed + (this.ffDone - r.ffBase) + 1) / bs) - r.blocks.length);
    }
    const needLazy = need;
    let end = nLazy;
    let left = budget;
    for (; end < running.length && left > 0; end++) {
      const r = running[end]!;
      const n = Math.min(r.numTokens - r.numComputed, left);
      need += Math.max(0, Math.ceil((r.numComputed + n) / bs) - r.blocks.length);
      left -= n;
    }
    if (need > this.pool.numFreeBlocks) return null;
    // The lazy requests' new blocks come one per request: read ahead what they will touch.
    if (needLazy > 1) this.pool.warmNext(needLazy);
    for (let i = 0; i < bucket.length; i++) {
      const r = bucket[i]!;
      this.ffCatchUp(r);
      this.allocateSlots(r, 1);
    }
    const acc = this.acc;
    acc.prefillTokens = 0;
    acc.prefillAttentionPairs = 0;
    acc.decodeSeqs = nLazy;
    acc.kvTokensRead = this.ffLazyKv;
    const batch = this.ffBatch;
    batch.length = 0;
    for (let i = nLazy; i < end; i++) {
      const r = running[i]!;
      const n = Math.min(r.numTokens - r.numComputed, budget);
      this.allocateSlots(r, n);
      this.addToBatch(batch, r, n);
      budget -= n;
    }
    this.admit(startUs, budget, batch);
    acc.numSeqs = nLazy + batch.length;
    return acc;
  }

  /** ffCanJoin for a request that completed its last step (none is in flight). */
  private ffCanJoinNext(r: RequestState): boolean {
    if (r.status !== Status.Running || r.numOutput === 0 || r.numComputed + 1 !== r.numTokens) return false;
    const full = Math.floor(r.numComputed / this.config.blockSize);
    if (this.config.enablePrefixCaching && r.numCachedBlocks < full) return false;
    return !this.offload || r.numStoredBlocks >= full;
  }

  /** Applies the steps `r` has not seen yet and hands their tokens to its listener. */
  private ffCatchUp(r: RequestState): void {
    const from = r.ffBase;
    const d = this.ffDone - from;
    if (d === 0) return;
    const first = r.numOutput;
    r.numComputed += d;
    r.numOutput += d;
    const times = this.ffTimes;
    const at = from - this.ffTimesBase;
    r.lastTokenUs = times[at + d - 1]!;
    r.ffBase = this.ffDone;
    if (r.listener.onTokens) r.listener.onTokens(first, d, times, at);
    else for (let i = first; i < first + d; i++) r.listener.onToken(i, r.output[i]!);
  }

  /** Every lazy request catches up, so the times recorded so far are no longer needed. */
  private ffRebase(): void {
    for (const r of dropHoles(this.ffLazy)) this.ffCatchUp(r);
    this.ffTimesBase = this.ffDone;
    this.ffTimesLen = 0;
  }

  /**
   * Ends the stretch: every lazy request catches up and becomes a regular one. The step in
   * flight, if any, then completes regularly: its batch is the lazy requests and `ffBatch`.
   */
  private ffEnd(): void {
    this.ff = false;
    const lazy = dropHoles(this.ffLazy);
    for (let i = 0; i < lazy.length; i++) {
      const r = lazy[i]!;
      this.ffCatchUp(r);
      r.ffLazy = false;
      // Its finish step's list (empty again once every lazy request's is): the ring starts over.
      this.ffFinishes[this.ffFinishSlot(ffFinishStep(r))]!.length = 0;
    }
    const batch = this.batch;
    batch.length = 0;
    for (const r of lazy) batch.push(r);
    for (const r of this.ffBatch) batch.push(r);
    this.ffLazy = [];
    this.ffNumLazy = 0;
    this.ffBatch = [];
  }

  // --- KV blocks ----------------------------------------------------------------------------

  /** Ensures `r` has blocks for its computed tokens plus `n` more; false if the pool is short. */
  private allocateSlots(r: RequestState, n: number): boolean {
    const need = Math.ceil((r.numComputed + n) / this.config.blockSize) - r.blocks.length;
    if (need <= 0) return true;
    return this.pool.allocateInto(need, r.blocks);
  }

  private blockHash(r: RequestState, k: number): number {
    const hashes = r.blockHashes;
    if (k >= hashes.length) throw new RangeError(`block ${k} of request ${r.id} is past its tokens`);
    const bs = this.config.blockSize;
    const { prompt, output } = r;
    while (r.numHashes <= k) {
      const j = r.numHashes++;
      hashes[j] = hashBlockOf(j === 0 ? NO_HASH : hashes[j - 1]!, prompt, output, j * bs, bs);
    }
    return hashes[k]!;
  }

  /**
   * The longest run of cached full blocks matching the request's tokens from the start. At most
   * numTokens - 1 tokens may hit: the last one is always recomputed to produce logits (vLLM).
   */
  private findCachedPrefix(r: RequestState): number[] {
    const maxBlocks = Math.floor((r.numTokens - 1) / this.config.blockSize);
    const out: number[] = [];
    for (let k = 0; k < maxBlocks; k++) {
      const id = this.pool.lookup(this.blockHash(r, k));
      if (id < 0) break;
      out.push(id);
    }
    return out;
  }

  /**
   * Registers the request's newly filled blocks (prompt or output) in the prefix cache. With
   * events, announces them as vLLM's cache_full_blocks does: one BlockStored per request per step
   * (per run of consecutive blocks, when a block in the middle was already cached by another
   * request and so is not announced again).
   */
  private cacheFullBlocks(r: RequestState): void {
    const full = Math.floor(r.numComputed / this.config.blockSize);
    const from = r.numCachedBlocks;
    if (full <= from) return;
    // Hashes first, then the pool's reads for all the blocks in one tight loop (BlockPool.warm),
    // then the registrations: each is a cache miss or two at a random slot, and this way the
    // misses overlap instead of queueing behind the hashing and each other.
    this.blockHash(r, full - 1);
    const { blocks, blockHashes } = r;
    if (full - from > 1) this.pool.warm(blocks, blockHashes, from, full);
    if (this.events) {
      let runStart = -1;
      for (let k = from; k < full; k++) {
        const fresh = this.pool.cache(blocks[k]!, blockHashes[k]!);
        if (fresh && runStart < 0) runStart = k;
        else if (!fresh && runStart >= 0) {
          this.events.push(this.gpuBlockStored(r, runStart, k));
          runStart = -1;
        }
      }
      if (runStart >= 0) this.events.push(this.gpuBlockStored(r, runStart, full));
    } else {
      for (let k = from; k < full; k++) this.pool.cache(blocks[k]!, blockHashes[k]!);
    }
    r.numCachedBlocks = full;
  }

  private gpuBlockStored(r: RequestState, first: number, end: number) {
    const { hashAt, tokenAt } = this.sourceOf(r);
    return blockStored("GPU", this.config.blockSize, first, end, hashAt, tokenAt);
  }

  private sourceOf(r: RequestState): BlockSource {
    if (!r.source) r.source = { hashAt: (k) => this.blockHash(r, k), tokenAt: (i) => r.tokenAt(i) };
    return r.source;
  }

  // --- CPU offload tier (vLLM's OffloadingConnector, native CPU backend) ----------------------

  /**
   * After the GPU prefix hit (`cached`), looks the request's next blocks up in the CPU tier. On a
   * hit, holds GPU blocks for them and starts the CPU -> GPU copy; the request waits for it
   * (WAITING_FOR_REMOTE_KVS) while others keep running. Returns true when a load started, false
   * on a miss, null when the GPU has no room for the loaded blocks yet.
   */
  private startCpuLoad(r: RequestState, cached: number[], reclaimed: number): boolean | null {
    const offload = this.offload!;
    const bs = this.config.blockSize;
    const seq = this.sourceOf(r);
    // At most numTokens - 1 tokens may be supplied: the last one is recomputed for its logits.
    const maxBlocks = Math.floor((r.numTokens - 1) / bs);
    offload.touch(seq, 0, Math.floor(r.numTokens / bs));
    const hits = offload.lookup(seq, cached.length, maxBlocks);
    if (hits === 0) return false;
    if (hits + reclaimed > this.pool.numFreeBlocks) return null;
    const now = this.timers.nowUs();
    const gpuHits = cached.length;
    this.pool.touch(cached);
    this.pool.allocateInto(hits, cached); // `cached` is this request's own new array
    r.blocks = cached;
    r.numCachedBlocks = gpuHits;
    r.numComputed = gpuHits * bs;
    if (this.config.enablePrefixCaching) {
      this.prefixCacheQueries += r.numTokens;
      this.prefixCacheHits += gpuHits * bs;
    }
    this.externalPrefixCacheQueries += r.numTokens;
    this.externalPrefixCacheHits += hits * bs;
    if (r.cachedTokens < 0) {
      r.cachedTokens = (gpuHits + hits) * bs;
      r.prefixHitTokens = gpuHits * bs;
    }
    r.status = Status.Loading;
    offload.load(now, seq, gpuHits, gpuHits + hits, r);
    return true;
  }

  /**
   * Completes the copies that have ended: stores become findable (BlockStored CPU); each loaded
   * request counts its KV as computed, caches the loaded blocks on the GPU (BlockStored GPU, as
   * vLLM caches them after the load) and goes back to the queue head.
   */
  private completeTransfers(): void {
    const loaded = this.offload!.advance(this.timers.nowUs());
    if (loaded.length === 0) return;
    const ready: RequestState[] = [];
    for (const r of loaded) {
      if (r.status !== Status.Loading) continue; // aborted meanwhile
      r.numComputed = r.blocks.length * this.config.blockSize;
      r.numStoredBlocks = Math.max(r.numStoredBlocks, r.blocks.length);
      if (this.config.enablePrefixCaching) this.cacheFullBlocks(r);
      r.status = Status.Waiting;
      ready.push(r);
    }
    if (ready.length > 0) this.waiting.unshift(...ready);
  }

  /** Writes the request's newly filled blocks through to the CPU tier (asynchronous copy). */
  private storeToCpu(r: RequestState, now: number): void {
    const full = Math.floor(r.numComputed / this.config.blockSize);
    // When the tier has nothing evictable the store is skipped and retried next step (vLLM).
    if (this.offload!.store(now, this.sourceOf(r), r.numStoredBlocks, full)) r.numStoredBlocks = full;
  }

  /** Hands the step's events to the sink, one batch, only when there are any. */
  private flushEvents(): void {
    if (this.events && this.events.length > 0)
      this.kvEventSink!.publish(this.events.take(), this.timers.nowUs());
  }

  // --- transitions --------------------------------------------------------------------------

  /** Preemption by recompute: free the blocks, forget the progress, go back to the queue head. */
  private preempt(r: RequestState): void {
    this.pool.free(r.blocks);
    r.blocks = [];
    r.numComputed = 0;
    r.numCachedBlocks = 0;
    r.status = Status.Waiting;
    this.numRunning--;
    this.waiting.unshift(r);
    this.numWaiting++;
    r.numPreemptions++;
    this.numPreemptions++;
  }

  private finish(r: RequestState, reason: FinishReason, now: number): void {
    if (r.status === Status.Running) this.numRunning--;
    else if (r.status === Status.Waiting || r.status === Status.Loading) this.numWaiting--;
    else return;
    r.status = Status.Done;
    this.needsCompaction = true;
    this.pool.free(r.blocks);
    r.blocks = [];
    this.byId.delete(r.id);
    this.finished[reason]++;
    const summary: RequestSummary = {
      id: r.id,
      finishReason: reason,
      promptTokens: r.promptLen,
      completionTokens: r.numOutput,
      cachedTokens: Math.max(0, r.cachedTokens),
      prefixHitTokens: r.prefixHitTokens,
      numPreemptions: r.numPreemptions,
      arrivalUs: r.arrivalUs,
      firstScheduledUs: r.firstScheduledUs,
      firstTokenUs: r.firstTokenUs,
      finishUs: now,
      maxTokens: r.maxTokens,
    };
    this.observer.onFinish?.(summary);
    r.listener.onFinish(summary);
  }

  /** Drops finished requests from the queues (done lazily: O(n) once per step, not per finish). */
  private compact(): void {
    this.needsCompaction = false;
    keepStatus(this.running, Status.Running);
    keepStatus(this.waiting, Status.Waiting);
  }
}
