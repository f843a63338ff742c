// uPlot's browser build and stylesheet as strings, inlined into report.html so the page works
// offline. esbuild embeds them at build time (`with { type: "text" }`); vitest gets the same via
// the small `text-import` plugin in vitest.config.mts. The bundle needs no node_modules at run time.
import uplotJs from "uplot/dist/uPlot.iife.min.js" with { type: "text" };
import uplotCss from "uplot/dist/uPlot.min.css" with { type: "text" };

/** uPlot's IIFE build (defines the global `uPlot`). */
export const UPLOT_JS: string = uplotJs as unknown as string;
/** uPlot's stylesheet. */
export const UPLOT_CSS: string = uplotCss as unknown as string;
