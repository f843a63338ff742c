import { SlotMap, type TimerHandle, type Timers } from "@symphony/common";
import { KvBudget, TransferModel } from "./kv-budget";
import { RequestQueue, type PriorityClass } from "./request-queue";
import type { ResidencyPolicy } from "./residency-policy";
import { SessionTable, type SessionState, type Tier } from "./session-table";

export interface NodeCoreConfig {
  /** GPU KV budget in tokens (what the engine can hold for Symphony's sessions). */
  gpuBudgetTokens: number;
  /** Host-memory (offload) KV budget in tokens; 0 disables offloading (demotion = eviction). */
  cpuBudgetTokens: number;
  /** KV bytes per token, for byte figures and transfer times. */
  bytesPerToken: number;
  /** GPU<->host copy bandwidth, GB/s (1e9 bytes/s). */
  offloadGBps: number;
  /** Most turns admitted at once (restoring + running on the engine). */
  maxRunning: number;
  /** Most turns waiting in the queue; more are refused with RESOURCE_EXHAUSTED. */
  maxQueue: number;
  /** A prefetch aims to finish this long before the hinted arrival, µs. */
  prefetchMarginUs: number;
  /**
   * Fraction of the GPU budget (0..1) to keep free by offloading idle sessions ahead of demand,
   * so arriving turns need not wait for a copy out. 0 = offload only on demand. Proactive
   * offloads never evict and never touch a session whose hint says it is needed soon.
   */
  gpuFreeTarget?: number;
  /**
   * Model GPU<->host copies as taking time (default true): turns restored from the CPU tier wait
   * for the modelled copy. That is right only for an engine that takes the node's directives and
   * moves KV when told (`--prefetch-mode directive`). A stock engine (vLLM) moves its own KV, so
   * against it the tiers are admission bookkeeping only and every copy completes at once: the node
   * never delays a turn by a copy the engine does not make.
   */
  modelTransfers?: boolean;
  policy: ResidencyPolicy;
}

/** One turn as the domain sees it (the transport has validated and counted it). */
export interface TurnRequest {
  /**
   * The turn's id, unique among the node's open turns (the transport passes session_id and
   * request_id combined, since a client's request_id is only unique within its session).
   */
  requestId: string;
  sessionId: string;
  turnIndex: number;
  priority: PriorityClass;
  /** Prompt tokens of this turn (whole context), as counted by the node. */
  promptTokens: number;
  maxOutputTokens: number;
  /** Last turn of the session: release its KV when it ends. */
  isLast: boolean;
  /** Absolute deadline on the core's clock, µs (undefined = none). */
  deadlineUs?: number;
}

/** Where the session's KV was when the turn arrived. "new" = the node has no record of the session. */
export type ArrivalTier = Tier | "new";

/** "Start the engine call for this turn now." */
export interface Dispatch {
  requestId: string;
  sessionId: string;
  kvTier: ArrivalTier;
  /** Arrival until admission, µs. */
  queueTimeUs: number;
  /** Admission until dispatch: time restoring the session's KV to the GPU, µs. */
  kvRestoreUs: number;
  /**
   * Tokens of the session's earlier context whose KV is on the GPU now (kept there, or just
   * restored from CPU); 0 when it was evicted or is new. An engine with a KV connector loads
   * these instead of recomputing them.
   */
  residentKvTokens: number;
}

/** A turn the core ended itself. `code` is a gRPC status name. */
export interface TurnFailure {
  code: "RESOURCE_EXHAUSTED" | "DEADLINE_EXCEEDED" | "INVALID_ARGUMENT";
  message: string;
  retryable: boolean;
}

/** How the core talks back to its transport. Both may be called synchronously from any core method. */
export interface NodeCoreHooks {
  dispatch(d: Dispatch): void;
  /** The core ended an accepted turn (its deadline passed); abort its engine call if it has one. */
  fail(requestId: string, failure: TurnFailure): void;
}

export type SubmitResult =
  { accepted: true; kvTier: ArrivalTier } | { accepted: false; failure: TurnFailure };

export interface EngineUsage {
  promptTokens: number;
  completionTokens: number;
}

