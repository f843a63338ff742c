import { escapeHtml, htmlPageHead, UPLOT_JS } from "@symphony/measure";
import { CONFIGURATIONS, configurationNamed } from "./configurations";
import type { Capacity, PointResult } from "./domain/point-metrics";
import type { ScaleResult } from "./experiment";

const GB = 1e9;
const fmt = (x: number | undefined, digits = 1) =>
  x === undefined || !Number.isFinite(x) ? "n/a" : x.toFixed(digits);
const ratio = (a: number | undefined, b: number | undefined, digits = 2) =>
  a === undefined || b === undefined || !(b > 0) || !Number.isFinite(a)
    ? "n/a"
    : `${(a / b).toFixed(digits)}×`;
const label = (config: string) => configurationNamed(config).label;

function markdownTable(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n") + "\n";
}

/** A capacity as a cell: "≥ N" when no measured count failed (the true capacity may be higher). */
export const sessionsCell = (c: Capacity) => (c.lower_bound ? `≥ ${c.max_sessions}` : String(c.max_sessions));

/** KV movement cells: count and GB. */
const moved = (n: number, bytes: number) => `${n} / ${fmt(bytes / GB, 2)}`;

/**
 * Capacity table: per configuration, the highest session count meeting the SLO, its ratio to
 * configuration 1, and the figures measured at that count.
 */
export function capacityTable(r: ScaleResult): string {
  const base = r.capacities.find((c) => c.config === "baseline");
  const rows = r.capacities.map((c) => {
    const p = c.at_max;
    return [
      label(c.config),
      sessionsCell(c),
      base && base.max_sessions > 0 ? ratio(c.max_sessions, base.max_sessions) : "n/a",
      fmt(p?.request_throughput, 2),
      fmt(p?.ttft_mean_ms),
      fmt(p?.ttft_p99_ms),
      fmt(p?.e2el_mean_ms, 0),
      fmt(p?.e2el_p99_ms, 0),
      fmt(p?.prefix_cache_hit_rate, 3),
      fmt(p?.gpu_hit_rate, 3),
      p ? moved(p.offloads, p.offload_bytes) : "n/a",
      p ? moved(p.prefetches, p.prefetch_bytes) : "n/a",
      p ? moved(p.restores, p.restore_bytes) : "n/a",
      p ? String(p.evictions) : "n/a",
      p ? String(p.recomputed_tokens) : "n/a",
    ];
  });
  return markdownTable(
    [
      "configuration",
      "max sessions @ SLO",
      "vs 1",
      "req/s",
      "TTFT mean ms",
      "TTFT p99 ms",
      "E2EL mean ms",
      "E2EL p99 ms",
      "prefix-cache hit",
      "GPU hit (returning turns)",
      "offloads n / GB",
      "prefetches n / GB",
      "restores n / GB",
      "evictions",
      "recomputed tokens",
    ],
    rows,
  );
}

/** The largest session count every configuration was measured at (all configurations see the same load). */
export function commonSessions(r: ScaleResult): number | undefined {
  const configs = [...new Set(r.points.map((p) => p.config))];
  const counts = r.scale.sessions.filter((s) =>
    configs.every((c) => r.points.some((p) => p.config === c && p.sessions === s)),
  );
  return counts.length > 0 ? counts[counts.length - 1] : undefined;
}

