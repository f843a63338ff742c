import { summarize, type MetricSummary } from "./stats";

/**
 * Linear sub-buckets per power of two (HdrHistogram's layout): a bucket is at most 1/64 of its
 * lower bound wide, so its midpoint is within 1/128 (0.79%) of any value in it.
 */
const SUB_BITS = 6;
const SUB_BUCKETS = 1 << SUB_BITS;
/** Bits of a double's high word below the exponent that are not sub-bucket bits. */
const SHIFT = 20 - SUB_BITS;
/** Magnitudes below this count as 0 (ms: a femtosecond); the relative bound holds above it. */
const SMALLEST = 1e-12;

/** The stated bound on a percentile's relative error (the midpoint bound, 1/128, rounded up). */
export const HISTOGRAM_RELATIVE_ERROR = 0.01;
/** How summaries name percentiles that come from this histogram. */
export const HISTOGRAM_METHOD = "hdr(1%)";

// A double's bits, read without allocation: the high 32-bit word holds the sign, the 11-bit
// exponent and the top 20 mantissa bits.
const scratch = new Float64Array(1);
const words = new Uint32Array(scratch.buffer);
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** Bucket key of a positive magnitude >= SMALLEST: exponent and the top mantissa bits. */
function keyOf(magnitude: number): number {
  scratch[0] = magnitude;
  return words[HI]! >>> SHIFT;
}

/** Smallest value of the bucket `key` (the bucket ends where `key + 1` starts). */
function lowerOf(key: number): number {
  words[HI] = key << SHIFT;
  words[1 - HI] = 0;
  return scratch[0]!;
}

/** Counts per bucket of one sign, in a dense array over the keys seen (grown by doubling). */
class BucketStore {
  counts = new Float64Array(0);
  /** Key of counts[0]. */
  offset = 0;

  add(key: number, n: number): void {
    let i = key - this.offset;
    if (i < 0 || i >= this.counts.length) {
      this.grow(key);
      i = key - this.offset;
    }
    this.counts[i]! += n;
  }

  private grow(key: number): void {
    const used = this.counts.length;
    if (used === 0) {
      this.counts = new Float64Array(SUB_BUCKETS);
      this.offset = key - (key % SUB_BUCKETS);
      return;
    }
    const lo = Math.min(this.offset, key - (key % SUB_BUCKETS));
    const hi = Math.max(this.offset + used, key + 1);
    const size = Math.max(hi - lo, used * 2);
    // Grow towards the side that needed it.
    const start = key < this.offset ? hi - size : lo;
    const next = new Float64Array(size);
    next.set(this.counts, this.offset - start);
    this.counts = next;
    this.offset = start;
  }

  merge(other: BucketStore): void {
    for (let i = 0; i < other.counts.length; i++) {
      const n = other.counts[i]!;
      if (n > 0) this.add(other.offset + i, n);
    }
  }
}

/**
 * A mergeable histogram of real values (HdrHistogram-style log-linear buckets): memory grows
 * with the range of magnitudes seen (64 buckets per doubling, a few thousand at most), never
 * with the number of values. Count, mean, standard deviation, min and max are exact;
 * percentiles are within 1% (0.79%) of the exact ones (numpy's linear interpolation between
 * closest ranks, as `summarize`), for values of magnitude >= 1e-12. Negative values are kept
 * in their own buckets (schedule lag can dip below 0).
 */
export class LogLinearHistogram {
  private readonly positive = new BucketStore();
  private readonly negative = new BucketStore();
  private zeros = 0;
  private n = 0;
  private mean = 0;
  /** Sum of squared deviations from the mean (Welford), for the standard deviation. */
  private m2 = 0;
  private minValue = Infinity;
  private maxValue = -Infinity;
  private total = 0;

  /** A histogram of `values`. */
  static of(values: Iterable<number>): LogLinearHistogram {
    const h = new LogLinearHistogram();
    for (const v of values) h.add(v);
    return h;
  }

  /** Adds one value; NaN and infinities are ignored (they have no bucket). */
  add(value: number): void {
    if (!Number.isFinite(value)) return;
    if (value >= SMALLEST) this.positive.add(keyOf(value), 1);
    else if (value <= -SMALLEST) this.negative.add(keyOf(-value), 1);
    else this.zeros++;
    this.n++;
    this.total += value;
    const delta = value - this.mean;
    this.mean += delta / this.n;
    this.m2 += delta * (value - this.mean);
    if (value < this.minValue) this.minValue = value;
    if (value > this.maxValue) this.maxValue = value;
  }

  /**
   * `add` of each of `values` in order (a request's inter-token gaps: millions in a long run),
   * with the running figures in locals: the same operations in the same order as one `add` per
   * value, so the same results to the last bit.
   */
  addMany(values: ArrayLike<number>): void {
    let { n, mean, m2, total, minValue, maxValue, zeros } = this;
    const positive = this.positive;
    for (let k = 0; k < values.length; k++) {
      const value = values[k]!;
      if (!Number.isFinite(value)) continue;
      if (value >= SMALLEST) positive.add(keyOf(value), 1);
      else if (value <= -SMALLEST) this.negative.add(keyOf(-value), 1);
      else zeros++;
      n++;
      total += value;
      const delta = value - mean;
      mean += delta / n;
      m2 += delta * (value - mean);
      if (value < minValue) minValue = value;
      if (value > maxValue) maxValue = value;
    }
    this.n = n;
    this.mean = mean;
    this.m2 = m2;
    this.total = total;
    this.minValue = minValue;
    this.maxValue = maxValue;
    this.zeros = zeros;
  }