/** Monotonic counters (tokens; multiply by bytesPerToken for bytes). */
export interface NodeCoreStats {
  submitted: number;
  rejectedQueueFull: number;
  rejectedTooLarge: number;
  completed: number;
  failed: number;
  cancelled: number;
  deadlineExceeded: number;
  /** Returning turn found its session on the GPU. */
  hitsGpu: number;
  /** Returning turn found its session on the CPU tier (hit after restore). */
  hitsCpu: number;
  /** Returning turn (turn_index > 0) whose session was evicted or unknown here. */
  misses: number;
  /** First turns of sessions new to this node (neither hit nor miss). */
  newSessions: number;
  offloads: number;
  offloadTokens: number;
  offloadsCancelled: number;
  prefetches: number;
  prefetchTokens: number;
  restores: number;
  restoreTokens: number;
  evictions: number;
  evictedTokens: number;
}

export interface TierStatus {
  name: "gpu" | "cpu";
  usedTokens: number;
  budgetTokens: number;
  usedBytes: number;
  budgetBytes: number;
  sessions: number;
}

export interface NodeCoreStatus {
  queueDepth: number;
  running: number;
  residentSessions: number;
  tiers: TierStatus[];
  /** hitsGpu + hitsCpu. */
  sessionHits: number;
  sessionMisses: number;
}

interface TurnEntry {
  req: TurnRequest;
  arrivalUs: number;
  kvTier: ArrivalTier;
  state: "queued" | "restoring" | "running";
  /** GPU tokens this turn holds beyond its session's KV (prompt growth + output). */
  reservedTokens: number;
  /** This turn is its session's first active one and so carries the session's KV forward. */
  ownsSessionKv: boolean;
  admittedUs: number;
  deadlineTimer?: TimerHandle;
}

/** A just-finished session is not offloaded proactively for this long, so its hint can arrive first (µs). */
export const HINT_GRACE_US = 100_000;

function emptyStats(): NodeCoreStats {
  return {
    submitted: 0,
    rejectedQueueFull: 0,
    rejectedTooLarge: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    deadlineExceeded: 0,
    hitsGpu: 0,
    hitsCpu: 0,
    misses: 0,
    newSessions: 0,
    offloads: 0,
    offloadTokens: 0,
    offloadsCancelled: 0,
    prefetches: 0,
    prefetchTokens: 0,
    restores: 0,
    restoreTokens: 0,
    evictions: 0,
    evictedTokens: 0,
  };
}

/**
 * The node's brain: queue, admission against the KV budget, session residency. Synchronous and
 * driven by method calls and the injected Timers only, so it runs unchanged live and in a
 * virtual-time simulation. It decides *when* a turn goes to the engine (`hooks.dispatch`); the
 * transport does the I/O and reports back with `onFinished` / `onFailed` / `cancel`.
 *
 * Admission: a turn needs `max(promptTokens, session KV) + maxOutputTokens` GPU tokens. The
 * queue head is admitted when that fits (after demoting idle sessions as the policy orders
 * them); otherwise everything waits (strict priority, no overtaking, so big turns do not starve).
 */
/** Stands in for the timer of a copy that completed at once (never scheduled, never cancelled). */
const NO_TIMER: TimerHandle = { id: -1 };

export class NodeCore {
  readonly gpu: KvBudget;
  readonly cpu: KvBudget;
  readonly sessions = new SessionTable();
  readonly stats: NodeCoreStats = emptyStats();
  private readonly transfers: TransferModel;
  private readonly queue: RequestQueue<TurnEntry>;
  private readonly entries = new SlotMap<string, TurnEntry>();
  /** Admitted turns waiting for their session's KV to land on the GPU, by session id. */
  private readonly restoring = new Map<string, Set<TurnEntry>>();
  /** Sessions whose prefetch is due but waits for GPU room, in due order. */
  private readonly prefetchWanted = new Set<string>();
  /** GPU tokens that in-flight offloads will free when they complete. */
  private pendingGpuRelease = 0;
  private admittedCount = 0;
  private pumping = false;
  private pumpAgain = false;

  constructor(
    private readonly config: NodeCoreConfig,
    private readonly timers: Timers,
    private readonly hooks: NodeCoreHooks,
  ) {
    this.gpu = new KvBudget("gpu", config.gpuBudgetTokens, config.bytesPerToken);
    this.cpu = new KvBudget("cpu", config.cpuBudgetTokens, config.bytesPerToken);
    this.transfers = new TransferModel(config.bytesPerToken, config.offloadGBps);
    this.queue = new RequestQueue(config.maxQueue);
  }

