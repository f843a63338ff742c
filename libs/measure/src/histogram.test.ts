import { rngFor, type Rng } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { HISTOGRAM_RELATIVE_ERROR, LogLinearHistogram, StreamingMetric } from "./histogram";
import { summarize } from "./stats";

const PERCENTILES = ["p50", "p90", "p95", "p99", "p999"] as const;

/** Log-normal draws (latency-like: long right tail), by Box-Muller. */
function logNormal(rng: Rng, n: number, mu: number, sigma: number): number[] {
  return Array.from({ length: n }, () => {
    const u = 1 - rng.next();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
    return Math.exp(mu + sigma * z);
  });
}

const relativeError = (got: number, want: number) =>
  want === 0 ? Math.abs(got) : Math.abs(got - want) / Math.abs(want);

describe("LogLinearHistogram", () => {
  const rng = rngFor(7, "histogram.test");
  const datasets: [string, number[]][] = [
    ["log-normal TTFTs (ms)", logNormal(rng, 200_000, Math.log(80), 1.2)],
    ["sub-ms ITLs", logNormal(rng, 100_000, Math.log(0.4), 0.5)],
    ["uniform 0..10 s", Array.from({ length: 50_000 }, () => rng.next() * 10_000)],
    // Schedule lag: mostly 0, some small negatives, a long tail.
    [
      "zeros, negatives and a tail",
      Array.from({ length: 50_000 }, () => {
        const u = rng.next();
        return u < 0.5 ? 0 : u < 0.6 ? -rng.next() * 0.2 : Math.exp(rng.next() * 8) / 100;
      }),
    ],
    ["ten values", [5, 1, 9, 3, 3, 7, 2, 8, 6, 4]],
  ];

  it.each(datasets)("%s -> every percentile within the stated 1%% of the exact one", (_name, values) => {
    const want = summarize(values);
    const got = LogLinearHistogram.of(values).summary();
    for (const p of PERCENTILES)
      expect(relativeError(got[p], want[p]), p).toBeLessThanOrEqual(HISTOGRAM_RELATIVE_ERROR);
    // The midpoint bound is tighter than the stated one: 1/128.
    for (const p of PERCENTILES)
      expect(relativeError(got[p], want[p]), p).toBeLessThanOrEqual(1 / 128 + 1e-12);
    expect(got.count).toBe(want.count);
    expect(got.min).toBe(want.min);
    expect(got.max).toBe(want.max);
    expect(relativeError(got.mean, want.mean)).toBeLessThan(1e-9);
    expect(relativeError(got.std, want.std)).toBeLessThan(1e-6);
  });

  it("addMany in runs (NaN and infinities among them) -> bit for bit what add gives one by one", () => {
    const values = [...datasets[3]![1], Number.NaN, Infinity, ...datasets[1]![1].slice(0, 1000), -Infinity];
    const one = new LogLinearHistogram();
    for (const v of values) one.add(v);
    const many = new LogLinearHistogram();
    for (let at = 0; at < values.length; at += 777) many.addMany(values.slice(at, at + 777));
    expect(many.summary()).toStrictEqual(one.summary());
    expect(many.cdf(50)).toStrictEqual(one.cdf(50));
  });

  it("two halves merged -> the same figures as one histogram of everything", () => {
    const values = datasets[0]![1];
    const a = LogLinearHistogram.of(values.slice(0, 70_000));
    const b = LogLinearHistogram.of(values.slice(70_000));
    const merged = a.merge(b).summary();
    const whole = LogLinearHistogram.of(values).summary();
    for (const p of PERCENTILES) expect(merged[p]).toBe(whole[p]);
    expect(merged.count).toBe(whole.count);
    expect(relativeError(merged.std, whole.std)).toBeLessThan(1e-9);
  });

  it("a million values -> bucket slots bounded by the range of magnitudes, not the count", () => {
    const h = new LogLinearHistogram();
    const r = rngFor(1, "histogram.size");
    for (let i = 0; i < 1_000; i++) h.add(1 + r.next() * 10_000);
    const after1k = h.slots;
    for (let i = 0; i < 1_000_000; i++) h.add(1 + r.next() * 10_000);
    // 1 ms .. 10 s is 14 doublings: 14 * 64 buckets, at most doubled by growth.
    expect(h.slots).toBeLessThanOrEqual(2 * 14 * 64 + 64);
    expect(h.slots).toBeLessThanOrEqual(2 * after1k);
    expect(h.count).toBe(1_001_000);
  });

  it("empty -> count 0 and NaN, like summarize([])", () => {
    expect(new LogLinearHistogram().summary()).toEqual(summarize([]));
  });

  it("NaN and infinities -> ignored", () => {
    const h = LogLinearHistogram.of([1, NaN, Infinity, -Infinity, 3]);
    expect(h.summary()).toMatchObject({ count: 2, min: 1, max: 3, mean: 2 });
  });

  it("cdf -> ascending values within 1%, percent of values ending at 100", () => {
    const values = datasets[0]![1];
    const [x, y] = LogLinearHistogram.of(values).cdf(400);
    expect(x).toHaveLength(400);
    const sorted = Float64Array.from(values).sort();
    expect(x[0]).toBe(sorted[0]);
    expect(x[399]).toBe(sorted[sorted.length - 1]);
    expect(y[399]).toBe(100);
    for (let k = 1; k < x.length; k++) expect(x[k]!).toBeGreaterThanOrEqual(x[k - 1]!);
    const i = Math.round((200 * (sorted.length - 1)) / 399);
    expect(relativeError(x[200]!, sorted[i]!)).toBeLessThanOrEqual(HISTOGRAM_RELATIVE_ERROR);
  });
});

describe("StreamingMetric", () => {
  it("up to the limit -> exactly summarize's figures", () => {
    const m = new StreamingMetric(100);
    const values = Array.from({ length: 100 }, (_, i) => (i * 37) % 101);
    for (const v of values) m.add(v);
    expect(m.method).toBe("exact");
    expect(m.summary()).toEqual(summarize(values));
    expect(m.sum).toBe(values.reduce((a, b) => a + b, 0));
  });

  it("past the limit -> a histogram: percentiles within 1%, count and sum exact", () => {
    const m = new StreamingMetric(100);
    const values = logNormal(rngFor(3, "streaming-metric"), 5_000, 3, 1);
    for (const v of values) m.add(v);
    expect(m.method).toBe("hdr(1%)");
    const want = summarize(values);
    const got = m.summary();
    expect(got.count).toBe(5_000);
    for (const p of PERCENTILES) expect(relativeError(got[p], want[p])).toBeLessThanOrEqual(0.01);
    expect(
      relativeError(
        m.sum,
        values.reduce((a, b) => a + b, 0),
      ),
    ).toBeLessThan(1e-12);
  });
});
