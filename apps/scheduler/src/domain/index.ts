/**
 * The scheduler's domain, free of gRPC/HTTP/logging so a virtual-time simulation can run the
 * same routing code:
 *
 * - `createPolicy(name, params)` -> `RoutingPolicy` (`pick(req, nodes, ctx)` -> `RouteDecision`);
 *   names in `POLICY_NAMES`.
 * - `NodeRegistry`: membership (static + registered nodes, heartbeat timeout, down/up events).
 * - `SessionTable`: session -> node affinity, idle tracking, expiry.
 * - `PrefixIndex` + `prefixBlocks`: predicted prefix-cache hit per node.
 * - `planRebalance`: moves of idle sessions off overloaded nodes.
 * - `Router`: all of the above wired together on injected Timers and Rng.
 * - `TurnPlacement`: one turn's place -> run -> end protocol, placed again after a node fails it
 *   before any output (used by the live relay and the simulated cluster).
 */
export * from "./types";
export * from "./scorers";
export * from "./policies";
export * from "./node-registry";
export * from "./session-table";
export * from "./prefix-index";
export * from "./rebalancer";
export * from "./router";
export * from "./turn-placement";
