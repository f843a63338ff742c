import { mean as ssMean, standardDeviation } from "simple-statistics";
import type { Rng } from "@symphony/common";

/** Distribution summary of one metric; all fields in the metric's unit (ms for latencies). */
export interface MetricSummary {
  count: number;
  mean: number;
  std: number;
  min: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  /** 99.9th percentile (tail latency, as AIPerf/GuideLLM report it). */
  p999: number;
  max: number;
}

/**
 * Percentile `p` (0..100) of SORTED values by linear interpolation between closest ranks, the
 * numpy default `vllm bench serve` uses, so figures compare one to one.
 */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

/** Summary of `values` (any order). Empty input gives count 0 and NaN elsewhere (JSON: null). */
export function summarize(values: readonly number[]): MetricSummary {
  if (values.length === 0) {
    return {
      count: 0,
      mean: NaN,
      std: NaN,
      min: NaN,
      p50: NaN,
      p90: NaN,
      p95: NaN,
      p99: NaN,
      p999: NaN,
      max: NaN,
    };
  }
  // A typed array sorts numerically in native code, several times faster than a comparator sort
  // (reports summarize hundreds of thousands of values many times over).
  const sorted = Float64Array.from(values).sort();
  // simple-statistics reads only length and indexes: a typed array serves as its array.
  const asArray = sorted as unknown as number[];
  return {
    count: sorted.length,
    mean: ssMean(asArray),
    std: sorted.length > 1 ? standardDeviation(asArray) : 0,
    min: sorted[0]!,
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p95: percentileSorted(sorted, 95),
    p99: percentileSorted(sorted, 99),
    p999: percentileSorted(sorted, 99.9),
    max: sorted[sorted.length - 1]!,
  };
}

/**
 * Which items of a stream to keep in a uniform sample of `size` (reservoir sampling, Li's
 * Algorithm L): it draws how many items to skip before the next replacement, so after the
 * reservoir fills it costs a few random draws per replacement, not one per item (a simulated
 * hour streams ~65 M inter-token gaps past a 1 M reservoir).
 *
 * Usage: for each item, `const slot = sampler.offer()`; store the item at `slot` if it is >= 0.
 */
export class ReservoirSampler {
  private seen = 0;
  /** Index (0-based, in stream order) of the next item that enters the reservoir. */
  private nextTaken: number;
  private w: number;

  constructor(
    readonly size: number,
    private readonly rng: Rng,
  ) {
    this.w = Math.exp(Math.log(this.uniformOpen()) / size);
    this.nextTaken = size;
    this.skip();
  }

  /**
   * Offers `n` items at once (a request's gaps): calls `keep(slot, k)` for each kept item k
   * (0-based in this batch). Skipped items cost nothing, not even a call.
   */
  offerMany(n: number, keep: (slot: number, k: number) => void): void {
    let k = 0;
    while (k < n && this.seen < this.size) keep(this.seen++, k++);
    while (k < n) {
      const ahead = this.nextTaken - this.seen;
      if (k + ahead >= n) {
        this.seen += n - k;
        return;
      }
      k += ahead;
      this.seen += ahead;
      keep(this.offer(), k++);
    }
  }

  /** The slot the next item goes to (0..size-1), or -1 if it is not kept. */
  offer(): number {
    const i = this.seen++;
    if (i < this.size) return i;
    if (i < this.nextTaken) return -1;
    const slot = Math.floor(this.rng.next() * this.size);
    this.w *= Math.exp(Math.log(this.uniformOpen()) / this.size);
    this.nextTaken = i + 1;
    this.skip();
    return slot;
  }

  private skip(): void {
    this.nextTaken += Math.floor(Math.log(this.uniformOpen()) / Math.log(1 - this.w));
  }

  /** Uniform in (0, 1): log(0) would be -Infinity. */
  private uniformOpen(): number {
    let u = this.rng.next();
    while (u === 0) u = this.rng.next();
    return u;
  }
}
