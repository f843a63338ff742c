import { mean as ssMean, standardDeviation } from "simple-statistics";

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
export function percentileSorted(sorted: readonly number[], p: number): number {
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
  const sorted = [...values].sort((a, b) => a - b);
  return {
    count: sorted.length,
    mean: ssMean(sorted),
    std: sorted.length > 1 ? standardDeviation(sorted) : 0,
    min: sorted[0]!,
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p95: percentileSorted(sorted, 95),
    p99: percentileSorted(sorted, 99),
    p999: percentileSorted(sorted, 99.9),
    max: sorted[sorted.length - 1]!,
  };
}
