import {
  COMPARED_DISTRIBUTIONS,
  type CompareRow,
  type Comparison,
  type ComparedDistribution,
  type DistributionTest,
} from "./compare";
import { escapeHtml, htmlPageHead } from "./html-page";
import { cdfPoints } from "./html-report";
import { toJson } from "./summary";
import { UPLOT_JS } from "./uplot-assets";

const fmt = (x: number | null, digits = 2): string => (x === null ? "n/a" : x.toFixed(digits));
const signed = (x: number | null, digits = 2): string =>
  x === null ? "" : `${x >= 0 ? "+" : ""}${x.toFixed(digits)}`;
const pct = (x: number | null): string => (x === null ? "" : `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`);
/** p-values as people read them: 3 significant digits, "<1e-6" below. */
export const formatP = (p: number): string =>
  !Number.isFinite(p) ? "n/a" : p < 1e-6 ? "<1e-6" : p.toPrecision(3);
const digitsOf = (row: CompareRow) =>
  /fraction|share|hit rate/i.test(row.label) ? 3 : /requests|tokens$/i.test(row.label) ? 0 : 2;
/** "+1.50 (+3.2%)"; without the percentage when the baseline is 0. */
const change = (delta: number | null, relative: number | null, digits: number): string =>
  delta === null
    ? ""
    : relative === null
      ? signed(delta, digits)
      : `${signed(delta, digits)} (${pct(relative)})`;

/** The comparison as a terminal table: each run's value, and each later run's change from the first. */
export function formatCompareTable(c: Comparison): string {
  const header = ["metric", ...c.labels.map((l, i) => (i === 0 ? `${l} (base)` : l))];
  for (let i = 1; i < c.labels.length; i++) header.push(`Δ ${c.labels[i]}`, `p ${c.labels[i]}`);
  const lines: string[][] = [header];
  for (const row of c.rows) {
    const d = digitsOf(row);
    const cells = [row.label, ...row.values.map((v) => fmt(v, d))];
    for (let i = 1; i < c.labels.length; i++) {
      const delta = row.deltas[i] ?? null;
      cells.push(change(delta, row.relative[i] ?? null, d));
      const test = row.tests?.[i];
      cells.push(test ? formatP(test.p) : "");
    }
    lines.push(cells);
  }
  const widths = header.map((_, k) => Math.max(...lines.map((l) => (l[k] ?? "").length)));
  const render = (l: string[]) =>
    l.map((cell, k) => (k === 0 ? cell.padEnd(widths[k]!) : cell.padStart(widths[k]!))).join("  ");
  const rule = "-".repeat(widths.reduce((a, b) => a + b + 2, -2));
  return [render(lines[0]!), rule, ...lines.slice(1).map(render), rule, `p: ${c.method}`, ""].join("\n");
}

interface Chart {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  /** One table per run: [x[], y[]]; the browser joins them on x (uPlot.join). */
  tables: [number[], (number | null)[]][];
  points?: boolean;
}

/** Per run, per distribution: the values drawn as CDF curves (the comparison's samples). */
export type CompareCdfInput = Record<ComparedDistribution, number[]>[];

const TITLES: Record<ComparedDistribution, string> = {
  ttft_ms: "TTFT CDF",
  tpot_ms: "TPOT CDF",
  itl_ms: "ITL CDF",
  e2el_ms: "E2EL CDF",
};

function charts(c: Comparison, values: CompareCdfInput): Chart[] {
  const out: Chart[] = COMPARED_DISTRIBUTIONS.map((m) => ({
    id: `cdf-${m.replace("_ms", "")}`,
    title: TITLES[m],
    xLabel: "ms",
    yLabel: "% of requests ≤ x",
    tables: values.map((v) => cdfPoints(v[m]!)),
  }));
  // Per-turn curves: x is the turn index ("10+" drawn at 10).
  const turnX = (t: string) => Number.parseInt(t, 10);
  out.push({
    id: "turn-ttft",
    title: "TTFT p50 by turn index",
    xLabel: "turn index",
    yLabel: "ms",
    tables: c.byTurn.map((turns) => [turns.map((t) => turnX(t.turn)), turns.map((t) => t.ttft_p50)]),
    points: true,
  });
  out.push({
    id: "turn-cached",
    title: "Cached prompt share by turn index",
    xLabel: "turn index",
    yLabel: "cached / prompt tokens",
    tables: c.byTurn.map((turns) => [
      turns.map((t) => turnX(t.turn)),
      turns.map((t) => t.cached_token_fraction),
    ]),
    points: true,
  });
  return out;
}

