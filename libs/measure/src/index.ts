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
