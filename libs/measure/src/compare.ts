import { rngFor } from "@symphony/common";
import type { RequestRecord } from "./record";
import { ReservoirSampler } from "./stats";
import { bootstrapMedianDiff, mannWhitneyU, type MedianDiffCi } from "./compare-stats";

/** One run as the comparison reads it: its summary.json and its per-request records. */
export interface ComparedRun {
  label: string;
  summary: Readonly<Record<string, unknown>>;
  records: readonly RequestRecord[];
}

/** The per-request metrics whose distributions are compared (and drawn as CDFs). */
export const COMPARED_DISTRIBUTIONS = ["ttft_ms", "tpot_ms", "itl_ms", "e2el_ms"] as const;
export type ComparedDistribution = (typeof COMPARED_DISTRIBUTIONS)[number];

/** A run's difference from the first (the baseline) on one distribution. */
export interface DistributionTest {
  /** Values compared (after sampling, see `TEST_SAMPLE`). */
  n: number;
  baselineN: number;
  /** Mann-Whitney U, two-sided. */
  p: number;
  /** P(a value of this run > a value of the baseline); 0.5 = no shift. */
  pGreater: number;
  /** Bootstrap interval of median(this run) − median(baseline). */
  medianDiff: MedianDiffCi;
}

/** One line of the comparison table. */
export interface CompareRow {
  /** e.g. "ttft_ms.p50", "request_throughput". */
  key: string;
  label: string;
  /** Per run, in argument order; null where the run has no such figure. */
  values: (number | null)[];
  /** Per run: value − baseline's (null for the baseline or a missing figure). */
  deltas: (number | null)[];
  /** Per run: delta / |baseline| (null likewise, or when the baseline is 0). */
  relative: (number | null)[];
  /** Latency medians: per run, the test against the baseline (null for the baseline). */
  tests?: (DistributionTest | null)[];
  /** "lower" or "higher" is better, for colouring; undefined = neither. */
  better?: "lower" | "higher";
}

export interface TurnPoint {
  turn: string;
  completed: number;
  ttft_p50: number | null;
  ttft_mean: number | null;
  cached_token_fraction: number | null;
}

export interface Comparison {
  labels: string[];
  rows: CompareRow[];
  /** Per run, per turn-index group ("0" ... "10+"), from the summaries' by_turn_index. */
  byTurn: TurnPoint[][];
  /** How the significance was computed, for the reader. */
  method: string;
  seed: number;
}

/** Most values per run and metric that the tests use: larger runs are sampled uniformly (seeded). */
export const TEST_SAMPLE = 200_000;

const num = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);
const at = (o: unknown, path: string): unknown =>
  path
    .split(".")
    .reduce<unknown>(
      (v, k) => (v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined),
      o,
    );

/** A run's values of one distribution (successful requests; ITL: every gap), sampled down to `TEST_SAMPLE`. */
export function distributionValues(
  records: readonly RequestRecord[],
  metric: ComparedDistribution,
  seed: number,
): number[] {
  const sampler = new ReservoirSampler(TEST_SAMPLE, rngFor(seed, `workloadgen.compare.sample.${metric}`));
  const out = new Array<number>(0);
  const offer = (v: number | null) => {
    if (v === null || !Number.isFinite(v)) return;
    sampler.offerMany(1, (slot) => (out[slot] = v));
  };
  for (const r of records) {
    if (r.error !== null) continue;
    if (metric === "itl_ms") for (const g of r.itl_ms) offer(g);
    else offer(r[metric]);
  }
  return out;
}

const HEADLINE: { key: string; label: string; better?: "lower" | "higher" }[] = [
  { key: "completed", label: "Successful requests" },
  { key: "failed", label: "Failed requests", better: "lower" },
  { key: "request_throughput", label: "Request throughput (req/s)", better: "higher" },
  { key: "output_token_throughput", label: "Output token throughput (tok/s)", better: "higher" },
  { key: "total_token_throughput", label: "Total token throughput (tok/s)", better: "higher" },
  { key: "goodput.request_goodput", label: "Goodput (req/s)", better: "higher" },
  { key: "cached_token_fraction", label: "Cached prompt share", better: "higher" },
  { key: "total_prompt_tokens", label: "Prompt tokens" },
  { key: "total_completion_tokens", label: "Completion tokens" },
];

