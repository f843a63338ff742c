/**
 * Workload domain: pure, seeded models and the run loop, with no transport. The same classes
 * drive a live run (RealTimers + gRPC target) and a virtual-time simulation (VirtualTimers + a
 * simulated target).
 *
 * - Sources of sessions (`SessionSource.next()` -> `SessionPlan`):
 *   `DatasetSessionSource` (closed-loop chat replay), `OpenLoopSource` (client profiles),
 *   `TraceSessionSource` (Azure/Mooncake traces). Same seed -> same sequence.
 * - `LoadRunner(deps, options, onRecord, onDone)`: plays sessions against a `Target` on `Timers`.
 * - `makeDistribution(config)`: seeded samplers (Constant ... Empirical).
 * - `PartitionedSource`/`shareOf`: a run split across worker threads (each session played once).
 * - `SyntheticChatSource`/`synthesizeChats` (seeded ShareGPT-like chats), `ThinkTimeModel`
 *   (typing or measured chat gaps), `ChatHistory`, `PromptSynthesizer`. Records, percentiles
 *   and summaries are in @symphony/measure.
 * - Agents: `AgentSessionSource` (agent profiles: tool calls, sub-agent fan-out,
 *   reasoning replies), `parseAgentTrace` (JSONL agent traces), `AgentPlanStats`/`agentPlanLine`
 *   (dry run), `agentReport` (per-kind breakdown, tool waits, fan-out cache hits),
 *   `ThinkTagSplitter` (reasoning vs content in a stream).
 */
export * from "./distributions";
export * from "./think-time";
export * from "./chat-synth";
export * from "./dataset";
export * from "./chat-session";
export * from "./prompt-synth";
export * from "./plan";
export * from "./closed-loop";
export * from "./open-loop";
export * from "./trace";
export * from "./target";
export * from "./load-runner";
export * from "./partition";
export * from "./plan-summary";
export * from "./agent";
export * from "./agent-trace";
export * from "./agent-plan";
export * from "./agent-report";
export * from "./agent-reasoning";
