/**
 * The simulator's domain: the cluster on a virtual clock, built from the other apps' real
 * domain classes (scheduler Router + policies, node-scheduler NodeCore, mock-vllm EngineCore).
 *
 * - `SimulatedCluster`: N simulated nodes + the router + the network model; a workloadgen `Target`.
 * - `SimulatedNode`: NodeCore wired to EngineCore as node-scheduler's transport wires them.
 * - `NetworkModel`: per-link latency + bandwidth delays.
 * - `FastTokenCache`: the mock's TokenCache, cheap for synthetic text.
 */
export * from "./network-model";
export * from "./fast-token-cache";
export * from "./token-aware-synthesizer";
export * from "./sim-turn";
export * from "./simulated-node";
export * from "./simulated-cluster";
