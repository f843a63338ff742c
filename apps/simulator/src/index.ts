// The simulator as a library: the domain (SimulatedCluster & co.), config resolution and the
// run/sweep entry points the CLI uses.
export * from "./domain";
export {
  parseConfig,
  resolveConfig,
  parseSweep,
  clusterFileSchema,
  type ClusterFile,
  type SimConfig,
} from "./config";
export { runSimulation, type SimResult, type SimStats } from "./simulate";
export { runSweep, combinations, type SweepRow } from "./sweep";
