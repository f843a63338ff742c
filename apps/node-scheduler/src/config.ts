import { hostname } from "node:os";
import { Command, Option } from "commander";
import { checkTokenizerSpec, TOKENIZER_FLAG_HELP, UsageError } from "@symphony/common";
import { AUTH_TOKEN_ENV, loadTokens, parseArg, type LogLevel, type TlsFiles } from "@symphony/runtime";
import type { ResidencyPolicyName, WarmupTiming } from "./domain";

/**
 * How the node brings a hinted session's KV back before its turn:
 * - `warmup` (default): a stock engine (vLLM). On Advise the node sends a warm-up request (the
 *   session's context, one output token); the node's tiers are admission bookkeeping only.
 * - `directive`: an engine that takes the node's directives (mock-vllm `--kv-connector`, the
 *   proposed vLLM prefetch/pin APIs): the node models copies between tiers, prefetches on hints
 *   and tells the engine what it holds (`x-symphony-resident-tokens`).
 * - `off`: a stock engine, no warm-ups.
 */
export type PrefetchMode = "warmup" | "directive" | "off";

/** Where the engine's KV-cache events come from (vLLM `--kv-events-config`). */
export interface KvEventsSource {
  /** ZMQ endpoint of the engine's PUB socket, or the address to bind when `bind`. */
  endpoint: string;
  /** Bind the SUB socket (the engine's publisher connects to it) instead of connecting. */
  bind: boolean;
  /** The engine's replay (ROUTER) endpoint, to recover missed batches. */
  replayEndpoint?: string;
  /** Topic prefix to subscribe to ("" = all). */
  topic: string;
}

/** Everything the node-scheduler needs to start, validated. */
export interface Config {
  host: string;
  port: number;
  metricsPort: number;
  /** undefined = `node-<hostname>-<bound port>` (known only after binding). */
  nodeId?: string;
  engineUrl: string;
  /** "" = the engine's first model from /v1/models. */
  model: string;
  /**
   * The engine's tokenizer (`cl100k`, `llama3`, `llama2` or a tokenizer.json path): prompts are
   * counted with it and the model's chat template, so admission counts match the engine's.
   */
  tokenizer: string;
  engineConnections: number;
  engineConnectTimeoutMs: number;
  engineRetries: number;
  engineRetryBackoffMs: number;
  engineMetricsIntervalMs: number;
  /** Engine health probe period, ms (0 = no probes: the engine is assumed healthy). */
  engineHealthIntervalMs: number;
  engineHealthTimeoutMs: number;
  /** Failed probes in a row before the node reports NOT_SERVING and draining. */
  engineHealthFailures: number;
  forwardExpectedResponse: boolean;
  maxQueue: number;
  maxRunning: number;
  kvBudgetTokens: number;
  /**
   * Take the GPU budget from the engine's reported KV capacity (vLLM's cache_config_info) once
   * its metrics are read: a stock engine (warmup/off) when no budget flag was given.
   */
  kvBudgetFromEngine: boolean;
  kvBytesPerToken: number;
  cpuBudgetTokens: number;
  offloadGBps: number;
  residencyPolicy: ResidencyPolicyName;
  prefetchMarginMs: number;
  hintStaleMs: number;
  gpuFreeTarget: number;
  prefetchMode: PrefetchMode;
  warmupTiming: WarmupTiming;
  warmupLeadMs: number;
  warmupMinGapMs: number;
  maxWarmupsInFlight: number;
  /** undefined = no events: residency is the node's own bookkeeping. */
  kvEvents?: KvEventsSource;
  /** Most sessions whose context the node keeps for warm-ups and residency (least recent dropped). */
  maxTrackedSessions: number;
  /** Requests are refused beyond these sizes, before any tokenization. */
  maxPromptBytes: number;
  maxMessages: number;
  scheduler?: string;
  /** undefined = `<host>:<bound port>`. */
  advertiseAddress?: string;
  registerRetryMs: number;
  /** Token sent to the scheduler as `authorization: Bearer` (undefined = none). */
  authToken?: string;
  /** This node's gRPC server TLS files (none = plaintext). */
  tls: TlsFiles;
  /** CA to trust when dialing the scheduler over TLS (undefined = plaintext). */
  schedulerTlsCa?: string;
  logLevel: LogLevel;
}

/** The server TLS flags, checked for the pairs they need. */
function tlsFiles(o: Record<string, unknown>): TlsFiles {
  const [certFile, keyFile, caFile] = [o.tlsCert, o.tlsKey, o.tlsCa] as (string | undefined)[];
  if ((certFile === undefined) !== (keyFile === undefined))
    throw new UsageError("--tls-cert and --tls-key go together (TLS needs both; --tls-ca adds mTLS)");
  if (caFile !== undefined && certFile === undefined)
    throw new UsageError("--tls-ca (mTLS) needs --tls-cert and --tls-key (the server's own certificate)");
  return { certFile, keyFile, caFile };
}

