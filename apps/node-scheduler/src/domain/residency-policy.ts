import type { SessionState } from "./session-table";

/**
 * Decides which idle sessions give up GPU (or CPU) memory first, and whether advisory hints
 * trigger prefetches. The NodeCore owns the mechanics (budgets, transfers, timers); a policy
 * only orders and answers yes/no, so policies are small and easy to test.
 */
export interface ResidencyPolicy {
  readonly name: string;
  /**
   * Order for demotion: negative when `a` should lose its place before `b`
   * (i.e. `a` is less worth keeping), positive for the reverse, 0 when equal.
   */
  compare(a: SessionState, b: SessionState, nowUs: number): number;
  /** Whether an Advise hint should bring an offloaded session back to the GPU ahead of time. */
  readonly prefetchOnHint: boolean;
  /** Whether the policy expects the session back within `withinUs` of `nowUs` (keeps it from proactive offload). */
  neededWithin(s: SessionState, nowUs: number, withinUs: number): boolean;
}

/** Least recently used first; hints are ignored. The baseline. */
export class LruPolicy implements ResidencyPolicy {
  readonly name = "lru";
  readonly prefetchOnHint = false;

  compare(a: SessionState, b: SessionState): number {
    return a.lastUsedUs - b.lastUsedUs;
  }

  neededWithin(): boolean {
    return false;
  }
}

/**
 * Uses the clients' hints (Belady-style: keep what is needed soonest):
 * 1. sessions without a usable hint go first, least recently used first (we know nothing better);
 * 2. then hinted sessions, the one expected furthest in the future first.
 * A hint is usable until `staleAfterUs` past its expected arrival (a late turn is still likely
 * to come soon; a much later one means the hint was wrong). Offloaded sessions are prefetched
 * before their expected arrival.
 */
export class HintAwarePolicy implements ResidencyPolicy {
  readonly name = "hint-aware";
  readonly prefetchOnHint = true;

  /** @param staleAfterUs how long past its expected arrival a hint still counts, µs. */
  constructor(private readonly staleAfterUs: number) {}

  /** Expected next arrival in µs, or undefined when the session has no usable hint. */
  expectedArrivalUs(s: SessionState, nowUs: number): number | undefined {
    const h = s.hint;
    if (!h || nowUs > h.expectedArrivalUs + this.staleAfterUs) return undefined;
    return h.expectedArrivalUs;
  }

  compare(a: SessionState, b: SessionState, nowUs: number): number {
    const ea = this.expectedArrivalUs(a, nowUs);
    const eb = this.expectedArrivalUs(b, nowUs);
    if (ea === undefined && eb === undefined) return a.lastUsedUs - b.lastUsedUs;
    if (ea === undefined) return -1;
    if (eb === undefined) return 1;
    return eb - ea; // later arrival => demote first
  }

  neededWithin(s: SessionState, nowUs: number, withinUs: number): boolean {
    const e = this.expectedArrivalUs(s, nowUs);
    return e !== undefined && e - nowUs <= withinUs;
  }
}

export const RESIDENCY_POLICY_NAMES = ["lru", "hint-aware"] as const;
export type ResidencyPolicyName = (typeof RESIDENCY_POLICY_NAMES)[number];

export function createResidencyPolicy(
  name: ResidencyPolicyName,
  options: { hintStaleAfterUs: number },
): ResidencyPolicy {
  return name === "lru" ? new LruPolicy() : new HintAwarePolicy(options.hintStaleAfterUs);
}