/** Same load, side by side: latency of each configuration at the common session count, vs configuration 1. */
export function equalLoadTable(r: ScaleResult): string {
  const n = commonSessions(r);
  if (n === undefined) return "(no session count measured by every configuration)\n";
  const at = (c: string) => r.points.find((p) => p.config === c && p.sessions === n);
  const base = at("baseline");
  const rows = CONFIGURATIONS.filter((c) => at(c.name)).map((c) => {
    const p = at(c.name)!;
    return [
      c.label,
      String(n),
      fmt(p.ttft_mean_ms),
      fmt(p.ttft_p99_ms),
      fmt(p.e2el_mean_ms, 0),
      ratio(base?.e2el_mean_ms, p.e2el_mean_ms),
      ratio(p.ttft_mean_ms, base?.ttft_mean_ms, 3),
      fmt(p.prefix_cache_hit_rate, 3),
      fmt(p.gpu_hit_rate, 3),
      String(p.recomputed_tokens),
    ];
  });
  return markdownTable(
    [
      "configuration",
      "sessions",
      "TTFT mean ms",
      "TTFT p99 ms",
      "E2EL mean ms",
      "E2EL speed-up vs 1",
      "TTFT vs 1",
      "prefix-cache hit",
      "GPU hit",
      "recomputed tokens",
    ],
    rows,
  );
}

/** Simulated vs live at the same small scale: capacity and figures per configuration, next to each other. */
export function sideBySideTable(sim: ScaleResult, live: ScaleResult): string {
  const n = Math.min(commonSessions(sim) ?? Infinity, commonSessions(live) ?? Infinity);
  const at = (r: ScaleResult, c: string) => r.points.find((p) => p.config === c && p.sessions === n);
  const rows = CONFIGURATIONS.filter((c) => sim.capacities.some((x) => x.config === c.name)).map((c) => {
    const s = at(sim, c.name);
    const l = at(live, c.name);
    const cap = (r: ScaleResult) => {
      const found = r.capacities.find((x) => x.config === c.name);
      return found ? sessionsCell(found) : "n/a";
    };
    return [
      c.label,
      cap(sim),
      cap(live),
      fmt(s?.ttft_mean_ms),
      fmt(l?.ttft_mean_ms),
      fmt(s?.ttft_p99_ms),
      fmt(l?.ttft_p99_ms),
      fmt(s?.prefix_cache_hit_rate, 3),
      fmt(l?.prefix_cache_hit_rate, 3),
      fmt(s?.gpu_hit_rate, 3),
      fmt(l?.gpu_hit_rate, 3),
    ];
  });
  return markdownTable(
    [
      "configuration",
      "max sessions sim",
      "max sessions live",
      `TTFT mean sim (${Number.isFinite(n) ? n : "?"} sess)`,
      "TTFT mean live",
      "TTFT p99 sim",
      "TTFT p99 live",
      "prefix hit sim",
      "prefix hit live",
      "GPU hit sim",
      "GPU hit live",
    ],
    rows,
  );
}

const POINT_COLUMNS: readonly (keyof PointResult)[] = [
  "mode",
  "config",
  "sessions",
  "completed",
  "failed",
  "request_throughput",
  "output_token_throughput",
  "ttft_mean_ms",
  "ttft_p50_ms",
  "ttft_p99_ms",
  "e2el_mean_ms",
  "e2el_p99_ms",
  "prefix_cache_hit_rate",
  "gpu_hit_rate",
  "recomputed_tokens",
  "offloads",
  "offload_bytes",
  "prefetches",
  "prefetch_bytes",
  "restores",
  "restore_bytes",
  "evictions",
  "evicted_bytes",
  "wall_s",
];

/** Every measured point of every scale, one CSV line each. */
export function pointsCsv(results: readonly ScaleResult[]): string {
  const lines = [["scale", ...POINT_COLUMNS].join(",")];
  for (const r of results)
    for (const p of r.points)
      lines.push(
        [
          r.name,
          ...POINT_COLUMNS.map((k) => {
            const v = p[k];
            return typeof v === "number"
              ? Number.isFinite(v)
                ? String(Number(v.toFixed(4)))
                : ""
              : String(v);
          }),
        ].join(","),
      );
  return lines.join("\n") + "\n";
}

/** Capacity summary of every scale, one CSV line per scale and configuration. */
export function capacityCsv(results: readonly ScaleResult[]): string {
  const lines = ["scale,config,max_sessions,lower_bound,ratio_vs_baseline"];
  for (const r of results) {
    const base = r.capacities.find((c) => c.config === "baseline")?.max_sessions ?? 0;
    for (const c of r.capacities)
      lines.push(
        `${r.name},${c.config},${c.max_sessions},${c.lower_bound},${base > 0 ? (c.max_sessions / base).toFixed(3) : ""}`,
      );
  }
  return lines.join("\n") + "\n";
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];
const escXml = escapeHtml;