/** Default node id: host name plus gRPC port, unique per machine. */
export function defaultNodeId(port: number): string {
  return `node-${hostname()}-${port}`;
}

function buildProgram(): Command {
  const int = parseArg.int;
  return new Command("node-scheduler")
    .description(
      "Per-engine scheduler: queue, KV-cache budget and session residency (gpu/cpu/evicted) in front of one " +
        "OpenAI-compatible engine (vLLM or mock-vllm), served as symphony.v1.NodeSchedulerService over gRPC.",
    )
    .option("--host <host>", "address to bind gRPC and metrics on", "127.0.0.1")
    .option("--port <port>", "gRPC port (0 = any free port)", parseArg.port, 50061)
    .option("--metrics-port <port>", "Prometheus /metrics port (0 = any free port)", parseArg.port, 9461)
    .option(
      "--node-id <id>",
      "node id reported to clients and the scheduler (default: node-<hostname>-<bound port>)",
    )
    .option("--engine-url <url>", "engine OpenAI API base URL", "http://127.0.0.1:8000/v1")
    .addOption(
      new Option("--model <name>", "model to request").default(
        "",
        "the engine's first model from /v1/models",
      ),
    )
    .option(
      "--tokenizer <name|path>",
      `${TOKENIZER_FLAG_HELP}; the engine's (default: mock-vllm's default profile, Llama 3.1 8B)`,
      "llama3",
    )
    .option("--engine-connections <n>", "keep-alive HTTP connections to the engine", int(1, 100_000), 256)
    .option("--engine-connect-timeout-ms <ms>", "engine TCP connect timeout", int(1), 5000)
    .option(
      "--engine-retries <n>",
      "retries of an engine call that failed retryably before streaming anything",
      int(0, 100),
      2,
    )
    .option("--engine-retry-backoff-ms <ms>", "first retry backoff, doubled per attempt", int(0), 200)
    .option(
      "--engine-metrics-interval-ms <ms>",
      "how often to scrape the engine's /metrics (0 = never)",
      int(0),
      1000,
    )
    .option(
      "--engine-health-interval-ms <ms>",
      "how often to probe the engine's /health; failing probes make the node NOT_SERVING and draining (0 = never)",
      int(0),
      1000,
    )
    .option("--engine-health-timeout-ms <ms>", "a health probe with no answer by then fails", int(1), 2000)
    .option(
      "--engine-health-failures <n>",
      "health probes failing in a row before the engine counts as down (one success brings it back)",
      int(1, 1000),
      3,
    )
    .option("--no-forward-expected-response", "do not send the request's expected_response to the engine")
    .option("--max-queue <n>", "most turns waiting; more get RESOURCE_EXHAUSTED", int(0), 1024)
    .option("--max-running <n>", "most turns admitted at once (restoring + on the engine)", int(1), 256)
    .addOption(
      new Option(
        "--kv-budget-tokens <n>",
        "GPU KV budget in tokens; on a stock engine (warmup/off) without this flag, the engine's reported " +
          "KV capacity once its /metrics is read",
      )
        .argParser(int(1))
        .default(262144)
        .conflicts("kvBudgetBytes"),
    )
    .addOption(
      new Option("--kv-budget-bytes <n>", "GPU KV budget in bytes (instead of --kv-budget-tokens)").argParser(
        parseArg.number(1),
      ),
    )
    .option(
      "--kv-bytes-per-token <n>",
      "KV bytes per token (Llama-3-8B fp16: 2*32 layers*8 heads*128 dim*2 B = 131072)",
      int(1),
      131072,
    )
    .option(
      "--cpu-budget-tokens <n>",
      "host-memory offload tier budget in tokens (0 = no offloading)",
      int(0),
      1048576,
    )
    .option(
      "--offload-gbps <GB/s>",
      "GPU<->host KV copy bandwidth in gigaBYTES per second",
      parseArg.number(0.001),
      25,
    )
    .addOption(
      new Option("--residency-policy <name>", "which idle sessions give up GPU memory first")
        .choices(["lru", "hint-aware"])
        .default("hint-aware"),
    )
    .option(
      "--prefetch-margin-ms <ms>",
      "finish a hinted prefetch this long before the expected arrival",
      int(0),
      50,
    )
    .option(
      "--gpu-free-target <fraction>",
      "keep this fraction of the GPU budget free by offloading idle sessions ahead of demand (0 = on demand only)",
      parseArg.number(0, 0.9),
      0,
    )
    .option(
      "--hint-stale-ms <ms>",
      "a hint still counts this long after its expected arrival",
      int(0),
      10_000,
    )
    .addOption(
      new Option(
        "--prefetch-mode <mode>",
        "warmup: stock engine, send a warm-up request on Advise; directive: the engine takes the node's " +
          "residency directives (modelled copies, x-symphony-resident-tokens); off: stock engine, no warm-ups",
      )
        .choices(["warmup", "directive", "off"])
        .default("warmup"),
    )
    .addOption(
      new Option(
        "--warmup-timing <when>",
        "warmup mode: send at the hint, or --warmup-lead-ms before the hinted arrival",
      )
        .choices(["at-hint", "just-in-time"])
        .default("at-hint"),
    )
    .option(
      "--warmup-lead-ms <ms>",
      "just-in-time warm-ups go out this long before the hinted arrival",
      int(0),
      500,
    )
    .option(
      "--max-warmups-in-flight <n>",
      "most warm-up requests running at once (they bypass the queue); more are skipped",
      int(1),
      16,
    )
    .option(
      "--warmup-min-gap-ms <ms>",
      "no warm-up for a session due back sooner than this (its context is still cached)",
      int(0),
      1000,
    )
    .option(
      "--kv-events-endpoint <url>",
      "the engine's KV-cache event publisher (vLLM --kv-events-config endpoint), e.g. tcp://vllm-host:5557 " +
        "(default: none; residency is then the node's own bookkeeping)",
    )
    .option(
      "--kv-events-bind",
      "bind the subscriber at --kv-events-endpoint (for an engine whose publisher connects, i.e. an endpoint " +
        "without '*'); default: connect to it",
      false,
    )
    .option(
      "--kv-events-replay-endpoint <url>",
      "the engine's replay endpoint (vLLM replay_endpoint) to recover missed events",
    )
    .option("--kv-events-topic <prefix>", "topic prefix to subscribe to", "")
    .option(
      "--max-tracked-sessions <n>",
      "most session contexts kept for warm-ups and residency",
      int(1),
      10_000,
    )
    .option(
      "--max-prompt-bytes <n>",
      "refuse a request with more UTF-8 bytes of prompt text than this (INVALID_ARGUMENT, before tokenizing)",
      int(1),
      4 << 20,
    )
    .option("--max-messages <n>", "refuse a request with more chat messages than this", int(1), 10_000)
    .option("--scheduler <host:port>", "global scheduler to register with and heartbeat (default: none)")
    .option(
      "--advertise-address <host:port>",
      "address the scheduler should dial (default: <host>:<bound port>)",
    )
    .option(
      "--register-retry-ms <ms>",
      "wait between registration attempts while the scheduler is down",
      int(1),
      2000,
    )
    .option(
      "--auth-token-file <path>",
      `file whose first token is sent to --scheduler on RegisterNode/Heartbeat (default: $${AUTH_TOKEN_ENV}, else none)`,
    )
    .option("--tls-cert <path>", "PEM certificate chain: serve gRPC over TLS (with --tls-key)")
    .option("--tls-key <path>", "PEM private key of --tls-cert")
    .option("--tls-ca <path>", "PEM CA bundle: require client certificates signed by it (mTLS)")
    .option(
      "--scheduler-tls-ca <path>",
      "PEM CA bundle: dial --scheduler over TLS trusting it (presents --tls-cert/--tls-key if it asks for mTLS)",
    )
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["error", "warn", "info", "debug"])
        .default("info"),
    )
    .exitOverride()
    .allowExcessArguments(false);
}

