import type { TimerHandle, Timers } from "@symphony/common";

/**
 * When a hinted session's warm-up request goes out:
 * - `at-hint`: as soon as the hint arrives (the session has just paused). Measurements posted on
 *   vLLM RFC #57103 show prefetching at the pause keeps 95-100 % of the ideal gain.
 * - `just-in-time`: `leadUs` before the hinted arrival, so the warmed KV spends as little time as
 *   possible competing for GPU memory (but an early turn overtakes it).
 */
export const WARMUP_TIMINGS = ["at-hint", "just-in-time"] as const;
export type WarmupTiming = (typeof WARMUP_TIMINGS)[number];

export interface WarmupPlannerConfig {
  timing: WarmupTiming;
  /** just-in-time: send this long before the expected arrival, µs. */
  leadUs: number;
  /**
   * A session due back sooner than this gets no warm-up, µs: its context was computed moments
   * ago and is still cached, and a warm-up would only compete with the turn for engine steps.
   */
  minGapUs: number;
  /** Tokens per engine KV block: a warmed context counts as found when all its full blocks hit. */
  blockSize: () => number;
}

export interface WarmupPlannerHooks {
  /**
   * Send the session's warm-up now and report back with `onWarmupDone` / `onWarmupFailed`; or
   * return false to decline (too many warm-ups already running): it counts as skipped.
   */
  send(sessionId: string): boolean;
}

/** Why a sent warm-up did not help its turn. */
export type WarmupWaste = "not_cached" | "failed" | "session_closed" | "turn_failed";

/** Monotonic counters. Every sent warm-up ends exactly once as useful or wasted (by reason). */
export interface WarmupStats {
  /** Hints that led to a warm-up being planned (timer set or sent at once). */
  planned: number;
  /** Hints for sessions due back within `minGapUs`, or warm-ups declined at capacity: none sent. */
  skipped: number;
  /** Planned warm-ups dropped before being sent: the turn came first, or the session closed. */
  cancelled: number;
  sent: number;
  /** The turn arrived while its warm-up was still running (it is ignored, not aborted). */
  overtaken: number;
  /** The next turn found its whole warmed context cached. */
  useful: number;
  wasted: Record<WarmupWaste, number>;
}

type WarmupState =
  | { phase: "planned"; timer: TimerHandle }
  | { phase: "in-flight"; overtaken: boolean; warmedTokens: number }
  | { phase: "done"; warmedTokens: number }
  | { phase: "awaiting-turn"; warmedTokens: number };

/**
 * Decides when to send warm-up requests for hinted sessions, and scores each one by what its
 * session's next turn found in the engine's cache. A stock vLLM has no prefetch API, so a
 * warm-up (the session's context so far, 1 output token) is how a node brings a session's KV
 * back to the GPU before its turn: prefix-cache hits stay, CPU-tier blocks are loaded, the rest
 * is recomputed. The real turn is never held back for a warm-up.
 *
 * Pure: time from `Timers`, sending through `hooks`; one entry per session with a warm-up
 * planned, running or awaiting its turn.
 */
export class WarmupPlanner {
  readonly stats: WarmupStats = {
    planned: 0,
    skipped: 0,
    cancelled: 0,
    sent: 0,
    overtaken: 0,
    useful: 0,
    wasted: { not_cached: 0, failed: 0, session_closed: 0, turn_failed: 0 },
  };
  private readonly bySession = new Map<string, WarmupState>();

  constructor(
    private readonly config: WarmupPlannerConfig,
    private readonly timers: Timers,
    private readonly hooks: WarmupPlannerHooks,
  ) {}

  /** Sessions with a warm-up planned, running or awaiting its turn. */
  get size(): number {
    return this.bySession.size;
  }

