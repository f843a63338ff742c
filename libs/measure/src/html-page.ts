import { UPLOT_CSS } from "./uplot-assets";

/** Escapes text for HTML (and SVG/XML) content and attribute values. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/**
 * The start of a self-contained report page, up to and including `<body>`: uPlot's CSS inlined
 * and the look shared by every Symphony report (workloadgen's run report, the experiments).
 */
export function htmlPageHead(title: string, extraCss = ""): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<style>${UPLOT_CSS}</style>
<style>
body { font-family: system-ui, sans-serif; margin: 20px; color: #222; }
table { border-collapse: collapse; margin-bottom: 20px; }
th, td { text-align: left; padding: 3px 12px; border-bottom: 1px solid #ddd; font-weight: normal; }
th { color: #555; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.chart { border: 1px solid #eee; padding: 6px; }
${extraCss}</style></head>
<body>`;
}
