import { CLIENT_AUTH_TOKEN_ENV, flag, logLevelOption, TOKENIZER_FLAG_HELP } from "@symphony/common";
import type { Slo } from "@symphony/measure";
import { z } from "zod";
import { collectHeader, parseSlo, parseStartAt } from "./run-options";
import { parseShard, type Shard } from "./shard";
import { parseMetricsUrls } from "./transport/server-metrics";

const optionalString = () => z.string().optional();

/**
 * The workload models' options: each field's type, bounds, default and help, from which the
 * flags, the `workload:` section of `--config` files (and so of the simulator's cluster files)
 * are derived. Seconds unless named otherwise.
 */
const workloadShape = {
  workload: flag(
    z.enum(["closed", "open", "trace", "agent"]).default("closed"),
    "--workload <type>",
    "workload model (closed: dataset chat sessions; open: client profiles; trace: replay; agent: agent_profiles or --agent-trace)",
  ),
  config: flag(
    optionalString(),
    "--config <file>",
    "YAML/JSON file selecting the workload model and its parameters (flags override)",
  ),
  target: flag(
    optionalString(),
    "--target <url>",
    "grpc://host:port (the Symphony scheduler; overrides --scheduler-ip/--scheduler-port) or " +
      "http://host:port/v1 (any OpenAI-compatible server)",
  ),
  schedulerIp: flag(z.string().default("127.0.0.1"), "--scheduler-ip <host>", "scheduler host"),
  schedulerPort: flag(
    z.int().min(0).max(65535).default(50051),
    "--scheduler-port <port>",
    "scheduler gRPC port",
  ),
  tokenizer: flag(
    z.string().default("llama3"),
    "--tokenizer <name|path>",
    `${TOKENIZER_FLAG_HELP}; use the served model's, as vLLM's benchmarks do`,
  ),
  dataset: flag(
    optionalString(),
    "--dataset <file>",
    "ShareGPT-style JSON dataset (default: the embedded sample of 12 conversations)",
  ),
  sharegptSynth: flag(
    z.boolean().default(false),
    "--sharegpt-synth",
    "closed loop: play generated ShareGPT-like chats, a fresh one per session, instead of a dataset " +
      "(shape: config workload.sharegpt_synth)",
  ),
  thinkTime: flag(
    z.enum(["typing", "chat-gaps"]).default("typing"),
    "--think-time <model>",
    "closed loop: typing (read/type speeds) or chat-gaps (measured gaps between chat turns: p50 7.2 s, p90 15 s, p99 43 s)",
  ),
  numClients: flag(
    z.int().min(1).max(100_000).default(10),
    "--num-clients <n>",
    "closed loop: concurrent sessions kept active",
  ),
  rampUp: flag(
    z.number().min(0).default(0),
    "--ramp-up <s>",
    "closed loop: start the clients evenly over this many seconds, not all at once",
  ),
  readSpeed: flag(
    z.number().min(1e-6).default(25),
    "--read-speed <cps>",
    "closed loop: reading speed, chars/s",
  ),
  typeSpeed: flag(
    z.number().min(1e-6).default(6),
    "--type-speed <cps>",
    "closed loop: typing speed, chars/s",
  ),
  speedJitter: flag(
    z.number().min(0).max(10).default(0),
    "--speed-jitter <cv>",
    "closed loop: per-user spread of speeds (LogNormal std/mean; 0 = none)",
  ),
  maxOutputTokens: flag(
    z.int().min(1).default(2048),
    "--max-output-tokens <n>",
    "cap on max_output_tokens per turn",
  ),
  minTurns: flag(
    z.int().min(1).default(1),
    "--min-turns <n>",
    "closed loop: skip conversations with fewer user/assistant pairs",
  ),
  duration: flag(
    z.number().min(0).default(60),
    "--duration <s>",
    "stop starting turns after this many seconds (0 = no limit; open/trace default: until the plan ends)",
  ),
  maxRequests: flag(
    z.int().min(0).default(0),
    "--max-requests <n>",
    "stop starting turns after this many requests (0 = no limit)",
  ),
  timeScale: flag(
    z.number().min(1e-6).default(1),
    "--time-scale <x>",
    "divide think times, delays and trace/plan times by this",
  ),
  hints: flag(z.boolean().default(true), "--no-hints", "do not send Advise hints before next turns"),
  stream: flag(
    z.boolean().default(true),
    "--no-stream",
    "closed loop: ask for one Token event instead of streaming",
  ),
  priority: flag(
    z.enum(["high", "normal", "low"]).default("normal"),
    "--priority <p>",
    "closed loop: request priority",
  ),
  seed: flag(
    z
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
    "--seed <n>",
    "seed for every random stream",
  ),
  out: flag(
    optionalString(),
    "--out <dir>",
    "write requests.jsonl, summary.json, summary.csv and report.html (plan.jsonl with --dry-run) here",
  ),
  dryRun: flag(z.boolean().default(false), "--dry-run", "print/write the plan without sending anything"),
  planSize: flag(z.int().min(0).default(20), "--plan-size <n>", "dry run: sessions listed on stdout"),
  trace: flag(
    optionalString(),
    "--trace <file>",
    "trace replay: Azure CSV (TIMESTAMP,ContextTokens,GeneratedTokens) or Mooncake JSONL",
  ),
  traceFormat: flag(
    z.enum(["auto", "azure", "mooncake"]).default("auto"),
    "--trace-format <f>",
    "trace format",
  ),
  agentTrace: flag(
    optionalString(),
    "--agent-trace <file>",
    "agent workload: replay a JSONL agent trace (messages with role user/assistant/tool, tool latency_ms)",
  ),
  blockSize: flag(
    z.int().min(1).default(512),
    "--block-size <tokens>",
    "trace replay: tokens per Mooncake hash block",
  ),
  totalDuration: flag(
    z.number().min(1e-3).default(60),
    "--total-duration <s>",
    "open loop: planned length in seconds (config workload.total_duration)",
  ),
  requestTimeout: flag(
    z.number().min(0).default(600),
    "--request-timeout <s>",
    "deadline per turn in seconds, whole turn: the gRPC call's deadline, the HTTP request's total time (0 = none)",
  ),
  connectTimeout: flag(
    z.number().min(0).default(10),
    "--connect-timeout <s>",
    "wait this long for the scheduler before giving up",
  ),
  progressInterval: flag(
    z.number().min(0.1).default(5),
    "--progress-interval <s>",
    "seconds between progress log lines when stderr is not a TTY",
  ),
  metricsPort: flag(
    z.int().min(0).max(65535).optional(),
    "--metrics-port <port>",
    "serve client-side Prometheus /metrics on this port while running (0 = a free port; default: off)",
  ),
  metricsHost: flag(z.string().default("127.0.0.1"), "--metrics-host <host>", "interface for --metrics-port"),
  workers: flag(
    z.int().min(1).max(64).default(1),
    "--workers <n>",
    "send from n worker threads, each playing every nth session on its own event loop and " +
      "connections (1 = the main thread sends)",
  ),
  timerSpinMs: flag(
    z.number().min(0).max(100).default(1.5),
    "--timer-spin-ms <ms>",
    "poll for this long before each send deadline: punctual to µs but busy whenever sends are " +
      "closer than this (0 = sleep: ~0.1 ms late with --timer-wake thread, ~1 ms with timeout; " +
      "idle threads cost no CPU)",
    // Several polling threads would compete for cores with each other and the server.
    { defaultHelp: "1.5 with --workers 1, 0 with more workers" },
  ),
  timerWake: flag(
    z.enum(["thread", "timeout"]).default("thread"),
    "--timer-wake <thread|timeout>",
    "how a sending thread sleeps until --timer-spin-ms before a deadline: a helper thread " +
      "wakes it to ~0.1 ms (thread), or setTimeout, whole ms, no extra thread (timeout)",
  ),
  shard: flag(
    z.custom<Shard>().optional(),
    "--shard <i/n>",
    "play part i (0-based) of n of the run: every nth session from the ith, arrival times kept, " +
      "its share of --num-clients and --max-requests (merge the results with `workloadgen merge`)",
    { parse: parseShard },
  ),
  logLevel: logLevelOption(),
};