const CLIENT_SCRIPT = `
(function () {
  var data = JSON.parse(document.getElementById("compare-data").textContent);
  var colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
  var drawn = 0;
  data.charts.forEach(function (c) {
    var box = document.getElementById(c.id);
    var tables = c.tables.filter(function (t) { return t[0].length > 0; });
    if (tables.length === 0) { box.insertAdjacentHTML("beforeend", '<p class="empty">no data</p>'); return; }
    var joined = uPlot.join(c.tables);
    var series = [{ label: c.xLabel }].concat(data.labels.map(function (name, k) {
      var s = { label: name, stroke: colors[k % colors.length], width: 1.5, spanGaps: true };
      if (c.points) s.points = { show: true, size: 5, fill: colors[k % colors.length] };
      return s;
    }));
    new uPlot({
      title: c.title, width: Math.min(560, window.innerWidth - 40), height: 280,
      scales: { x: { time: false } }, series: series,
      axes: [{ label: c.xLabel }, { label: c.yLabel }]
    }, joined, box);
    drawn++;
  });
  document.body.setAttribute("data-charts-rendered", String(drawn));
})();
`;

function testCell(t: DistributionTest | null | undefined): string {
  if (!t) return "";
  const ci = t.medianDiff;
  return `p=${formatP(t.p)}; Δmedian ${signed(ci.diff)} [${fmt(ci.low)}, ${fmt(ci.high)}]`;
}

/**
 * report.html: one self-contained page (uPlot and the data inlined, no network): the table of
 * every figure side by side with its change from the first run and the tests of the medians,
 * CDF overlays of TTFT, TPOT, ITL and E2EL, and per-turn-index TTFT and cached-share curves.
 */
export function renderCompareReport(
  c: Comparison,
  values: CompareCdfInput,
  title = "workloadgen comparison",
): string {
  const esc = escapeHtml;
  const head = [
    "<tr><th>metric</th>",
    ...c.labels.map((l, i) => `<th>${esc(l)}${i === 0 ? " (base)" : ""}</th>`),
    ...c.labels.slice(1).map((l) => `<th>Δ ${esc(l)}</th><th>test ${esc(l)}</th>`),
    "</tr>",
  ].join("");
  const body = c.rows
    .map((row) => {
      const d = digitsOf(row);
      const cells = row.values.map((v) => `<td>${fmt(v, d)}</td>`);
      for (let i = 1; i < c.labels.length; i++) {
        const delta = row.deltas[i] ?? null;
        const worse =
          delta !== null && delta !== 0 && row.better !== undefined && (row.better === "lower") === delta > 0;
        const cls =
          delta === null || delta === 0 || row.better === undefined ? "" : worse ? "worse" : "better";
        cells.push(`<td class="${cls}">${change(delta, row.relative[i] ?? null, d)}</td>`);
        cells.push(`<td>${esc(testCell(row.tests?.[i]))}</td>`);
      }
      return `<tr><th>${esc(row.label)}</th>${cells.join("")}</tr>`;
    })
    .join("\n");
  const chartList = charts(c, values);
  const json = (v: unknown) => toJson(v).replace(/<\//g, "<\\/");
  return `${htmlPageHead(
    title,
    ".better { color: #1a7f37; }\n.worse { color: #cf222e; }\n.empty { color: #888; }\n.method { color: #555; max-width: 900px; }\n",
  )}
<h1>${esc(title)}</h1>
<p>Runs: ${c.labels.map((l) => esc(l)).join(", ")}; changes are against ${esc(c.labels[0] ?? "")}.</p>
<table>${head}\n${body}</table>
<p class="method">Tests: ${esc(c.method)}.</p>
<div class="charts">${chartList.map((ch) => `<div class="chart" id="${ch.id}"></div>`).join("")}</div>
<details><summary>compare.json</summary><pre>${esc(toJson(c))}</pre></details>
<script id="compare-data" type="application/json">${json({ labels: c.labels, charts: chartList })}</script>
<script>${UPLOT_JS.replace(/<\/script/gi, "<\\/script")}</script>
<script>${CLIENT_SCRIPT}</script>
</body></html>
`;
}