  /**
   * "The session's next turn comes in about `expectedArrivalUs`." Plans a warm-up unless one is
   * already planned, running or done for this pause (its context has not changed since).
   * `hasContext`: the node knows what the session sent and received (else there is nothing to warm).
   */
  onHint(sessionId: string, expectedArrivalUs: number, hasContext: boolean): boolean {
    if (!hasContext) return false;
    const now = this.timers.nowUs();
    const existing = this.bySession.get(sessionId);
    if (expectedArrivalUs - now < this.config.minGapUs && existing?.phase !== "planned") {
      this.stats.skipped++;
      return false;
    }
    if (existing?.phase === "planned") this.timers.cancel(existing.timer);
    else if (existing !== undefined) return false;
    this.stats.planned += existing === undefined ? 1 : 0;
    const sendAtUs = this.config.timing === "at-hint" ? now : expectedArrivalUs - this.config.leadUs;
    if (sendAtUs <= now) {
      this.send(sessionId);
    } else {
      const timer = this.timers.at(sendAtUs, () => this.send(sessionId));
      this.bySession.set(sessionId, { phase: "planned", timer });
    }
    return true;
  }

  /** The warm-up finished; `promptTokens` is what the engine counted for it. */
  onWarmupDone(sessionId: string, promptTokens: number): void {
    const s = this.bySession.get(sessionId);
    if (s?.phase !== "in-flight") return;
    this.bySession.set(
      sessionId,
      s.overtaken
        ? { phase: "awaiting-turn", warmedTokens: promptTokens }
        : { phase: "done", warmedTokens: promptTokens },
    );
  }

  onWarmupFailed(sessionId: string): void {
    const s = this.bySession.get(sessionId);
    if (s?.phase !== "in-flight") return;
    this.bySession.delete(sessionId);
    this.stats.wasted.failed++;
  }

  /** A turn of the session arrived: a planned warm-up is dropped, a running one is overtaken. */
  onTurnArrived(sessionId: string): void {
    const s = this.bySession.get(sessionId);
    if (s === undefined) return;
    if (s.phase === "planned") {
      this.timers.cancel(s.timer);
      this.bySession.delete(sessionId);
      this.stats.cancelled++;
    } else if (s.phase === "in-flight" && !s.overtaken) {
      s.overtaken = true;
      this.stats.overtaken++;
    } else if (s.phase === "done") {
      this.bySession.set(sessionId, { phase: "awaiting-turn", warmedTokens: s.warmedTokens });
    }
  }

  /**
   * The turn after a warm-up finished with `cachedTokens` of its prompt served from cache
   * (`usage.prompt_tokens_details.cached_tokens`). Useful when every full block of the warmed
   * context hit.
   */
  onTurnFinished(sessionId: string, cachedTokens: number): void {
    const s = this.bySession.get(sessionId);
    if (s?.phase !== "awaiting-turn") return;
    this.bySession.delete(sessionId);
    const blockSize = Math.max(1, this.config.blockSize());
    const warmedFullBlocks = Math.floor(s.warmedTokens / blockSize) * blockSize;
    if (cachedTokens >= warmedFullBlocks) this.stats.useful++;
    else this.stats.wasted.not_cached++;
  }

  /** The turn failed: nothing shows whether its warm-up helped, so it is counted as wasted. */
  onTurnFailed(sessionId: string): void {
    const s = this.bySession.get(sessionId);
    if (s?.phase !== "awaiting-turn") return;
    this.bySession.delete(sessionId);
    this.stats.wasted.turn_failed++;
  }

  /** The session ended: whatever was warmed for it is wasted. */
  onSessionClosed(sessionId: string): void {
    const s = this.bySession.get(sessionId);
    if (s === undefined) return;
    this.bySession.delete(sessionId);
    if (s.phase === "planned") {
      this.timers.cancel(s.timer);
      this.stats.cancelled++;
    } else {
      this.stats.wasted.session_closed++; // a running one is scored now; its late result is ignored
    }
  }

  /** Cancels planned warm-ups (shutdown). */
  cancelAll(): void {
    for (const [id, s] of this.bySession) {
      if (s.phase === "planned") {
        this.timers.cancel(s.timer);
        this.bySession.delete(id);
      }
    }
  }

  private send(sessionId: string): void {
    this.bySession.set(sessionId, { phase: "in-flight", overtaken: false, warmedTokens: 0 });
    if (!this.hooks.send(sessionId)) {
      this.bySession.delete(sessionId);
      this.stats.skipped++;
      return;
    }
    this.stats.sent++;
  }
}
