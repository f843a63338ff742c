// Package entry (`@symphony/workloadgen`): what the simulator and experiments reuse beside the
// domain (`@symphony/workloadgen/domain`): the workload config and building a workload from it.
// The run outputs (records, summary, report) are @symphony/measure's.
export { configFileSchema, parseConfig, resolveConfig, type Config, type ConfigFile } from "./config";
export { workloadgenOptions, type WorkloadgenOptions } from "./options";
export { buildWorkload, runnerOptions } from "./workload";
