/**
 * Capacity by search on the number of concurrent sessions: the largest n for which a measured
 * point passes a criterion (an SLO, or a latency bound), found by doubling up from a start until
 * a point fails, then bisecting the bracket. Measurements are cached by n, so several criteria
 * searched over the same configuration share their points.
 */

export interface SearchOptions {
  /** First count tried (>= 1). */
  readonly start: number;
  /** Never measure above this; a pass there makes the result a lower bound. */
  readonly max: number;
  /** Stop when the bracket is this narrow relative to its lower end (e.g. 0.1 = 10 %). */
  readonly relTolerance: number;
  /** ... or this narrow in sessions, whichever is wider. */
  readonly absTolerance: number;
  /** Factor between probes while no point has failed (default 2); smaller when the start is a good guess. */
  readonly growth?: number;
}

export interface SearchResult {
  /** Largest count measured that passed (0 if even the smallest one tried failed). */
  readonly capacity: number;
  /** Smallest count measured that failed (undefined: none failed up to `max`). */
  readonly firstFail: number | undefined;
  /** The counts measured for this search, in order (cached ones included). */
  readonly probes: readonly number[];
  /** No measured count failed: capacity is at least `capacity`. */
  readonly lowerBound: boolean;
}

/**
 * Searches for the largest passing count. `passes(n)` measures (or looks up) the point at n. The
 * search assumes the criterion is monotone in n (more sessions never make it easier to pass); a
 * noisy non-monotone point can only shrink the result to the last bracket it saw, never grow it.
 * When the start fails, it halves down to 1.
 */
export async function searchCapacity(
  options: SearchOptions,
  passes: (sessions: number) => Promise<boolean>,
): Promise<SearchResult> {
  const { max, relTolerance, absTolerance } = options;
  if (!(options.start >= 1 && max >= options.start))
    throw new RangeError(`need 1 <= start <= max, got ${options.start}, ${max}`);
  const probes: number[] = [];
  const probe = async (n: number) => {
    probes.push(n);
    return passes(n);
  };
  let lo = 0; // largest known pass (0 = none)
  let hi: number | undefined; // smallest known fail
  const growth = Math.max(options.growth ?? 2, 1.01);
  let n = Math.round(options.start);
  if (await probe(n)) {
    lo = n;
    while (lo < max) {
      n = Math.min(max, Math.max(lo + 1, Math.round(lo * growth)));
      if (await probe(n)) lo = n;
      else {
        hi = n;
        break;
      }
    }
    if (hi === undefined) return { capacity: lo, firstFail: undefined, probes, lowerBound: true };
  } else {
    hi = n;
    while (hi > 1) {
      n = Math.min(hi - 1, Math.floor(hi / growth));
      if (await probe(n)) {
        lo = n;
        break;
      }
      hi = n;
    }
    if (lo === 0) return { capacity: 0, firstFail: hi, probes, lowerBound: false };
  }
  while (hi - lo > Math.max(absTolerance, relTolerance * lo, 1)) {
    n = Math.round((lo + hi) / 2);
    if (await probe(n)) lo = n;
    else hi = n;
  }
  return { capacity: lo, firstFail: hi, probes, lowerBound: false };
}

/** min, mean and max of finite values (NaN for none): the spread over seeds. */
export function spread(values: readonly number[]): { min: number; mean: number; max: number } {
  const xs = values.filter((v) => Number.isFinite(v));
  if (xs.length === 0) return { min: NaN, mean: NaN, max: NaN };
  return {
    min: Math.min(...xs),
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
    max: Math.max(...xs),
  };
}