/**
 * The live run's options: the target (gRPC scheduler or any OpenAI-compatible HTTP server), SLOs
 * for goodput, measurement windows, early-stop rules and shutdown.
 */
const runShape = {
  endpoint: flag(
    z.enum(["chat", "completions"]).default("chat"),
    "--endpoint <api>",
    "HTTP target: OpenAI API to call",
  ),
  model: flag(
    optionalString(),
    "--model <name>",
    "HTTP target: model name (default: the first of GET /v1/models)",
  ),
  apiKey: flag(
    optionalString(),
    "--api-key <key>",
    "HTTP target: bearer token (default: $OPENAI_API_KEY if set, else none)",
  ),
  authTokenFile: flag(
    optionalString(),
    "--auth-token-file <path>",
    `file whose first token is sent as "authorization: Bearer" (gRPC: the scheduler's --client-auth-token-file; ` +
      `HTTP: when no --api-key) (default: $${CLIENT_AUTH_TOKEN_ENV}, else none)`,
  ),
  tlsCa: flag(
    optionalString(),
    "--tls-ca <path>",
    "gRPC target: connect over TLS, trusting this PEM CA bundle",
  ),
  tlsCert: flag(
    optionalString(),
    "--tls-cert <path>",
    "gRPC target: client certificate for mTLS (with --tls-key)",
  ),
  tlsKey: flag(optionalString(), "--tls-key <path>", "gRPC target: private key of --tls-cert"),
  header: flag(
    z.record(z.string(), z.string()).default({}),
    "--header <'Name: value'>",
    "HTTP target: extra request header (repeatable)",
    {
      parse: (value, previous) => collectHeader(value, previous as Record<string, string>),
      defaultHelp: "none",
    },
  ),
  sessionIdHeader: flag(
    optionalString(),
    "--session-id-header <name>",
    "HTTP target: send the session id in this header (e.g. x-session-id for routers; default: none)",
  ),
  sendExpectedResponse: flag(
    z.boolean().default(false),
    "--send-expected-response",
    "HTTP target: send the dataset reply as expected_response (mock-vllm replays it)",
  ),
  httpConnections: flag(
    z.int().min(1).max(100_000).default(1024),
    "--http-connections <n>",
    "HTTP target: keep-alive connections",
  ),
  httpClient: flag(
    z.enum(["native", "undici"]).default("native"),
    "--http-client <native|undici>",
    "HTTP target: our own HTTP/1.1 client (native) or undici's Pool",
  ),
  slo: flag(
    z.custom<Slo>().optional(),
    "--slo <list>",
    "SLOs for goodput, e.g. ttft=500ms,tpot=50ms,e2el=10s (default: none, no goodput)",
    { parse: parseSlo },
  ),
  warmup: flag(
    z.number().min(0).default(0),
    "--warmup <s>",
    "exclude requests sent in the first s seconds from the statistics",
  ),
  cooldown: flag(
    z.number().min(0).default(0),
    "--cooldown <s>",
    "exclude requests sent in the last s seconds from the statistics",
  ),
  exactRecords: flag(
    z.int().min(0).default(250_000),
    "--exact-records <n>",
    "keep every record for exact percentiles up to n records; beyond, bounded histograms within 1% " +
      "(summary.json percentiles: exact or hdr(1%); 0 = histograms from the start)",
  ),
  maxErrors: flag(
    z.int().min(0).default(0),
    "--max-errors <n>",
    "stop after this many failed requests (0 = no limit)",
  ),
  maxErrorRate: flag(
    z.number().min(0).max(1).default(0),
    "--max-error-rate <f>",
    "stop when failed/finished exceeds this, once 20 finished (0 = off)",
  ),
  grace: flag(
    z.number().min(0).default(5),
    "--grace <s>",
    "after --duration, or on SIGINT/SIGTERM: wait this long for in-flight requests, then cancel them " +
      "(recorded as CANCELLED): --duration + --grace is a hard end",
  ),
  idleTimeout: flag(
    z.number().min(0).default(60),
    "--idle-timeout <s>",
    "fail a streamed turn (IDLE_TIMEOUT) when no byte (HTTP) or event (gRPC) arrived for this long (0 = off)",
  ),
  serverMetrics: flag(
    z.array(z.string()).optional(),
    "--server-metrics <urls>",
    "engines' and nodes' Prometheus endpoints (host:port or URL, comma-separated) to scrape during the " +
      "run: server-metrics.jsonl, KV usage / queue / prefix-cache hit rate in the report, warm-cache check (default: none)",
    { parse: parseMetricsUrls },
  ),
  serverMetricsInterval: flag(
    z.number().min(0.05).default(1),
    "--server-metrics-interval <s>",
    "seconds between --server-metrics scrapes",
  ),
  startAt: flag(
    z.number().optional(),
    "--start-at <time>",
    "start the schedule at this wall-clock instant (ISO 8601, or seconds since the epoch), after " +
      "connecting: shards on several machines start together (default: when ready)",
    { parse: parseStartAt },
  ),
  resetPrefixCache: flag(
    z.boolean().default(false),
    "--reset-prefix-cache",
    "POST /reset_prefix_cache to each engine (the HTTP --target, --server-metrics engines) before the run " +
      "(vLLM serves it only with VLLM_SERVER_DEV_MODE=1)",
  ),
};

/** workloadgen's options (`run` subcommands aside): the workload models', then the live run's. */
export const workloadgenOptions = z.object({ ...workloadShape, ...runShape });
export type WorkloadgenOptions = z.output<typeof workloadgenOptions>;
