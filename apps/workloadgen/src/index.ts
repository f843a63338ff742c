// Package entry (`@symphony/workloadgen`): what the simulator and experiments reuse beside the
// domain (`@symphony/workloadgen/domain`): the workload config, building a workload from it,
// and the run outputs (summary, report).
export { configFileSchema, parseConfig, type Config } from "./config";
export { buildWorkload, runnerOptions } from "./workload";
export { formatSummaryTable, summaryCsv, SummaryAccumulator, toJson, type RunSummary } from "./output/report";
export { renderHtmlReport } from "./output/html-report";
export { escapeHtml, htmlPageHead } from "./output/html-page";
export { UPLOT_JS } from "./output/uplot-assets";