  get policyName(): string {
    return this.config.policy.name;
  }

  /** Turns admitted (restoring or running). */
  get running(): number {
    return this.admittedCount;
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  /**
   * The GPU budget becomes `tokens` (a stock engine's real KV capacity, read from its metrics).
   * Turns already admitted keep their reservations; waiting ones are admitted against the new size.
   */
  setGpuBudget(tokens: number): void {
    this.gpu.resize(tokens);
    this.pump();
  }

  /** Estimated one-way transfer time of `tokens` of KV, µs. */
  transferUs(tokens: number): number {
    return this.transfers.durationUs(tokens);
  }

  /**
   * Accepts a turn into the queue (it may be dispatched before this returns) or refuses it:
   * RESOURCE_EXHAUSTED when it can never fit the GPU budget or the queue is full.
   */
  submit(req: TurnRequest): SubmitResult {
    const now = this.timers.nowUs();
    this.stats.submitted++;
    const existing = this.sessions.get(req.sessionId);
    const need = Math.max(req.promptTokens, existing?.kvTokens ?? 0) + req.maxOutputTokens;
    if (need > this.gpu.budgetTokens) {
      this.stats.rejectedTooLarge++;
      return {
        accepted: false,
        failure: {
          code: "RESOURCE_EXHAUSTED",
          message:
            `request needs ${need} KV tokens (prompt ${Math.max(req.promptTokens, existing?.kvTokens ?? 0)} + ` +
            `max_output_tokens ${req.maxOutputTokens}) but this node's whole GPU KV budget is ` +
            `${this.gpu.budgetTokens} tokens`,
          retryable: false,
        },
      };
    }
    if (this.queue.isFull) {
      this.stats.rejectedQueueFull++;
      return {
        accepted: false,
        failure: {
          code: "RESOURCE_EXHAUSTED",
          message: `node queue is full (${this.queue.maxLength} waiting turns, --max-queue)`,
          retryable: true,
        },
      };
    }

    const session = this.sessions.getOrCreate(req.sessionId, now);
    // An offload still copying can be abandoned: the data never left the GPU.
    if (session.transfer?.reason === "offload") this.cancelOffload(session);
    const kvTier: ArrivalTier = existing === undefined ? "new" : session.tier;
    this.countArrival(kvTier, req.turnIndex);
    if (session.hint && req.turnIndex >= session.hint.nextTurnIndex) this.clearHint(session);
    this.prefetchWanted.delete(session.id);
    session.queued++;
    session.lastUsedUs = now;
    session.closing = false;

    const entry: TurnEntry = {
      req,
      arrivalUs: now,
      kvTier,
      state: "queued",
      reservedTokens: 0,
      ownsSessionKv: false,
      admittedUs: 0,
    };
    this.entries.set(req.requestId, entry);
    this.queue.push(req.requestId, req.priority, entry);
    if (req.deadlineUs !== undefined) {
      entry.deadlineTimer = this.timers.at(req.deadlineUs, () => this.onDeadline(req.requestId));
    }
    this.pump();
    return { accepted: true, kvTier };
  }

  /** The engine finished the turn; `usage` sizes the session's KV from now on (prompt + completion). */
  onFinished(requestId: string, usage: EngineUsage): void {
    const entry = this.entries.get(requestId);
    if (!entry || entry.state !== "running") return;
    this.stats.completed++;
    const session = this.release(entry);
    if (session) {
      const newKv = usage.promptTokens + usage.completionTokens;
      // A bad count (NaN, negative, fractional) must never reach the budget: keep the old size.
      const valid = Number.isSafeInteger(newKv) && newKv >= 0;
      if (valid && (entry.ownsSessionKv || newKv > session.kvTokens)) this.resizeSessionKv(session, newKv);
      session.lastUsedUs = this.timers.nowUs();
      if (entry.req.isLast) session.closing = true;
      this.maybeReleaseClosing(session);
    }
    this.pump();
  }

  /** The engine call failed; the session keeps the KV of its last good turn. */
  onFailed(requestId: string): void {
    const entry = this.entries.get(requestId);
    if (!entry || entry.state === "queued") return;
    this.stats.failed++;
    const session = this.release(entry);
    if (session) this.maybeReleaseClosing(session);
    this.pump();
  }

  /** The caller went away: drop the turn wherever it is. Returns false for an unknown id. */
  cancel(requestId: string): boolean {
    const entry = this.entries.get(requestId);
    if (!entry) return false;
    this.stats.cancelled++;
    const session = this.release(entry);
    if (session) this.maybeReleaseClosing(session);
    this.pump();
    return true;
  }

  /**
   * Records "session's next turn comes in about `expectedArrivalMs`". With a hint-using policy,
   * schedules a prefetch to finish `prefetchMarginUs` before then. Returns false when the
   * session is unknown here.
   */
  advise(hint: {
    sessionId: string;
    expectedArrivalMs: number;
    expectedPromptTokens: number;
    nextTurnIndex: number;
  }): boolean {
    const session = this.sessions.get(hint.sessionId);
    if (!session) return false;
    const now = this.timers.nowUs();
    this.clearHint(session);
    const expectedArrivalUs = now + hint.expectedArrivalMs * 1000;
    session.hint = {
      expectedArrivalUs,
      expectedPromptTokens: hint.expectedPromptTokens,
      nextTurnIndex: hint.nextTurnIndex,
    };
    if (this.config.policy.prefetchOnHint && this.config.modelTransfers !== false) {
      const startUs = expectedArrivalUs - this.transferUs(session.kvTokens) - this.config.prefetchMarginUs;
      session.hint.prefetchTimer = this.timers.at(startUs, () => this.onPrefetchDue(session.id));
    }
    return true;
  }

  /**
   * Forgets a session and frees its KV. Unknown session: `released: false`. With turns still
   * active or queued, the KV is freed when the last of them ends (reported as released now).
   */
  closeSession(sessionId: string): { released: boolean; releasedKvTokens: number } {
    const session = this.sessions.get(sessionId);
    if (!session) return { released: false, releasedKvTokens: 0 };
    const kv = session.kvTokens;
    this.clearHint(session);
    this.prefetchWanted.delete(sessionId);
    session.closing = true;
    this.maybeReleaseClosing(session);
    this.pump();
    return { released: true, releasedKvTokens: kv };
  }

  status(): NodeCoreStatus {
    const tier = (b: KvBudget): TierStatus => ({
      name: b.name,
      usedTokens: b.usedTokens,
      budgetTokens: b.budgetTokens,
      usedBytes: b.usedBytes,
      budgetBytes: b.budgetBytes,
      sessions: this.sessions.countIn(b.name),
    });
    return {
      queueDepth: this.queue.length,
      running: this.admittedCount,
      residentSessions: this.sessions.residentCount,
      tiers: [tier(this.gpu), tier(this.cpu)],
      sessionHits: this.stats.hitsGpu + this.stats.hitsCpu,
      sessionMisses: this.stats.misses,
    };
  }

  // ---- admission ----------------------------------------------------------------------------

  /** Admits queue heads while slots and KV allow, then starts waiting prefetches. Re-entrant safe. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      do {
        this.pumpAgain = false;
        let headBlockedOnKv = false;
        while (this.admittedCount < this.config.maxRunning) {
          const head = this.queue.peek();
          if (!head) break;
          if (!this.tryAdmit(head)) {
            headBlockedOnKv = true;
            break;
          }
        }
        // Waiting turns come first: prefetches only use room nobody queued needs.
        if (!headBlockedOnKv) {
          this.startWantedPrefetches();
          this.keepGpuHeadroom();
        }
      } while (this.pumpAgain);
    } finally {
      this.pumping = false;
    }
  }

  private tryAdmit(entry: TurnEntry): boolean {
    const session = this.sessions.getOrCreate(entry.req.sessionId, this.timers.nowUs());
    const owns = session.active === 0;
    const need = Math.max(entry.req.promptTokens, session.kvTokens) + entry.req.maxOutputTokens;
    const extra = owns ? need - session.kvTokens : need;
    const restore = session.tier === "cpu" && session.transfer === undefined;
    const gpuNeeded = extra + (restore ? session.kvTokens : 0);
    if (!this.gpu.fits(gpuNeeded)) {
      this.makeGpuRoom(gpuNeeded, session.id);
      if (!this.gpu.fits(gpuNeeded)) return false;
    }
    const now = this.timers.nowUs();
    // Demoted while it waited, but the copy has not finished: keep the data where it is.
    if (session.transfer?.reason === "offload") this.cancelOffload(session);
    this.queue.remove(entry.req.requestId);
    session.queued--;
    session.active++;
    this.admittedCount++;
    entry.admittedUs = now;
    entry.ownsSessionKv = owns;
    entry.reservedTokens = extra;
    this.gpu.forceReserve(extra);
    if (session.tier === "evicted") {
      this.sessions.setTier(session, "gpu");
      session.kvTokens = 0;
    }
    if (restore) this.startToGpu(session, "restore");
    if (session.transfer?.direction === "toGpu") {
      entry.state = "restoring"; // dispatched when the copy lands (onToGpuDone)
      const waiting = this.restoring.get(session.id) ?? new Set<TurnEntry>();
      waiting.add(entry);
      this.restoring.set(session.id, waiting);
    } else {
      this.dispatch(entry);
    }
    return true;
  }

  private dispatch(entry: TurnEntry): void {
    entry.state = "running";
    const now = this.timers.nowUs();
    this.hooks.dispatch({
      requestId: entry.req.requestId,
      sessionId: entry.req.sessionId,
      kvTier: entry.kvTier,
      queueTimeUs: entry.admittedUs - entry.arrivalUs,
      kvRestoreUs: now - entry.admittedUs,
      residentKvTokens: this.sessions.get(entry.req.sessionId)?.kvTokens ?? 0,
    });
  }

  /** Removes an entry from wherever it is and frees what it holds; returns its session. */
  private release(entry: TurnEntry): SessionState | undefined {
    this.entries.delete(entry.req.requestId);
    if (entry.deadlineTimer) this.timers.cancel(entry.deadlineTimer);
    const session = this.sessions.get(entry.req.sessionId);
    if (entry.state === "queued") {
      this.queue.remove(entry.req.requestId);
      if (session) session.queued--;
    } else {
      if (entry.state === "restoring") this.restoring.get(entry.req.sessionId)?.delete(entry);
      this.admittedCount--;
      this.gpu.release(entry.reservedTokens);
      if (session) session.active--;
    }
    return session;
  }

  private onDeadline(requestId: string): void {
    const entry = this.entries.get(requestId);
    if (!entry) return;
    entry.deadlineTimer = undefined;
    this.stats.deadlineExceeded++;
    const where = entry.state === "queued" ? "while queued" : `while ${entry.state}`;
    const elapsedMs = Math.round((this.timers.nowUs() - entry.arrivalUs) / 1000);
    const session = this.release(entry);
    if (session) this.maybeReleaseClosing(session);
    this.hooks.fail(requestId, {
      code: "DEADLINE_EXCEEDED",
      message: `deadline exceeded ${where} after ${elapsedMs} ms`,
      retryable: false,
    });
    this.pump();
  }

  private countArrival(tier: ArrivalTier, turnIndex: number): void {
    if (tier === "gpu") this.stats.hitsGpu++;
    else if (tier === "cpu") this.stats.hitsCpu++;
    else if (tier === "new" && turnIndex === 0) this.stats.newSessions++;
    else this.stats.misses++;
  }

  /** Sets a GPU-resident session's KV size, adjusting the GPU budget by the difference. */
  private resizeSessionKv(session: SessionState, tokens: number): void {
    const delta = tokens - session.kvTokens;
    if (delta > 0) this.gpu.forceReserve(delta);
    else this.gpu.release(-delta);
    session.kvTokens = tokens;
  }

  // ---- residency ----------------------------------------------------------------------------

  /**
   * Demotes idle GPU sessions, in policy order, until `tokens` are free or will be once the
   * started offloads land. `below` limits victims to sessions the policy values less than it
   * (so a prefetch never displaces a session needed sooner).
   */
  private makeGpuRoom(tokens: number, exceptSessionId: string, below?: SessionState): void {
    if (this.gpu.freeTokens + this.pendingGpuRelease >= tokens) return;
    const now = this.timers.nowUs();
    const policy = this.config.policy;
    // Sessions with a queued turn are demoted only after all others (their turn would have to
    // restore), and never for a prefetch; without them the node could deadlock with a GPU full
    // of sessions that all wait behind a head that does not fit.
    const victims = [...this.sessions.inTier("gpu")].filter(
      (s) =>
        s.tier === "gpu" &&
        s.transfer === undefined &&
        s.active === 0 &&
        s.kvTokens > 0 &&
        s.id !== exceptSessionId &&
        (below === undefined || (s.queued === 0 && policy.compare(s, below, now) < 0)),
    );
    takeInOrder(
      victims,
      (a, b) => Number(a.queued > 0) - Number(b.queued > 0) || policy.compare(a, b, now),
      () => this.gpu.freeTokens + this.pendingGpuRelease >= tokens,
      (victim) => this.demote(victim),
    );
  }

  /** Offloads idle sessions (policy order) until `gpuFreeTarget` of the budget is free or freeing. */
  private keepGpuHeadroom(): void {
    const fraction = this.config.gpuFreeTarget ?? 0;
    if (fraction <= 0) return;
    const target = Math.floor(this.gpu.budgetTokens * fraction);
    if (this.gpu.freeTokens + this.pendingGpuRelease >= target) return;
    const now = this.timers.nowUs();
    const policy = this.config.policy;
    const soonUs = this.config.prefetchMarginUs;
    const victims = [...this.sessions.inTier("gpu")].filter(
      (s) =>
        s.transfer === undefined &&
        s.active === 0 &&
        s.queued === 0 &&
        s.kvTokens > 0 &&
        // Just finished: give its client time to send the hint for the next turn.
        now - s.lastUsedUs >= HINT_GRACE_US &&
        // A session due back within its own copy-out + copy-in time is worth keeping.
        !policy.neededWithin(s, now, 2 * this.transferUs(s.kvTokens) + soonUs),
    );
    takeInOrder(
      victims,
      (a, b) => policy.compare(a, b, now),
      () => this.gpu.freeTokens + this.pendingGpuRelease >= target,
      (victim) => {
        if (this.cpu.fits(victim.kvTokens)) this.startOffload(victim);
      },
    );
  }

  /** Moves an idle GPU session to the CPU tier if it (or room made there) allows, else evicts it. */
  private demote(victim: SessionState): void {
    const kv = victim.kvTokens;
    if (kv <= this.cpu.budgetTokens && !this.cpu.fits(kv)) {
      const now = this.timers.nowUs();
      const policy = this.config.policy;
      const cpuVictims = [...this.sessions.inTier("cpu")].filter(
        (s) =>
          s.tier === "cpu" &&
          s.transfer === undefined &&
          s.active === 0 &&
          s.queued === 0 &&
          policy.compare(s, victim, now) < 0,
      );
      takeInOrder(
        cpuVictims,
        (a, b) => policy.compare(a, b, now),
        () => this.cpu.fits(kv),
        (c) => this.evict(c),
      );
    }
    if (this.cpu.fits(kv) && this.cpu.budgetTokens > 0) this.startOffload(victim);
    else this.evict(victim);
  }

  private evict(session: SessionState): void {
    (session.tier === "gpu" ? this.gpu : this.cpu).release(session.kvTokens);
    this.stats.evictions++;
    this.stats.evictedTokens += session.kvTokens;
    session.kvTokens = 0;
    this.sessions.setTier(session, "evicted");
    this.prefetchWanted.delete(session.id);
  }

  private startOffload(session: SessionState): void {
    const now = this.timers.nowUs();
    const tokens = session.kvTokens;
    this.cpu.forceReserve(tokens);
    this.pendingGpuRelease += tokens;
    this.stats.offloads++;
    this.stats.offloadTokens += tokens;
    if (this.config.modelTransfers === false) {
      session.transfer = {
        direction: "toCpu",
        reason: "offload",
        tokens,
        startUs: now,
        doneUs: now,
        handle: NO_TIMER,
      };
      this.onOffloadDone(session);
      return;
    }
    const doneUs = this.transfers.schedule("toCpu", tokens, now);
    const handle = this.timers.at(doneUs, () => this.onOffloadDone(session));
    session.transfer = { direction: "toCpu", reason: "offload", tokens, startUs: now, doneUs, handle };
  }

  private onOffloadDone(session: SessionState): void {
    const t = session.transfer;
    if (!t || t.reason !== "offload") return;
    session.transfer = undefined;
    this.pendingGpuRelease -= t.tokens;
    this.gpu.release(t.tokens);
    this.sessions.setTier(session, "cpu");
    this.pump();
  }

  private cancelOffload(session: SessionState): void {
    const t = session.transfer;
    if (!t || t.reason !== "offload") return;
    this.timers.cancel(t.handle);
    session.transfer = undefined;
    this.pendingGpuRelease -= t.tokens;
    this.cpu.release(t.tokens);
    this.stats.offloadsCancelled++;
  }

  /** Starts copying a CPU session back; the caller has checked that its KV fits the GPU. */
  private startToGpu(session: SessionState, reason: "prefetch" | "restore"): void {
    const now = this.timers.nowUs();
    const tokens = session.kvTokens;
    this.gpu.forceReserve(tokens);
    if (reason === "prefetch") {
      this.stats.prefetches++;
      this.stats.prefetchTokens += tokens;
    } else {
      this.stats.restores++;
      this.stats.restoreTokens += tokens;
    }
    if (this.config.modelTransfers === false) {
      session.transfer = { direction: "toGpu", reason, tokens, startUs: now, doneUs: now, handle: NO_TIMER };
      this.onToGpuDone(session);
      return;
    }
    const doneUs = this.transfers.schedule("toGpu", tokens, now);
    const handle = this.timers.at(doneUs, () => this.onToGpuDone(session));
    session.transfer = { direction: "toGpu", reason, tokens, startUs: now, doneUs, handle };
  }

  private onToGpuDone(session: SessionState): void {
    const t = session.transfer;
    if (!t || t.direction !== "toGpu") return;
    session.transfer = undefined;
    this.cpu.release(t.tokens);
    this.sessions.setTier(session, "gpu");
    const waiting = this.restoring.get(session.id);
    this.restoring.delete(session.id);
    for (const entry of waiting ?? []) this.dispatch(entry);
    this.pump();
  }

  private onPrefetchDue(sessionId: string): void {
    const session = this.sessions.get(sessionId);
    if (!session?.hint) return;
    session.hint.prefetchTimer = undefined;
    if (session.active > 0 || session.queued > 0) return;
    // Still copying out although it is wanted back now: keep it on the GPU instead.
    if (session.transfer?.reason === "offload") this.cancelOffload(session);
    if (session.tier !== "cpu" || session.transfer) return;
    this.prefetchWanted.add(sessionId);
    this.pump();
  }

  private startWantedPrefetches(): void {
    for (const id of [...this.prefetchWanted]) {
      const s = this.sessions.get(id);
      if (!s || s.tier !== "cpu" || s.transfer || s.active > 0 || s.queued > 0 || !s.hint) {
        this.prefetchWanted.delete(id);
        continue;
      }
      if (!this.gpu.fits(s.kvTokens)) this.makeGpuRoom(s.kvTokens, s.id, s);
      if (this.gpu.fits(s.kvTokens)) {
        this.prefetchWanted.delete(id);
        this.startToGpu(s, "prefetch");
      }
    }
  }

  private clearHint(session: SessionState): void {
    if (session.hint?.prefetchTimer) this.timers.cancel(session.hint.prefetchTimer);
    session.hint = undefined;
  }

  /** Frees a closing session once no turn of it is active or queued. */
  private maybeReleaseClosing(session: SessionState): void {
    if (!session.closing || session.active > 0 || session.queued > 0) return;
    const t = session.transfer;
    if (t) {
      this.timers.cancel(t.handle);
      // The destination was reserved; the source still holds the data.
      if (t.direction === "toCpu") {
        this.cpu.release(t.tokens);
        this.pendingGpuRelease -= t.tokens;
      } else {
        this.gpu.release(t.tokens);
      }
      session.transfer = undefined;
    }
    if (session.tier === "gpu") this.gpu.release(session.kvTokens);
    else if (session.tier === "cpu") this.cpu.release(session.kvTokens);
    this.clearHint(session);
    this.prefetchWanted.delete(session.id);
    this.sessions.delete(session.id);
  }
}

/**
 * Calls `take` on items in `compare` order until `enough()` holds. Selection instead of a full
 * sort: usually one or two victims free enough room, so this is O(n * taken), not O(n log n).
 */
function takeInOrder<T>(
  items: T[],
  compare: (a: T, b: T) => number,
  enough: () => boolean,
  take: (item: T) => void,
): void {
  while (items.length > 0 && !enough()) {
    let best = 0;
    for (let i = 1; i < items.length; i++) if (compare(items[i]!, items[best]!) < 0) best = i;
    const item = items[best]!;
    items[best] = items[items.length - 1]!;
    items.pop();
    take(item);
  }
}