/** Parses argv (without node and script) into a Config; bad flags throw (exit 2 via runCli). */
export function parseConfig(argv: string[]): Readonly<Config> {
  const program = buildProgram();
  program.parse(argv, { from: "user" });
  const o = program.opts<Record<string, unknown>>();

  const hostPort = (flag: string, value: unknown): string | undefined => {
    if (value === undefined) return undefined;
    const items = (() => {
      try {
        return parseArg.hostPorts(String(value));
      } catch (err) {
        throw new UsageError(`${flag}: ${(err as Error).message}`);
      }
    })();
    if (items.length !== 1) throw new UsageError(`${flag}: expected one host:port, got "${String(value)}"`);
    return items[0];
  };

  let engineUrl: URL;
  try {
    engineUrl = new URL(String(o.engineUrl));
  } catch {
    throw new UsageError(
      `--engine-url: expected an http(s) URL like http://127.0.0.1:8000/v1, got "${String(o.engineUrl)}"`,
    );
  }
  if (engineUrl.protocol !== "http:" && engineUrl.protocol !== "https:") {
    throw new UsageError(`--engine-url: expected http:// or https://, got "${engineUrl.protocol}"`);
  }

  const bytesPerToken = o.kvBytesPerToken as number;
  let kvBudgetTokens = o.kvBudgetTokens as number;
  if (o.kvBudgetBytes !== undefined) {
    kvBudgetTokens = Math.floor((o.kvBudgetBytes as number) / bytesPerToken);
    if (kvBudgetTokens < 1) {
      throw new UsageError(
        `--kv-budget-bytes ${String(o.kvBudgetBytes)} holds less than one token at --kv-bytes-per-token ${bytesPerToken}`,
      );
    }
  }
  const zmqUrl = (flag: string, value: unknown): string | undefined => {
    if (value === undefined) return undefined;
    const url = String(value);
    if (!/^(tcp:\/\/[^\s:]+:(\d+|\*)|ipc:\/\/\S+|inproc:\/\/\S+)$/.test(url)) {
      throw new UsageError(
        `${flag}: expected a ZMQ URL like tcp://127.0.0.1:5557, ipc:///path or inproc://name, got "${url}"`,
      );
    }
    return url;
  };
  const kvEventsEndpoint = zmqUrl("--kv-events-endpoint", o.kvEventsEndpoint);
  const kvEventsReplay = zmqUrl("--kv-events-replay-endpoint", o.kvEventsReplayEndpoint);
  if (kvEventsEndpoint === undefined && (kvEventsReplay !== undefined || o.kvEventsBind === true)) {
    throw new UsageError("--kv-events-replay-endpoint and --kv-events-bind need --kv-events-endpoint");
  }
  if (kvEventsEndpoint !== undefined && o.prefetchMode === "directive") {
    throw new UsageError(
      "--kv-events-endpoint: KV events describe a stock engine's own cache; use --prefetch-mode warmup or off with it",
    );
  }
  const nodeId = o.nodeId as string | undefined;
  if (nodeId !== undefined && nodeId.trim() === "") throw new UsageError("--node-id: must not be empty");

  return Object.freeze({
    host: o.host as string,
    port: o.port as number,
    metricsPort: o.metricsPort as number,
    nodeId,
    engineUrl: engineUrl.toString().replace(/\/+$/, ""),
    model: o.model as string,
    tokenizer: checkTokenizerSpec(o.tokenizer as string),
    engineConnections: o.engineConnections as number,
    engineConnectTimeoutMs: o.engineConnectTimeoutMs as number,
    engineRetries: o.engineRetries as number,
    engineRetryBackoffMs: o.engineRetryBackoffMs as number,
    engineMetricsIntervalMs: o.engineMetricsIntervalMs as number,
    engineHealthIntervalMs: o.engineHealthIntervalMs as number,
    engineHealthTimeoutMs: o.engineHealthTimeoutMs as number,
    engineHealthFailures: o.engineHealthFailures as number,
    forwardExpectedResponse: o.forwardExpectedResponse as boolean,
    maxQueue: o.maxQueue as number,
    maxRunning: o.maxRunning as number,
    kvBudgetTokens,
    kvBudgetFromEngine:
      o.prefetchMode !== "directive" &&
      o.kvBudgetBytes === undefined &&
      program.getOptionValueSource("kvBudgetTokens") === "default",
    kvBytesPerToken: bytesPerToken,
    cpuBudgetTokens: o.cpuBudgetTokens as number,
    offloadGBps: o.offloadGbps as number,
    residencyPolicy: o.residencyPolicy as ResidencyPolicyName,
    prefetchMarginMs: o.prefetchMarginMs as number,
    hintStaleMs: o.hintStaleMs as number,
    gpuFreeTarget: o.gpuFreeTarget as number,
    prefetchMode: o.prefetchMode as PrefetchMode,
    warmupTiming: o.warmupTiming as WarmupTiming,
    warmupLeadMs: o.warmupLeadMs as number,
    warmupMinGapMs: o.warmupMinGapMs as number,
    maxWarmupsInFlight: o.maxWarmupsInFlight as number,
    kvEvents:
      kvEventsEndpoint === undefined
        ? undefined
        : {
            endpoint: kvEventsEndpoint,
            bind: o.kvEventsBind === true,
            replayEndpoint: kvEventsReplay,
            topic: o.kvEventsTopic as string,
          },
    maxTrackedSessions: o.maxTrackedSessions as number,
    maxPromptBytes: o.maxPromptBytes as number,
    maxMessages: o.maxMessages as number,
    scheduler: hostPort("--scheduler", o.scheduler),
    advertiseAddress: hostPort("--advertise-address", o.advertiseAddress),
    registerRetryMs: o.registerRetryMs as number,
    authToken: loadTokens(
      o.authTokenFile as string | undefined,
      "--auth-token-file",
      process.env[AUTH_TOKEN_ENV],
    )[0],
    tls: tlsFiles(o),
    schedulerTlsCa: o.schedulerTlsCa as string | undefined,
    logLevel: o.logLevel as LogLevel,
  });
}
