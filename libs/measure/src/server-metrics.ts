/**
 * The servers' own view of a run: Prometheus text from each engine's and node's `/metrics`,
 * reduced to one number per metric name and endpoint, sampled over time. Pure: the scraping
 * (HTTP, timers) lives in `transport/server-metrics.ts`.
 */

/** Metric names kept from a scrape: vLLM's, and Symphony's own (node-scheduler, scheduler). */
export const SERVER_METRIC_PREFIXES = ["vllm:", "symphony_"] as const;

/** vLLM's names for what the report draws (the deprecated `gpu_` names as fallbacks). */
export const VLLM = {
  kvUsage: ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"],
  running: ["vllm:num_requests_running"],
  waiting: ["vllm:num_requests_waiting"],
  prefixHits: ["vllm:prefix_cache_hits_total", "vllm:prefix_cache_hits", "vllm:gpu_prefix_cache_hits_total"],
  prefixQueries: [
    "vllm:prefix_cache_queries_total",
    "vllm:prefix_cache_queries",
    "vllm:gpu_prefix_cache_queries_total",
  ],
} as const;

/** A metric's value under the first of `names` present. */
export function pick(values: Readonly<Record<string, number>>, names: readonly string[]): number | undefined {
  for (const n of names) if (values[n] !== undefined) return values[n];
  return undefined;
}

/** Index of the first top-level space after a sample's name and labels (label values may hold spaces and braces). */
function endOfSeries(line: string): number {
  const brace = line.indexOf("{");
  const space = line.indexOf(" ");
  if (brace < 0 || (space >= 0 && space < brace)) return space;
  let inQuote = false;
  for (let i = brace + 1; i < line.length; i++) {
    const c = line[i];
    if (inQuote) {
      if (c === "\\") i++;
      else if (c === '"') inQuote = false;
    } else if (c === '"') inQuote = true;
    else if (c === "}") return line.indexOf(" ", i);
  }
  return -1;
}

/** Sample-name suffixes of a family's series (`# TYPE foo counter` has samples `foo_total`). */
const FAMILY_SUFFIXES = ["_bucket", "_sum", "_count", "_total"] as const;

/** A sample value as Prometheus writes it (`+Inf`, `NaN` included); undefined if malformed. */
function promNumber(token: string): number | undefined {
  if (token === "+Inf") return Infinity;
  if (token === "-Inf") return -Infinity;
  if (token === "NaN") return NaN;
  const n = Number(token);
  return token === "" || Number.isNaN(n) ? undefined : n;
}

/** Gauges averaged over their label sets (a fraction of several engines); everything else is summed. */
const averaged = (name: string) => name.endsWith("_perc") || name.endsWith("_usage");

/**
 * Parses Prometheus text exposition into one value per sample name whose name starts with one
 * of `prefixes`: counters and gauges only (histogram and summary series are left out), summed
 * over label sets (several engines behind one endpoint), except usage fractions, which are
 * averaged. Malformed lines are skipped.
 */
export function parsePrometheusText(
  text: string,
  prefixes: readonly string[] = SERVER_METRIC_PREFIXES,
): Record<string, number> {
  const types = new Map<string, string>();
  const sums = new Map<string, { total: number; n: number }>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    if (line.startsWith("#")) {
      const m = /^#\s+TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (m) types.set(m[1]!, m[2]!);
      continue;
    }
    const end = endOfSeries(line);
    if (end <= 0) continue;
    const series = line.slice(0, end);
    const brace = series.indexOf("{");
    const name = brace < 0 ? series : series.slice(0, brace);
    if (!prefixes.some((p) => name.startsWith(p))) continue;
    if (name.endsWith("_created")) continue;
    const family = types.has(name)
      ? name
      : FAMILY_SUFFIXES.filter((x) => name.endsWith(x))
          .map((x) => name.slice(0, -x.length))
          .find((f) => types.has(f));
    const type = family === undefined ? "untyped" : types.get(family);
    if (type === "histogram" || type === "summary" || type === "gaugehistogram") continue;
    const value = promNumber(
      line
        .slice(end + 1)
        .trim()
        .split(/\s+/)[0] ?? "",
    );
    if (value === undefined) continue;
    const s = sums.get(name) ?? { total: 0, n: 0 };
    s.total += value;
    s.n++;
    sums.set(name, s);
  }
  const out: Record<string, number> = {};
  for (const name of [...sums.keys()].sort()) {
    const s = sums.get(name)!;
    out[name] = averaged(name) ? s.total / s.n : s.total;
  }
  return out;
}

