import type { ChartSource, RecordColumns, RunSummary, TimeSeries } from "./summary";
import { CDF_POINTS, MAX_TIME_BUCKETS, SCATTER_POINTS, toJson } from "./summary";
import { escapeHtml, htmlPageHead } from "./html-page";
import type { ChartData } from "./chart-data";
import { serverCharts, sessionCharts } from "./run-panels";
import type { ServerMetricsSample } from "./server-metrics";
import { UPLOT_JS } from "./uplot-assets";

export type { ChartData } from "./chart-data";

/** `values`' empirical CDF as (value, percentile) pairs, at most `points` of them. */
export function cdfPoints(values: readonly number[], points = CDF_POINTS): [number[], number[]] {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return [[], []];
  const n = Math.min(points, sorted.length);
  const xs: number[] = [];
  const ys: number[] = [];
  for (let k = 0; k < n; k++) {
    const i = n === 1 ? sorted.length - 1 : Math.round((k * (sorted.length - 1)) / (n - 1));
    xs.push(round(sorted[i]!));
    ys.push(round(((i + 1) / sorted.length) * 100));
  }
  return [xs, ys];
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** Bucketed time series over the run: throughput (by completion time) and mean concurrency. */
export function timeSeries(cols: RecordColumns, durationS: number): TimeSeries {
  // A loop, not Math.max(...spread): a spread of 100k+ values overflows the call stack.
  let spanS = Math.max(durationS, 1e-3);
  for (const endMs of cols.end) if (endMs / 1000 > spanS) spanS = endMs / 1000;
  const bucketS = Math.max(1, Math.ceil(spanS / MAX_TIME_BUCKETS));
  const buckets = Math.ceil(spanS / bucketS);
  const completed = new Array<number>(buckets).fill(0);
  const tokens = new Array<number>(buckets).fill(0);
  const busyMs = new Array<number>(buckets).fill(0);
  const bucketMs = bucketS * 1000;
  for (let i = 0; i < cols.sent.length; i++) {
    const b = Math.min(buckets - 1, Math.floor(cols.end[i]! / bucketMs));
    if (cols.ok[i]) {
      completed[b]!++;
      tokens[b]! += cols.completion[i]!;
    }
    // Mean concurrency = request-time spent inside the bucket / bucket length.
    for (let t = cols.sent[i]!; t < cols.end[i]!;) {
      const k = Math.floor(t / bucketMs);
      if (k >= buckets) break;
      const next = Math.min((k + 1) * bucketMs, cols.end[i]!);
      busyMs[k]! += next - t;
      t = next;
    }
  }
  const x = Array.from({ length: buckets }, (_, k) => k * bucketS);
  return {
    bucketS,
    x,
    requestsPerS: completed.map((c) => round(c / bucketS)),
    tokensPerS: tokens.map((c) => round(c / bucketS)),
    concurrency: busyMs.map((ms) => round(ms / bucketMs)),
  };
}

/** TTFT / E2EL per request against send time, strided down to at most SCATTER_POINTS. */
function latencyOverTime(cols: RecordColumns): number[][] {
  const order = cols.sent
    .map((_, i) => i)
    .filter((i) => cols.ok[i])
    .sort((a, b) => cols.sent[a]! - cols.sent[b]!);
  const stride = Math.max(1, Math.ceil(order.length / SCATTER_POINTS));
  const x: number[] = [];
  const ttft: (number | null)[] = [];
  const e2el: number[] = [];
  for (let k = 0; k < order.length; k += stride) {
    const i = order[k]!;
    x.push(round(cols.sent[i]! / 1000));
    ttft.push(Number.isFinite(cols.ttft[i]!) ? round(cols.ttft[i]!) : null);
    e2el.push(round(cols.e2el[i]!));
  }
  return [x, ttft as number[], e2el];
}

/**
 * Every chart of the report: from every record's columns and the ITL sample (a small run), or
 * from the accumulator's bounded data (histogram CDFs, a sample of requests, binned series).
 */
export function buildCharts(source: ChartSource, durationS: number): ChartData[] {
  const cdf = (id: string, title: string, [x, y]: [number[], number[]]): ChartData => ({
    id,
    title,
    xLabel: "ms",
    yLabel: "% of requests ≤ x",
    series: ["CDF"],
    kind: "line",
    data: [x, y],
  });
  let cdfs: Record<"ttft" | "tpot" | "itl" | "e2el", [number[], number[]]>;
  let scatter: number[][];
  let ts: TimeSeries;
  if (source.kind === "records") {
    const cols = source.columns;
    const okValues = (v: number[]) => v.filter((_, i) => cols.ok[i]);
    cdfs = {
      ttft: cdfPoints(okValues(cols.ttft)),
      tpot: cdfPoints(okValues(cols.tpot)),
      itl: cdfPoints(source.itlSample),
      e2el: cdfPoints(okValues(cols.e2el)),
    };
    scatter = latencyOverTime(cols);
    ts = timeSeries(cols, durationS);
  } else {
    cdfs = source.cdf;
    scatter = source.scatter as number[][];
    ts = source.series;
  }
  return [
    cdf("cdf-ttft", "TTFT CDF", cdfs.ttft),
    cdf("cdf-tpot", "TPOT CDF", cdfs.tpot),
    cdf("cdf-itl", "ITL CDF", cdfs.itl),
    cdf("cdf-e2el", "E2EL CDF", cdfs.e2el),
    {
      id: "latency-time",
      title: "TTFT and E2EL over time (by send time)",
      xLabel: "s since start",
      yLabel: "ms",
      series: ["TTFT", "E2EL"],
      kind: "points",
      data: scatter,
    },
    {
      id: "throughput-time",
      title: `Throughput over time (${ts.bucketS} s buckets, by completion)`,
      xLabel: "s since start",
      yLabel: "per second",
      series: ["requests/s", "output tokens/s"],
      kind: "line",
      data: [ts.x, ts.requestsPerS, ts.tokensPerS],
    },
    {
      id: "concurrency-time",
      title: `Concurrency over time (mean requests in flight per ${ts.bucketS} s)`,
      xLabel: "s since start",
      yLabel: "in flight",
      series: ["in flight"],
      kind: "line",
      data: [ts.x, ts.concurrency],
    },
  ];
}

const esc = escapeHtml;
const fmt = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(2) : "n/a");

