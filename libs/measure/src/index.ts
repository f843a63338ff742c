/**
 * Measurement: what a run measured and how it is reported, shared by the workloadgen live run,
 * the simulator, the experiments and the benches.
 *
 * - `RequestRecord` (one request's timings and tokens) and its requests.jsonl lines.
 * - `percentileSorted` (numpy's linear interpolation, as `vllm bench serve`), `summarize`,
 *   `ReservoirSampler`; `LogLinearHistogram`/`StreamingMetric` (bounded memory, within 1%).
 * - `SummaryAccumulator` -> `RunSummary`; its formats: `formatSummaryTable` (the terminal table),
 *   `toJson` (summary.json), `summaryCsv` (summary.csv), `renderHtmlReport` (report.html).
 * - Files: `JsonlWriter`, `prepareOutDir`, and `RunOutputs`, the one writer of a run's folder.
 * - Several runs: `mergeShardRuns` (shards' records on one time line), `compareRuns` with
 *   `mannWhitneyU`/`bootstrapMedianDiff`, `formatCompareTable`/`renderCompareReport`.
 * - The servers' view: `parsePrometheusText`, `summarizeServerMetrics`, `warmCacheReason`;
 *   session figures: `SessionPanelAccumulator` (KV tier per turn, hint lead time).
 */
export * from "./record";
export * from "./stats";
export * from "./histogram";
export * from "./summary";
export * from "./html-page";
export * from "./html-report";
export * from "./uplot-assets";
export * from "./jsonl-writer";
export * from "./out-dir";
export * from "./run-outputs";
export * from "./server-metrics";
export * from "./session-panels";
export * from "./shard-merge";
export * from "./compare-stats";
export * from "./compare";
export * from "./compare-report";
