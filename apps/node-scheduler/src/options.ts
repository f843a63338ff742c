import { AUTH_TOKEN_ENV, flag, logLevelOption, TOKENIZER_FLAG_HELP } from "@symphony/common";
import { z } from "zod";
import { RESIDENCY_POLICY_NAMES, WARMUP_TIMINGS } from "./domain";

/**
 * How the node brings a hinted session's KV back before its turn:
 * - `warmup` (default): a stock engine (vLLM). On Advise the node sends a warm-up request (the
 *   session's context, one output token); the node's tiers are admission bookkeeping only.
 * - `directive`: an engine that takes the node's directives (mock-vllm `--kv-connector`, the
 *   proposed vLLM prefetch/pin APIs): the node models copies between tiers, prefetches on hints
 *   and tells the engine what it holds (`x-symphony-resident-tokens`).
 * - `off`: a stock engine, no warm-ups.
 */
export const PREFETCH_MODES = ["warmup", "directive", "off"] as const;
export type PrefetchMode = (typeof PREFETCH_MODES)[number];

const optionalString = () => z.string().optional();

/**
 * The node-scheduler's options: each field's type, bounds, default and help, from which its
 * flags and the simulator's `node:` section are derived. Times in ms.
 */
export const nodeSchedulerOptions = z.object({
  host: flag(z.string().default("127.0.0.1"), "--host <host>", "address to bind gRPC and metrics on"),
  port: flag(z.int().min(0).max(65535).default(50061), "--port <port>", "gRPC port (0 = any free port)"),
  metricsPort: flag(
    z.int().min(0).max(65535).default(9461),
    "--metrics-port <port>",
    "Prometheus /metrics port (0 = any free port)",
  ),
  nodeId: flag(
    optionalString(),
    "--node-id <id>",
    "node id reported to clients and the scheduler (default: node-<hostname>-<bound port>)",
  ),
  engineUrl: flag(
    z.string().default("http://127.0.0.1:8000/v1"),
    "--engine-url <url>",
    "engine OpenAI API base URL",
  ),
  model: flag(z.string().default(""), "--model <name>", "model to request", {
    defaultHelp: "the engine's first model from /v1/models",
  }),
  tokenizer: flag(
    z.string().default("llama3"),
    "--tokenizer <name|path>",
    `${TOKENIZER_FLAG_HELP}; the engine's (default: mock-vllm's default profile, Llama 3.1 8B)`,
  ),
  engineConnections: flag(
    z.int().min(1).max(100_000).default(256),
    "--engine-connections <n>",
    "keep-alive HTTP connections to the engine",
  ),
  engineConnectTimeoutMs: flag(
    z.int().min(1).default(5000),
    "--engine-connect-timeout-ms <ms>",
    "engine TCP connect timeout",
  ),
  engineRetries: flag(
    z.int().min(0).max(100).default(2),
    "--engine-retries <n>",
    "retries of an engine call that failed retryably before streaming anything",
  ),
  engineRetryBackoffMs: flag(
    z.int().min(0).default(200),
    "--engine-retry-backoff-ms <ms>",
    "first retry backoff, doubled per attempt",
  ),
  engineMetricsIntervalMs: flag(
    z.int().min(0).default(1000),
    "--engine-metrics-interval-ms <ms>",
    "how often to scrape the engine's /metrics (0 = never)",
  ),
  engineHealthIntervalMs: flag(
    z.int().min(0).default(1000),
    "--engine-health-interval-ms <ms>",
    "how often to probe the engine's /health; failing probes make the node NOT_SERVING and draining (0 = never)",
  ),
  engineHealthTimeoutMs: flag(
    z.int().min(1).default(2000),
    "--engine-health-timeout-ms <ms>",
    "a health probe with no answer by then fails",
  ),
  engineHealthFailures: flag(
    z.int().min(1).max(1000).default(3),
    "--engine-health-failures <n>",
    "health probes failing in a row before the engine counts as down (one success brings it back)",
  ),
  forwardExpectedResponse: flag(
    z.boolean().default(true),
    "--no-forward-expected-response",
    "do not send the request's expected_response to the engine",
  ),
  maxQueue: flag(
    z.int().min(0).default(1024),
    "--max-queue <n>",
    "most turns waiting; more get RESOURCE_EXHAUSTED",
  ),
  maxRunning: flag(
    z.int().min(1).default(256),
    "--max-running <n>",
    "most turns admitted at once (restoring + on the engine)",
  ),
  kvBudgetTokens: flag(
    z.int().min(1).default(262144),
    "--kv-budget-tokens <n>",
    "GPU KV budget in tokens; on a stock engine (warmup/off) without this flag, the engine's reported " +
      "KV capacity once its /metrics is read",
    { conflicts: ["kvBudgetBytes"] },
  ),
  kvBudgetBytes: flag(
    z.number().min(1).optional(),
    "--kv-budget-bytes <n>",
    "GPU KV budget in bytes (instead of --kv-budget-tokens)",
  ),
  kvBytesPerToken: flag(
    z.int().min(1).default(131072),
    "--kv-bytes-per-token <n>",
    "KV bytes per token (Llama-3-8B fp16: 2*32 layers*8 heads*128 dim*2 B = 131072)",
  ),
  cpuBudgetTokens: flag(
    z.int().min(0).default(1048576),
    "--cpu-budget-tokens <n>",
    "host-memory offload tier budget in tokens (0 = no offloading)",
  ),
  offloadGbps: flag(
    z.number().min(0.001).default(25),
    "--offload-gbps <GB/s>",
    "GPU<->host KV copy bandwidth in gigaBYTES per second",
  ),
  residencyPolicy: flag(
    z.enum(RESIDENCY_POLICY_NAMES).default("hint-aware"),
    "--residency-policy <name>",
    "which idle sessions give up GPU memory first",
  ),
  prefetchMarginMs: flag(
    z.int().min(0).default(50),
    "--prefetch-margin-ms <ms>",
    "finish a hinted prefetch this long before the expected arrival",
  ),
  gpuFreeTarget: flag(
    z.number().min(0).max(0.9).default(0),
    "--gpu-free-target <fraction>",
    "keep this fraction of the GPU budget free by offloading idle sessions ahead of demand (0 = on demand only)",
  ),
  hintStaleMs: flag(
    z.int().min(0).default(10_000),
    "--hint-stale-ms <ms>",
    "a hint still counts this long after its expected arrival",
  ),
  prefetchMode: flag(
    z.enum(PREFETCH_MODES).default("warmup"),
    "--prefetch-mode <mode>",
    "warmup: stock engine, send a warm-up request on Advise; directive: the engine takes the node's " +
      "residency directives (modelled copies, x-symphony-resident-tokens); off: stock engine, no warm-ups",
  ),
  warmupTiming: flag(
    z.enum(WARMUP_TIMINGS).default("at-hint"),
    "--warmup-timing <when>",
    "warmup mode: send at the hint, or --warmup-lead-ms before the hinted arrival",
  ),
  warmupLeadMs: flag(
    z.int().min(0).default(500),
    "--warmup-lead-ms <ms>",
    "just-in-time warm-ups go out this long before the hinted arrival",
  ),
  maxWarmupsInFlight: flag(
    z.int().min(1).default(16),
    "--max-warmups-in-flight <n>",
    "most warm-up requests running at once (they bypass the queue); more are skipped",
  ),
  warmupMinGapMs: flag(
    z.int().min(0).default(1000),
    "--warmup-min-gap-ms <ms>",
    "no warm-up for a session due back sooner than this (its context is still cached)",
  ),
  kvEventsEndpoint: flag(
    optionalString(),
    "--kv-events-endpoint <url>",
    "the engine's KV-cache event publisher (vLLM --kv-events-config endpoint), e.g. tcp://vllm-host:5557 " +
      "(default: none; residency is then the node's own bookkeeping)",
  ),
  kvEventsBind: flag(
    z.boolean().default(false),
    "--kv-events-bind",
    "bind the subscriber at --kv-events-endpoint (for an engine whose publisher connects, i.e. an endpoint " +
      "without '*'); default: connect to it",
  ),
  kvEventsReplayEndpoint: flag(
    optionalString(),
    "--kv-events-replay-endpoint <url>",
    "the engine's replay endpoint (vLLM replay_endpoint) to recover missed events",
  ),
  kvEventsTopic: flag(z.string().default(""), "--kv-events-topic <prefix>", "topic prefix to subscribe to"),
  maxTrackedSessions: flag(
    z.int().min(1).default(10_000),
    "--max-tracked-sessions <n>",
    "most session contexts kept for warm-ups and residency",
  ),
  maxPromptBytes: flag(
    z
      .int()
      .min(1)
      .default(4 << 20),
    "--max-prompt-bytes <n>",
    "refuse a request with more UTF-8 bytes of prompt text than this (INVALID_ARGUMENT, before tokenizing)",
  ),
  maxMessages: flag(
    z.int().min(1).default(10_000),
    "--max-messages <n>",
    "refuse a request with more chat messages than this",
  ),
  scheduler: flag(
    optionalString(),
    "--scheduler <host:port>",
    "global scheduler to register with and heartbeat (default: none)",
  ),
  advertiseAddress: flag(
    optionalString(),
    "--advertise-address <host:port>",
    "address the scheduler should dial (default: <host>:<bound port>)",
  ),
  registerRetryMs: flag(
    z.int().min(1).default(2000),
    "--register-retry-ms <ms>",
    "wait between registration attempts while the scheduler is down",
  ),
  authTokenFile: flag(
    optionalString(),
    "--auth-token-file <path>",
    `file whose first token is sent to --scheduler on RegisterNode/Heartbeat (default: $${AUTH_TOKEN_ENV}, else none)`,
  ),
  tlsCert: flag(
    optionalString(),
    "--tls-cert <path>",
    "PEM certificate chain: serve gRPC over TLS (with --tls-key)",
  ),
  tlsKey: flag(optionalString(), "--tls-key <path>", "PEM private key of --tls-cert"),
  tlsCa: flag(
    optionalString(),
    "--tls-ca <path>",
    "PEM CA bundle: require client certificates signed by it (mTLS)",
  ),
  schedulerTlsCa: flag(
    optionalString(),
    "--scheduler-tls-ca <path>",
    "PEM CA bundle: dial --scheduler over TLS trusting it (presents --tls-cert/--tls-key if it asks for mTLS)",
  ),
  logLevel: logLevelOption(),
});
export type NodeSchedulerOptions = z.output<typeof nodeSchedulerOptions>;
