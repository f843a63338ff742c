import type { Rng } from "@symphony/common";

/**
 * Tests of whether two runs' per-request values differ: Mann-Whitney U (rank-sum; no
 * assumption on the distributions' shape, robust to latency tails) and a seeded bootstrap
 * confidence interval of the difference of medians. Requests of one run share the server's
 * state, so they are not independent draws: read small p-values on per-request data as "the
 * distributions differ in this run pair", and confirm a change with repeated runs.
 */

/** Outcome of `mannWhitneyU`. */
export interface MannWhitney {
  /** U of the first sample: pairs (a, b) with a > b, ties counting 1/2. */
  u: number;
  /** U / (n1 n2): the probability that a value of the first sample exceeds one of the second. */
  pGreater: number;
  /** Normal approximation's z (tie- and continuity-corrected). */
  z: number;
  /** Two-sided p-value; NaN when either sample is empty or every value is tied. */
  p: number;
}

/** 1 - Φ(x) for x >= 0 via erfc (W. J. Cody's rational approximation as in Numerical Recipes, error < 1.2e-7). */
function upperTail(x: number): number {
  const z = x / Math.SQRT2;
  const t = 1 / (1 + 0.5 * z);
  const erfc =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return erfc / 2;
}

/**
 * Two-sided Mann-Whitney U test of samples `a` and `b` (normal approximation with the tie
 * correction of the variance and a continuity correction, as scipy's
 * `mannwhitneyu(method="asymptotic")`). O((n1 + n2) log(n1 + n2)).
 */
export function mannWhitneyU(a: readonly number[], b: readonly number[]): MannWhitney {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { u: NaN, pGreater: NaN, z: NaN, p: NaN };
  const n = n1 + n2;
  const values = new Float64Array(n);
  values.set(a);
  values.set(b, n1);
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => values[i]! - values[j]!);
  let rankSumA = 0;
  let tieTerm = 0;
  for (let start = 0; start < n;) {
    let end = start + 1;
    while (end < n && values[order[end]!] === values[order[start]!]) end++;
    const t = end - start;
    const rank = (start + 1 + end) / 2; // mean of ranks start+1 .. end
    for (let k = start; k < end; k++) if (order[k]! < n1) rankSumA += rank;
    tieTerm += t * t * t - t;
    start = end;
  }
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (!(variance > 0)) return { u, pGreater: u / (n1 * n2), z: NaN, p: NaN };
  const diff = u - mean;
  const z = (diff - 0.5 * Math.sign(diff)) / Math.sqrt(variance);
  return { u, pGreater: u / (n1 * n2), z, p: Math.min(1, 2 * upperTail(Math.abs(z))) };
}

/** k-th smallest (0-based) of `xs[0..n)`, rearranging it (Hoare's quickselect). */
function select(xs: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = xs[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (xs[i]! < pivot) i++;
      while (xs[j]! > pivot) j--;
      if (i <= j) {
        const t = xs[i]!;
        xs[i] = xs[j]!;
        xs[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return xs[k]!;
  }
  return xs[k]!;
}

/** Median (mean of the middle two for even n) of `xs[0..n)`, rearranging it. */
function medianInPlace(xs: Float64Array, n: number): number {
  if (n === 0) return NaN;
  const hi = select(xs, n, n >> 1);
  if (n % 2 === 1) return hi;
  let lo = -Infinity;
  for (let i = 0; i < n >> 1; i++) if (xs[i]! > lo) lo = xs[i]!; // after select, the lower half is left of n/2
  return (lo + hi) / 2;
}

/** The median of `values` (any order). */
export function median(values: readonly number[]): number {
  return medianInPlace(Float64Array.from(values), values.length);
}

export interface MedianDiffCi {
  /** median(b) − median(a). */
  diff: number;
  /** Percentile-bootstrap interval of that difference. */
  low: number;
  high: number;
  level: number;
  resamples: number;
}

/** Bootstrap work bound: resamples × (n1 + n2) draws at most this (about a second here). */
const BOOTSTRAP_DRAWS = 40_000_000;

/**
 * Percentile-bootstrap confidence interval of median(b) − median(a): `resamples` times, draw
 * each sample again with replacement (from `rng`, so the same seed gives the same interval),
 * take the difference of medians; the interval is those differences' (1−level)/2 and
 * (1+level)/2 quantiles. Large samples get fewer resamples (at least 200) to bound the work.
 */
export function bootstrapMedianDiff(
  a: readonly number[],
  b: readonly number[],
  rng: Rng,
  resamples = 1000,
  level = 0.95,
): MedianDiffCi {
  const diff = median(b) - median(a);
  if (a.length === 0 || b.length === 0) return { diff, low: NaN, high: NaN, level, resamples: 0 };
  const rounds = Math.max(200, Math.min(resamples, Math.floor(BOOTSTRAP_DRAWS / (a.length + b.length))));
  const bufA = new Float64Array(a.length);
  const bufB = new Float64Array(b.length);
  const diffs = new Float64Array(rounds);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < a.length; i++) bufA[i] = a[rng.index(a.length)]!;
    for (let i = 0; i < b.length; i++) bufB[i] = b[rng.index(b.length)]!;
    diffs[r] = medianInPlace(bufB, b.length) - medianInPlace(bufA, a.length);
  }
  diffs.sort();
  const at = (q: number) => {
    const rank = q * (rounds - 1);
    const lo = Math.floor(rank);
    return diffs[lo]! + (diffs[Math.ceil(rank)]! - diffs[lo]!) * (rank - lo);
  };
  return { diff, low: at((1 - level) / 2), high: at((1 + level) / 2), level, resamples: rounds };
}
