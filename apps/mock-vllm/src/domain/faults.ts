import type { Rng } from "@symphony/common";

/** Fault injection for reliability tests; every rate is a probability per request in [0, 1]. */
export interface FaultConfig {
  /** Fraction of requests answered at once with an HTTP error instead of a completion. */
  readonly errorRate: number;
  /** Status of those errors: 500 (internal) or 503 (overloaded). */
  readonly errorStatus: 500 | 503;
  /** Fraction of requests held back before they reach the engine (a latency spike). */
  readonly latencySpikeRate: number;
  /** Length of a spike, ms of modelled time (divided by the time scale like every duration). */
  readonly latencySpikeMs: number;
  /** Fraction of streams cut (connection destroyed) after a uniformly drawn number of tokens. */
  readonly dropStreamRate: number;
}

export const NO_FAULTS: FaultConfig = {
  errorRate: 0,
  errorStatus: 503,
  latencySpikeRate: 0,
  latencySpikeMs: 0,
  dropStreamRate: 0,
};

export interface FaultDecision {
  /** Answer with this HTTP status instead of serving the request; 0 = serve it. */
  readonly errorStatus: number;
  /** Modelled ms to hold the request before submitting it. */
  readonly extraDelayMs: number;
  /** Cut the stream after this many tokens were sent; -1 = never. */
  readonly dropAfterTokens: number;
}

/**
 * Draws the faults of each request from its own seeded stream. Exactly three draws per request,
 * whatever the outcome, so a run's faults depend only on the seed and the request order.
 */
export class FaultInjector {
  constructor(
    private readonly config: FaultConfig,
    private readonly rng: Rng,
  ) {}

  get enabled(): boolean {
    const c = this.config;
    return c.errorRate > 0 || c.latencySpikeRate > 0 || c.dropStreamRate > 0;
  }

  decide(outputTokens: number): FaultDecision {
    if (!this.enabled) return { errorStatus: 0, extraDelayMs: 0, dropAfterTokens: -1 };
    const c = this.config;
    const uError = this.rng.next();
    const uSpike = this.rng.next();
    const uDrop = this.rng.next();
    const drop = uDrop < c.dropStreamRate;
    return {
      errorStatus: uError < c.errorRate ? c.errorStatus : 0,
      extraDelayMs: uSpike < c.latencySpikeRate ? c.latencySpikeMs : 0,
      // Scale the leftover uniform in [0, rate) to a token position in [0, outputTokens).
      dropAfterTokens: drop ? Math.floor((uDrop / c.dropStreamRate) * outputTokens) : -1,
    };
  }
}
