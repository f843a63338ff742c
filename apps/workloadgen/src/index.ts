// Package entry (`@symphony/workloadgen`): what the simulator and experiments reuse beside the
// domain (`@symphony/workloadgen/domain`): the workload config and building a workload from it.
// The run outputs (records, summary, report) are @symphony/measure's.
export { configFileSchema, parseConfig, type Config } from "./config";
export { buildWorkload, runnerOptions } from "./workload";