/** The summary's headline table as HTML rows. */
function summaryTable(s: RunSummary): string {
  const rows: [string, string][] = [
    ["Successful / failed requests", `${s.completed} / ${s.failed}`],
    ["Duration (s)", fmt(s.duration_s)],
    ["Request throughput (req/s)", fmt(s.request_throughput)],
    ["Output token throughput (tok/s)", fmt(s.output_token_throughput)],
    [
      "Prompt / completion / cached tokens",
      `${s.total_prompt_tokens} / ${s.total_completion_tokens} / ${s.total_cached_tokens}`,
    ],
  ];
  const goodput = s.goodput as { request_goodput: number; good_fraction: number } | undefined;
  if (goodput)
    rows.push([
      "Goodput (req/s, % meeting SLOs)",
      `${fmt(goodput.request_goodput)} (${fmt(goodput.good_fraction * 100)} %)`,
    ]);
  const lat = (name: string, m: RunSummary["ttft_ms"]) =>
    rows.push([
      `${name} mean / p50 / p90 / p99 / p99.9 (ms)`,
      [m.mean, m.p50, m.p90, m.p99, m.p999].map(fmt).join(" / "),
    ]);
  lat("TTFT", s.ttft_ms);
  lat("TPOT", s.tpot_ms);
  lat("ITL", s.itl_ms);
  lat("E2EL", s.e2el_ms);
  lat("Schedule lag", s.schedule_lag_ms);
  for (const [code, n] of Object.entries(s.errors)) rows.push([`Errors ${code}`, String(n)]);
  return rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join("\n");
}

/** The browser side: draws every chart with uPlot; runs inside report.html. */
const CLIENT_SCRIPT = `
(function () {
  var charts = JSON.parse(document.getElementById("chart-data").textContent);
  var colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
  charts.forEach(function (c) {
    var box = document.getElementById(c.id);
    if (!c.data[0] || c.data[0].length === 0) {
      box.insertAdjacentHTML("beforeend", '<p class="empty">no data</p>');
      return;
    }
    var series = [{ label: c.xLabel }].concat(c.series.map(function (name, k) {
      var s = { label: name, stroke: colors[k % colors.length], width: 1.5, spanGaps: true };
      if (c.kind === "points") { s.paths = function () { return null; }; s.points = { show: true, size: 3, fill: colors[k % colors.length] }; }
      return s;
    }));
    new uPlot({
      title: c.title, width: Math.min(560, window.innerWidth - 40), height: 280,
      scales: { x: { time: false } }, series: series,
      axes: [{ label: c.xLabel }, { label: c.yLabel }]
    }, c.data, box);
  });
  document.body.setAttribute("data-charts-rendered", String(charts.length));
})();
`;

/**
 * report.html: one self-contained page (uPlot and the data inlined, no network), with the
 * summary table, latency CDFs, TTFT/E2EL over time, throughput over time and concurrency over
 * time. Opens offline in any browser.
 */
export function renderHtmlReport(
  summary: RunSummary,
  source: ChartSource,
  title = "workloadgen report",
  serverSamples: readonly ServerMetricsSample[] = [],
): string {
  const charts = [
    ...buildCharts(source, summary.duration_s),
    ...serverCharts(serverSamples),
    ...sessionCharts(summary),
  ];
  const warnings = Array.isArray(summary.warnings) ? (summary.warnings as unknown[]).map(String) : [];
  // "</" inside a <script> would end it: escape it in the JSON.
  const json = (v: unknown) => toJson(v).replace(/<\//g, "<\\/");
  return `${htmlPageHead(
    title,
    ".empty { color: #888; }\n.warning { color: #9a6700; }\ndetails pre { max-height: 400px; overflow: auto; background: #f7f7f7; padding: 8px; }\n",
  )}
<h1>${esc(title)}</h1>
<p>Run ${esc(String(summary.run_id ?? ""))} started ${esc(String(summary.started_at ?? ""))}, target ${esc(String((summary.target as { address?: string } | undefined)?.address ?? ""))}</p>
${warnings.map((w) => `<p class="warning">warning: ${esc(w)}</p>`).join("\n")}
<table>${summaryTable(summary)}</table>
<div class="charts">${charts.map((c) => `<div class="chart" id="${c.id}"></div>`).join("")}</div>
<details><summary>summary.json</summary><pre>${esc(toJson(summary))}</pre></details>
<script id="chart-data" type="application/json">${json(charts)}</script>
<script>${UPLOT_JS.replace(/<\/script/gi, "<\\/script")}</script>
<script>${CLIENT_SCRIPT}</script>
</body></html>
`;
}