const LATENCY_STATS = ["mean", "p50", "p90", "p99"] as const;
const LATENCY_LABEL: Record<ComparedDistribution, string> = {
  ttft_ms: "TTFT",
  tpot_ms: "TPOT",
  itl_ms: "ITL",
  e2el_ms: "E2EL",
};

function row(key: string, label: string, values: (number | null)[], better?: "lower" | "higher"): CompareRow {
  const base = values[0] ?? null;
  const deltas = values.map((v, i) => (i === 0 || v === null || base === null ? null : v - base));
  return {
    key,
    label,
    values,
    deltas,
    relative: deltas.map((d) => (d === null || base === null || base === 0 ? null : d / Math.abs(base))),
    ...(better ? { better } : {}),
  };
}

/**
 * Each run against the first: the summaries' headline figures and latency statistics side by
 * side with their differences; for each latency's median row, Mann-Whitney U on the
 * per-request values and a bootstrap interval of the difference of medians (1000 resamples,
 * seeded by `seed`, so the same inputs give the same report); the per-turn-index TTFT and
 * cached share; the engines' prefix-cache hit rate when the runs scraped it.
 */
export function compareRuns(runs: readonly ComparedRun[], seed = 0): Comparison {
  const rows: CompareRow[] = [];
  for (const h of HEADLINE) {
    const values = runs.map((r) => num(at(r.summary, h.key)));
    if (values.some((v) => v !== null)) rows.push(row(h.key, h.label, values, h.better));
  }
  const hitRate = runs.map((r) => {
    const engines = (at(r.summary, "server_metrics.endpoints") ?? []) as {
      engine?: boolean;
      prefix_cache_hit_rate?: number;
      prefix_cache_queries?: number;
    }[];
    let hits = 0;
    let queries = 0;
    for (const e of engines)
      if (e.engine && num(e.prefix_cache_hit_rate) !== null && num(e.prefix_cache_queries) !== null) {
        hits += e.prefix_cache_hit_rate! * e.prefix_cache_queries!;
        queries += e.prefix_cache_queries!;
      }
    return queries > 0 ? hits / queries : null;
  });
  if (hitRate.some((v) => v !== null))
    rows.push(
      row("server.prefix_cache_hit_rate", "Engine prefix-cache hit rate (server)", hitRate, "higher"),
    );
  for (const metric of COMPARED_DISTRIBUTIONS) {
    const samples = runs.map((r) => distributionValues(r.records, metric, seed));
    for (const stat of LATENCY_STATS) {
      const r = row(
        `${metric}.${stat}`,
        `${LATENCY_LABEL[metric]} ${stat} (ms)`,
        runs.map((run) => num(at(run.summary, `${metric}.${stat}`))),
        "lower",
      );
      if (stat === "p50")
        r.tests = samples.map((s, i) =>
          i === 0
            ? null
            : {
                n: s.length,
                baselineN: samples[0]!.length,
                ...(({ p, pGreater }) => ({ p, pGreater }))(mannWhitneyU(s, samples[0]!)),
                medianDiff: bootstrapMedianDiff(
                  samples[0]!,
                  s,
                  rngFor(seed, `workloadgen.compare.bootstrap.${metric}.${i}`),
                ),
              },
        );
      rows.push(r);
    }
  }
  const lag = runs.map((r) => num(at(r.summary, "schedule_lag_ms.p99")));
  rows.push(row("schedule_lag_ms.p99", "Schedule lag p99 (ms)", lag, "lower"));

  const byTurn = runs.map((r) => {
    const turns = (r.summary.by_turn_index ?? {}) as Record<string, Record<string, unknown>>;
    return Object.keys(turns)
      .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10))
      .map((turn) => ({
        turn,
        completed: num(turns[turn]!.completed) ?? 0,
        ttft_p50: num(at(turns[turn], "ttft_ms.p50")),
        ttft_mean: num(at(turns[turn], "ttft_ms.mean")),
        cached_token_fraction: num(turns[turn]!.cached_token_fraction),
      }));
  });
  return {
    labels: runs.map((r) => r.label),
    rows,
    byTurn,
    method:
      "medians: two-sided Mann-Whitney U on per-request values (normal approximation, tie-corrected) and a " +
      `95% percentile-bootstrap interval of the difference of medians (1000 resamples, seed ${seed}); ` +
      `at most ${TEST_SAMPLE} values per run and metric, sampled uniformly. Requests of one run share the ` +
      "server's state: repeat runs to confirm a difference",
    seed,
  };
}
