import type { ChartData } from "./chart-data";
import { pick, VLLM, type ServerMetricsSample } from "./server-metrics";
import type { SessionPanels } from "./session-panels";
import type { RunSummary } from "./summary";

const round = (x: number) => Math.round(x * 1000) / 1000;
/** Turn-group labels ("0" ... "10+") as x positions ("10+" at 10). */
const turnX = (label: string) => Number.parseInt(label, 10);
const num = (x: unknown): number | null => (typeof x === "number" && Number.isFinite(x) ? x : null);

interface TurnGroup {
  ttft_ms?: { p50?: number; p90?: number };
  cached_token_fraction?: number;
}

/**
 * Session-centric charts from the summary: TTFT (p50, p90) and cached prompt share by turn
 * index (first turns pay the whole prefill, returning turns show the KV reuse), the KV tier
 * returning turns found (when the scheduler said), and the hint lead time by turn index (when
 * hints were delivered). Charts without data are left out.
 */
export function sessionCharts(summary: RunSummary): ChartData[] {
  const charts: ChartData[] = [];
  const turns = (summary.by_turn_index ?? {}) as Record<string, TurnGroup>;
  const labels = Object.keys(turns).sort((a, b) => turnX(a) - turnX(b));
  if (labels.length > 0) {
    const x = labels.map(turnX);
    charts.push({
      id: "turn-ttft",
      title: "TTFT by turn index",
      xLabel: "turn index",
      yLabel: "ms",
      series: ["p50", "p90"],
      kind: "line",
      data: [
        x,
        labels.map((l) => num(turns[l]!.ttft_ms?.p50)),
        labels.map((l) => num(turns[l]!.ttft_ms?.p90)),
      ] as number[][],
    });
    charts.push({
      id: "turn-cached",
      title: "Cached prompt share by turn index",
      xLabel: "turn index",
      yLabel: "cached / prompt tokens",
      series: ["cached share"],
      kind: "line",
      data: [x, labels.map((l) => num(turns[l]!.cached_token_fraction))] as number[][],
    });
  }
  const sessions = summary.sessions as SessionPanels | undefined;
  if (sessions) {
    const tierTurns = Object.keys(sessions.kv_tier_by_turn).sort((a, b) => turnX(a) - turnX(b));
    const tiers = [...new Set(tierTurns.flatMap((t) => Object.keys(sessions.kv_tier_by_turn[t]!)))].sort();
    if (tiers.some((t) => t !== "unknown"))
      charts.push({
        id: "turn-kv-tier",
        title: "Where each turn's KV context was found (share of the turn index's requests)",
        xLabel: "turn index",
        yLabel: "share",
        series: tiers,
        kind: "line",
        data: [
          tierTurns.map(turnX),
          ...tiers.map((tier) =>
            tierTurns.map((t) => {
              const counts = sessions.kv_tier_by_turn[t]!;
              const total = Object.values(counts).reduce((a, b) => a + b, 0);
              return round((counts[tier] ?? 0) / total);
            }),
          ),
        ],
      });
    const leadTurns = Object.keys(sessions.hint_lead_by_turn).sort((a, b) => turnX(a) - turnX(b));
    if (leadTurns.length > 0)
      charts.push({
        id: "turn-hint-lead",
        title: "Hint lead time by turn index (previous turn's end to this send)",
        xLabel: "turn index",
        yLabel: "ms",
        series: ["p50", "p90"],
        kind: "line",
        data: [
          leadTurns.map(turnX),
          leadTurns.map((t) => round(sessions.hint_lead_by_turn[t]!.p50)),
          leadTurns.map((t) => round(sessions.hint_lead_by_turn[t]!.p90)),
        ],
      });
  }
  return charts;
}

/** A short name for an endpoint in a legend: host:port. */
const shortName = (endpoint: string) => {
  try {
    return new URL(endpoint).host;
  } catch {
    return endpoint;
  }
};

/**
 * The servers' own time series (from `--server-metrics` scrapes), on the same time axis as the
 * client's charts: KV-cache usage, requests running and waiting, and the prefix-cache hit rate
 * of each interval (Δhits / Δqueries between successive scrapes), one series per endpoint.
 */
export function serverCharts(samples: readonly ServerMetricsSample[]): ChartData[] {
  const ok = samples.filter((s) => s.error === undefined);
  const endpoints = [...new Set(ok.map((s) => s.endpoint))].filter((e) =>
    ok.some((s) => s.endpoint === e && Object.keys(s.metrics).some((k) => k.startsWith("vllm:"))),
  );
  if (endpoints.length === 0) return [];
  const times = [...new Set(ok.filter((s) => endpoints.includes(s.endpoint)).map((s) => s.t_ms))].sort(
    (a, b) => a - b,
  );
  const index = new Map(times.map((t, i) => [t, i]));
  const x = times.map((t) => round(t / 1000));
  /** One series per endpoint (and `suffix`), null where that endpoint was not scraped at that instant. */
  const series = (
    value: (s: ServerMetricsSample, previous: ServerMetricsSample | undefined) => number | undefined,
  ) =>
    endpoints.map((e) => {
      const ys = new Array<number | null>(times.length).fill(null);
      let previous: ServerMetricsSample | undefined;
      for (const s of ok)
        if (s.endpoint === e) {
          const v = value(s, previous);
          if (v !== undefined && Number.isFinite(v)) ys[index.get(s.t_ms)!] = round(v);
          previous = s;
        }
      return ys;
    });
  const names = endpoints.map(shortName);
  const hitRate = (s: ServerMetricsSample, p: ServerMetricsSample | undefined) => {
    if (!p) return undefined;
    const dq = (pick(s.metrics, VLLM.prefixQueries) ?? NaN) - (pick(p.metrics, VLLM.prefixQueries) ?? NaN);
    const dh = (pick(s.metrics, VLLM.prefixHits) ?? NaN) - (pick(p.metrics, VLLM.prefixHits) ?? NaN);
    return dq > 0 ? dh / dq : undefined;
  };
  return [
    {
      id: "server-kv-usage",
      title: "KV-cache usage over time (server: vllm:kv_cache_usage_perc)",
      xLabel: "s since start",
      yLabel: "% of KV blocks",
      series: names,
      kind: "line",
      data: [x, ...series((s) => (pick(s.metrics, VLLM.kvUsage) ?? NaN) * 100)] as number[][],
    },
    {
      id: "server-queue",
      title: "Requests running / waiting over time (server: vllm:num_requests_*)",
      xLabel: "s since start",
      yLabel: "requests",
      series: [...names.map((n) => `${n} running`), ...names.map((n) => `${n} waiting`)],
      kind: "line",
      data: [
        x,
        ...series((s) => pick(s.metrics, VLLM.running)),
        ...series((s) => pick(s.metrics, VLLM.waiting)),
      ] as number[][],
    },
    {
      id: "server-prefix-hits",
      title: "Prefix-cache hit rate per scrape interval (server: Δvllm:prefix_cache_hits / Δqueries)",
      xLabel: "s since start",
      yLabel: "hit rate",
      series: names,
      kind: "line",
      data: [x, ...series(hitRate)] as number[][],
    },
  ];
}
