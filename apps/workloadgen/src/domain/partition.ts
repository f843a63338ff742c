import type { SessionPlan, SessionSource } from "./plan";

/**
 * Which of `parts` runners plays session number `ordinal` (0-based, in the order the source
 * yields them): round-robin, so every runner gets an even share of the arrivals over time (an
 * open-loop plan keeps its arrival rate per runner) and the split depends on nothing but the
 * session's position, so the same seed gives every runner the same sessions on every run.
 */
export function partOfSession(ordinal: number, parts: number): number {
  return ordinal % parts;
}

/**
 * How many of `total` items (closed-loop clients) runner `part` of `parts` gets: round-robin,
 * so the shares differ by at most one and runner `part` holds items `part, part + parts, ...`.
 */
export function shareOf(total: number, part: number, parts: number): number {
  return Math.floor(total / parts) + (part < total % parts ? 1 : 0);
}

/**
 * The sessions of `source` that runner `part` of `parts` plays (see `partOfSession`). Every
 * runner reads the whole source (it is seeded and cheap next to sending) and keeps its own, so
 * together the runners play each session exactly once, in the source's order.
 */
export class PartitionedSource implements SessionSource {
  private ordinal = 0;

  constructor(
    private readonly source: SessionSource,
    private readonly part: number,
    private readonly parts: number,
  ) {
    if (!Number.isInteger(parts) || parts < 1)
      throw new Error(`parts must be an integer >= 1 (got ${parts})`);
    if (!Number.isInteger(part) || part < 0 || part >= parts)
      throw new Error(`part must be an integer in [0, ${parts - 1}] (got ${part})`);
  }

  next(): SessionPlan | undefined {
    for (;;) {
      const plan = this.source.next();
      if (!plan) return undefined;
      if (partOfSession(this.ordinal++, this.parts) === this.part) return plan;
    }
  }
}