/** One scrape of one endpoint, as a line of server-metrics.jsonl. */
export interface ServerMetricsSample {
  /** ms since the schedule's start (the records' time zero); negative before it. */
  t_ms: number;
  endpoint: string;
  /** The scrape failed: why (and `metrics` is empty). */
  error?: string;
  metrics: Record<string, number>;
}

/** What summary.json says about one endpoint over the run. */
export interface EndpointMetricsSummary {
  endpoint: string;
  samples: number;
  failed_scrapes: number;
  /** vLLM metrics were found: an engine (else a node or a scheduler). */
  engine: boolean;
  kv_cache_usage_perc?: { mean: number; max: number };
  num_requests_running?: { mean: number; max: number };
  num_requests_waiting?: { mean: number; max: number };
  /** Δhits / Δqueries between the first and the last scrape of the run (tokens). */
  prefix_cache_hit_rate?: number;
  prefix_cache_queries?: number;
}

const meanMax = (xs: number[]) =>
  xs.length === 0
    ? undefined
    : {
        mean: xs.reduce((a, b) => a + b, 0) / xs.length,
        max: xs.reduce((a, b) => Math.max(a, b), -Infinity),
      };

/** Per-endpoint figures over the samples taken from the schedule's start on (`t_ms >= 0`) and the one just before. */
export function summarizeServerMetrics(samples: readonly ServerMetricsSample[]): EndpointMetricsSummary[] {
  const byEndpoint = new Map<string, ServerMetricsSample[]>();
  for (const s of samples) {
    const list = byEndpoint.get(s.endpoint) ?? [];
    list.push(s);
    byEndpoint.set(s.endpoint, list);
  }
  return [...byEndpoint].map(([endpoint, list]) => {
    const ok = list.filter((s) => s.error === undefined);
    // The baseline is the last scrape at or before the start; the run's figures come after it.
    const before = ok.filter((s) => s.t_ms <= 0);
    const during = ok.filter((s) => s.t_ms > 0);
    const series = (names: readonly string[]) =>
      during.map((s) => pick(s.metrics, names)).filter((x): x is number => x !== undefined);
    const first = before[before.length - 1] ?? during[0];
    const last = during[during.length - 1];
    const hits0 = first && pick(first.metrics, VLLM.prefixHits);
    const hits1 = last && pick(last.metrics, VLLM.prefixHits);
    const q0 = first && pick(first.metrics, VLLM.prefixQueries);
    const q1 = last && pick(last.metrics, VLLM.prefixQueries);
    const queries = q0 !== undefined && q1 !== undefined ? q1 - q0 : undefined;
    const kv = meanMax(series(VLLM.kvUsage));
    const running = meanMax(series(VLLM.running));
    const waiting = meanMax(series(VLLM.waiting));
    return {
      endpoint,
      samples: list.length,
      failed_scrapes: list.length - ok.length,
      engine: ok.some((s) => Object.keys(s.metrics).some((k) => k.startsWith("vllm:"))),
      ...(kv ? { kv_cache_usage_perc: kv } : {}),
      ...(running ? { num_requests_running: running } : {}),
      ...(waiting ? { num_requests_waiting: waiting } : {}),
      ...(queries !== undefined && hits0 !== undefined && hits1 !== undefined
        ? {
            prefix_cache_queries: queries,
            prefix_cache_hit_rate: queries > 0 ? (hits1 - hits0) / queries : NaN,
          }
        : {}),
    };
  });
}

/**
 * Why an engine's cache was warm when the run started, from its scrape just before the start
 * (undefined: cold, or not an engine). Prefix-cache hits mean it already served prompts whose
 * blocks it may still hold (vLLM keeps freed blocks cached until they are reused), unless the
 * prefix cache was reset just before; KV usage above 0 means requests were still running.
 */
export function warmCacheReason(
  atStart: Readonly<Record<string, number>>,
  resetBeforeRun: boolean,
): string | undefined {
  const hits = pick(atStart, VLLM.prefixHits);
  const usage = pick(atStart, VLLM.kvUsage);
  const running = pick(atStart, VLLM.running) ?? 0;
  const reasons: string[] = [];
  if (!resetBeforeRun && hits !== undefined && hits > 0)
    reasons.push(
      `its prefix cache already hit ${hits} tokens before this run (vllm:prefix_cache_hits) and may hold ` +
        "this workload's prefixes (reset it with --reset-prefix-cache)",
    );
  if (usage !== undefined && usage > 0)
    reasons.push(
      `KV cache ${(usage * 100).toFixed(1)}% in use (vllm:kv_cache_usage_perc), ${running} requests running`,
    );
  return reasons.length > 0 ? reasons.join("; ") : undefined;
}