/**
 * Sessions vs p99 TTFT, one line per configuration, one panel per scale, the SLO as a dashed
 * line; log-scaled y (past capacity p99 grows by orders of magnitude). Self-contained SVG.
 */
export function chartSvg(results: readonly ScaleResult[], sloMs: number): string {
  const panelW = 520;
  const panelH = 340;
  const m = { l: 64, r: 16, t: 34, b: 44 };
  const width = results.length * panelW + 10;
  const height = panelH + 90;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  results.forEach((r, i) => {
    const x0 = 10 + i * panelW;
    const plotW = panelW - m.l - m.r - 10;
    const plotH = panelH - m.t - m.b;
    const ys = r.points.map((p) => p.ttft_p99_ms).filter((v) => v > 0 && Number.isFinite(v));
    const yMin = Math.pow(10, Math.floor(Math.log10(Math.min(sloMs, ...ys) / 1.5)));
    const yMax = Math.pow(10, Math.ceil(Math.log10(Math.max(sloMs, ...ys) * 1.2)));
    const xs = r.scale.sessions;
    const xMax = Math.max(...xs);
    const px = (s: number) => x0 + m.l + (s / xMax) * plotW;
    const py = (v: number) =>
      m.t +
      plotH -
      ((Math.log10(Math.max(v, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * plotH;
    parts.push(
      `<text x="${x0 + m.l}" y="20" font-size="14" font-weight="bold">${escXml(r.name)}: sessions vs p99 TTFT</text>`,
    );
    parts.push(
      `<rect x="${x0 + m.l}" y="${m.t}" width="${plotW}" height="${plotH}" fill="none" stroke="#999"/>`,
    );
    for (let d = yMin; d <= yMax * 1.0001; d *= 10) {
      parts.push(
        `<line x1="${x0 + m.l}" x2="${x0 + m.l + plotW}" y1="${py(d).toFixed(1)}" y2="${py(d).toFixed(1)}" stroke="#eee"/>`,
        `<text x="${x0 + m.l - 6}" y="${(py(d) + 4).toFixed(1)}" text-anchor="end">${d >= 1000 ? `${d / 1000} s` : `${d} ms`}</text>`,
      );
    }
    for (const s of xs)
      parts.push(`<text x="${px(s).toFixed(1)}" y="${m.t + plotH + 16}" text-anchor="middle">${s}</text>`);
    parts.push(
      `<text x="${x0 + m.l + plotW / 2}" y="${m.t + plotH + 34}" text-anchor="middle">concurrent sessions</text>`,
      `<line x1="${x0 + m.l}" x2="${x0 + m.l + plotW}" y1="${py(sloMs).toFixed(1)}" y2="${py(sloMs).toFixed(1)}" stroke="#444" stroke-dasharray="6 4"/>`,
      `<text x="${x0 + m.l + plotW - 4}" y="${(py(sloMs) - 5).toFixed(1)}" text-anchor="end" fill="#444">SLO p99 TTFT ${sloMs} ms</text>`,
    );
    CONFIGURATIONS.forEach((c, k) => {
      const pts = r.points
        .filter((p) => p.config === c.name && p.ttft_p99_ms > 0)
        .sort((a, b) => a.sessions - b.sessions);
      if (pts.length === 0) return;
      const d = pts
        .map((p, j) => `${j === 0 ? "M" : "L"}${px(p.sessions).toFixed(1)},${py(p.ttft_p99_ms).toFixed(1)}`)
        .join(" ");
      parts.push(`<path d="${d}" fill="none" stroke="${COLORS[k]}" stroke-width="2"/>`);
      for (const p of pts)
        parts.push(
          `<circle cx="${px(p.sessions).toFixed(1)}" cy="${py(p.ttft_p99_ms).toFixed(1)}" r="3" fill="${COLORS[k]}"/>`,
        );
    });
  });
  CONFIGURATIONS.forEach((c, k) => {
    const x = 20 + k * 240;
    parts.push(
      `<line x1="${x}" x2="${x + 24}" y1="${panelH + 60}" y2="${panelH + 60}" stroke="${COLORS[k]}" stroke-width="3"/>`,
      `<text x="${x + 30}" y="${panelH + 64}">${escXml(c.label)}</text>`,
    );
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

/** uPlot chart data, one chart per scale: x = session counts, one p99 TTFT series per configuration (null = not measured). */
function uplotCharts(results: readonly ScaleResult[]) {
  return results.map((r, i) => ({
    id: `chart-${i}`,
    title: `${r.name}: sessions vs p99 TTFT (ms)`,
    series: CONFIGURATIONS.map((c) => c.label),
    data: [
      [...r.scale.sessions],
      ...CONFIGURATIONS.map((c) =>
        r.scale.sessions.map(
          (s) => r.points.find((p) => p.config === c.name && p.sessions === s)?.ttft_p99_ms ?? null,
        ),
      ),
    ],
  }));
}

const escHtml = escXml;

/** A Markdown table (as this module writes them) as an HTML table. */
function mdTableToHtml(md: string): string {
  const lines = md
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("|"));
  if (lines.length < 2) return `<p>${escHtml(md)}</p>`;
  const cells = (l: string) =>
    l
      .slice(1, -1)
      .split("|")
      .map((c) => c.trim());
  const head = cells(lines[0]!)
    .map((c) => `<th>${escHtml(c)}</th>`)
    .join("");
  const body = lines
    .slice(2)
    .map(
      (l) =>
        `<tr>${cells(l)
          .map((c) => `<td>${escHtml(c)}</td>`)
          .join("")}</tr>`,
    )
    .join("\n");
  return `<table><tr>${head}</tr>\n${body}</table>`;
}

const CLIENT_SCRIPT = `
(function () {
  var charts = JSON.parse(document.getElementById("chart-data").textContent);
  var colors = ${JSON.stringify(COLORS)};
  charts.forEach(function (c) {
    var box = document.getElementById(c.id);
    var series = [{ label: "sessions" }].concat(c.series.map(function (name, k) {
      return { label: name, stroke: colors[k % colors.length], width: 2, spanGaps: false, points: { show: true, size: 6 } };
    }));
    new uPlot({
      title: c.title, width: Math.min(620, window.innerWidth - 40), height: 320,
      scales: { x: { time: false }, y: { distr: 3 } }, series: series,
      axes: [{ label: "concurrent sessions" }, { label: "p99 TTFT (ms, log)" }]
    }, c.data, box);
  });
  document.body.setAttribute("data-charts-rendered", String(charts.length));
})();
`;

/** report.html in workloadgen's report style: self-contained (uPlot inlined), the tables and one chart per scale. */
export function htmlReport(
  title: string,
  sections: { heading: string; markdown: string }[],
  results: readonly ScaleResult[],
): string {
  const json = JSON.stringify(uplotCharts(results)).replace(/<\//g, "<\\/");
  const body = sections
    .map(
      (s) =>
        `<h2>${escHtml(s.heading)}</h2>\n${s.markdown.includes("|") ? mdTableToHtml(s.markdown) : `<p>${escHtml(s.markdown)}</p>`}`,
    )
    .join("\n");
  return `${htmlPageHead(title)}
<h1>${escHtml(title)}</h1>
<div class="charts">${results.map((_, i) => `<div class="chart" id="chart-${i}"></div>`).join("")}</div>
${body}
<script id="chart-data" type="application/json">${json}</script>
<script>${UPLOT_JS.replace(/<\/script/gi, "<\\/script")}</script>
<script>${CLIENT_SCRIPT}</script>
</body></html>
`;
}