  /** Adds everything `other` holds (Chan et al.'s parallel update for the variance). */
  merge(other: LogLinearHistogram): this {
    if (other.n === 0) return this;
    this.positive.merge(other.positive);
    this.negative.merge(other.negative);
    this.zeros += other.zeros;
    const n = this.n + other.n;
    const delta = other.mean - this.mean;
    this.m2 += other.m2 + (delta * delta * this.n * other.n) / n;
    this.mean += (delta * other.n) / n;
    this.n = n;
    this.total += other.total;
    this.minValue = Math.min(this.minValue, other.minValue);
    this.maxValue = Math.max(this.maxValue, other.maxValue);
    return this;
  }

  get count(): number {
    return this.n;
  }

  get sum(): number {
    return this.total;
  }

  /** Bucket slots allocated: the memory this histogram holds, in 8-byte counts. */
  get slots(): number {
    return this.positive.counts.length + this.negative.counts.length;
  }

  /** Percentile `p` (0..100), interpolated between closest ranks; NaN when empty. */
  percentile(p: number): number {
    return this.percentiles([p])[0]!;
  }

  /** Several percentiles (any order) in one pass over the buckets. */
  percentiles(ps: readonly number[]): number[] {
    if (this.n === 0) return ps.map(() => NaN);
    const ranks: number[] = [];
    for (const p of ps) {
      const rank = (p / 100) * (this.n - 1);
      ranks.push(Math.floor(rank), Math.ceil(rank));
    }
    const values = this.valuesAtRanks(ranks);
    return ps.map((p, k) => {
      const rank = (p / 100) * (this.n - 1);
      const lo = values[2 * k]!;
      return lo + (values[2 * k + 1]! - lo) * (rank - Math.floor(rank));
    });
  }

  /**
   * Estimates of the sorted values at integer `ranks` (0-based, any order): the midpoint of the
   * bucket holding that rank, clamped to [min, max] (so the lowest and highest ranks are exact).
   */
  valuesAtRanks(ranks: readonly number[]): number[] {
    const order = ranks.map((_, i) => i).sort((a, b) => ranks[a]! - ranks[b]!);
    const out = new Array<number>(ranks.length).fill(NaN);
    let next = 0;
    let seen = 0;
    const emit = (count: number, estimate: () => number) => {
      if (count === 0) return;
      seen += count;
      let value: number | undefined;
      while (next < order.length && ranks[order[next]!]! < seen) {
        value ??= Math.min(this.maxValue, Math.max(this.minValue, estimate()));
        out[order[next++]!] = value;
      }
    };
    const neg = this.negative;
    for (let i = neg.counts.length - 1; i >= 0 && next < order.length; i--) {
      const key = neg.offset + i;
      emit(neg.counts[i]!, () => -(lowerOf(key) + lowerOf(key + 1)) / 2);
    }
    emit(this.zeros, () => 0);
    const pos = this.positive;
    for (let i = 0; i < pos.counts.length && next < order.length; i++) {
      const key = pos.offset + i;
      emit(pos.counts[i]!, () => (lowerOf(key) + lowerOf(key + 1)) / 2);
    }
    return out;
  }

  /** The same fields as `summarize` (percentiles approximate, the rest exact). */
  summary(): MetricSummary {
    if (this.n === 0) return summarize([]);
    const [p50, p90, p95, p99, p999] = this.percentiles([50, 90, 95, 99, 99.9]);
    return {
      count: this.n,
      mean: this.mean,
      std: this.n > 1 ? Math.sqrt(Math.max(0, this.m2) / this.n) : 0,
      min: this.minValue,
      p50: p50!,
      p90: p90!,
      p95: p95!,
      p99: p99!,
      p999: p999!,
      max: this.maxValue,
    };
  }

  /** The empirical CDF as (value, percent of values <= it) at most `points` ranks, as `cdfPoints`. */
  cdf(points: number): [number[], number[]] {
    if (this.n === 0) return [[], []];
    const m = Math.min(points, this.n);
    const ranks = Array.from({ length: m }, (_, k) =>
      m === 1 ? this.n - 1 : Math.round((k * (this.n - 1)) / (m - 1)),
    );
    const values = this.valuesAtRanks(ranks);
    return [values, ranks.map((i) => ((i + 1) / this.n) * 100)];
  }
}

/** Values kept exactly up to this many; beyond it a histogram takes over (about 8 bytes a value before). */
export const EXACT_VALUES_LIMIT = 250_000;

/**
 * One metric's values, exact while few (the same figures as `summarize`), then a
 * `LogLinearHistogram`: memory stays bounded however long the run.
 */
export class StreamingMetric {
  private values: number[] | undefined = [];
  private histogram: LogLinearHistogram | undefined;

  constructor(private readonly exactLimit = EXACT_VALUES_LIMIT) {}

  add(value: number): void {
    if (this.values) {
      this.values.push(value);
      if (this.values.length > this.exactLimit) {
        this.histogram = LogLinearHistogram.of(this.values);
        this.values = undefined;
      }
    } else this.histogram!.add(value);
  }

  /** "exact" or the histogram's method. */
  get method(): string {
    return this.values ? "exact" : HISTOGRAM_METHOD;
  }

  get sum(): number {
    if (this.histogram) return this.histogram.sum;
    let s = 0;
    for (const v of this.values!) s += v;
    return s;
  }

  summary(): MetricSummary {
    return this.values ? summarize(this.values) : this.histogram!.summary();
  }
}
