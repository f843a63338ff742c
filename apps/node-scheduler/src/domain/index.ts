/**
 * The node-scheduler's domain: synchronous, I/O-free, driven by method calls and injected
 * Timers, so the same code runs live and inside a virtual-time cluster simulation.
 *
 * - `NodeCore`: the API. `submit(turn)` queues a turn and later calls `hooks.dispatch` when it
 *   is admitted; report the engine's outcome with `onFinished(id, usage)` / `onFailed(id)`, or
 *   `cancel(id)` when the caller leaves. `advise(hint)`, `closeSession(id)`, `status()`, `stats`.
 * - `RequestQueue`: bounded priority classes, FCFS within a class.
 * - `KvBudget` / `TransferModel`: per-tier token accounting; KV copy times from bandwidth.
 * - `SessionTable`: per-session tier, KV size, hints, in-flight transfers.
 * - `ResidencyPolicy` (`LruPolicy`, `HintAwarePolicy`): which idle session gives up memory first.
 * - `WarmupPlanner`: when hinted sessions get a warm-up request (stock engines), and its score.
 * - `approxChatPromptTokens`: a chat prompt's tokens without its exact template (the per-message allowance).
 */
export * from "./node-core";
export * from "./request-queue";
export * from "./kv-budget";
export * from "./session-table";
export * from "./residency-policy";
export * from "./warmup-planner";
export * from "./prompt-tokens";
