import type { SweepRow } from "../sweep-row";

const PANELS: readonly { key: keyof SweepRow; title: string; digits: number }[] = [
  { key: "ttft_mean_ms", title: "Mean TTFT (ms)", digits: 1 },
  { key: "ttft_p99_ms", title: "P99 TTFT (ms)", digits: 1 },
  { key: "output_token_throughput", title: "Output throughput (tok/s)", digits: 0 },
  { key: "session_hit_rate", title: "Session KV hit rate", digits: 3 },
];

const escapeXml = (s: string) =>
  s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");

/**
 * The sweep as a self-contained SVG (no scripts, fonts or network assets): one horizontal bar
 * panel per metric, one bar per run, runs labelled by their parameters.
 */
export function sweepChartSvg(rows: readonly SweepRow[]): string {
  const labelW = Math.min(360, 12 + 7 * Math.max(8, ...rows.map((r) => r.run.length)));
  const barW = 300;
  const rowH = 18;
  const panelW = labelW + barW + 80;
  const panelH = 34 + rows.length * rowH;
  const cols = 2;
  const width = cols * panelW + 20;
  const height = 40 + Math.ceil(PANELS.length / cols) * (panelH + 16);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="24" font-size="16" font-weight="bold">Simulated sweep (${rows.length} runs)</text>`,
  ];
  PANELS.forEach((panel, p) => {
    const x0 = 10 + (p % cols) * panelW;
    const y0 = 40 + Math.floor(p / cols) * (panelH + 16);
    const values = rows.map((r) => r[panel.key] as number);
    const max = Math.max(...values.filter(Number.isFinite), 0) || 1;
    parts.push(`<text x="${x0}" y="${y0 + 16}" font-weight="bold">${escapeXml(panel.title)}</text>`);
    rows.forEach((r, i) => {
      const y = y0 + 26 + i * rowH;
      const v = values[i]!;
      const w = Number.isFinite(v) ? Math.max(1, (v / max) * barW) : 0;
      parts.push(
        `<text x="${x0 + labelW - 6}" y="${y + 12}" text-anchor="end">${escapeXml(r.run)}</text>`,
        `<rect x="${x0 + labelW}" y="${y + 2}" width="${w.toFixed(1)}" height="${rowH - 5}" fill="hsl(${(i * 47) % 360},55%,55%)"/>`,
        `<text x="${x0 + labelW + w + 4}" y="${y + 12}">${Number.isFinite(v) ? v.toFixed(panel.digits) : "n/a"}</text>`,
      );
    });
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
