import { hostname } from "node:os";
import { Command, Option } from "commander";
import { parseArg, UsageError, type LogLevel } from "@symphony/common";
import type { ResidencyPolicyName } from "./domain";

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
  engineConnections: number;
  engineConnectTimeoutMs: number;
  engineRetries: number;
  engineRetryBackoffMs: number;
  engineMetricsIntervalMs: number;
  forwardExpectedResponse: boolean;
  maxQueue: number;
  maxRunning: number;
  kvBudgetTokens: number;
  kvBytesPerToken: number;
  cpuBudgetTokens: number;
  offloadGBps: number;
  residencyPolicy: ResidencyPolicyName;
  prefetchMarginMs: number;
  hintStaleMs: number;
  gpuFreeTarget: number;
  scheduler?: string;
  /** undefined = `<host>:<bound port>`. */
  advertiseAddress?: string;
  registerRetryMs: number;
  logLevel: LogLevel;
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
    .option("--no-forward-expected-response", "do not send the request's expected_response to the engine")
    .option("--max-queue <n>", "most turns waiting; more get RESOURCE_EXHAUSTED", int(0), 1024)
    .option("--max-running <n>", "most turns admitted at once (restoring + on the engine)", int(1), 256)
    .addOption(
      new Option("--kv-budget-tokens <n>", "GPU KV budget in tokens")
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
  const nodeId = o.nodeId as string | undefined;
  if (nodeId !== undefined && nodeId.trim() === "") throw new UsageError("--node-id: must not be empty");

  return Object.freeze({
    host: o.host as string,
    port: o.port as number,
    metricsPort: o.metricsPort as number,
    nodeId,
    engineUrl: engineUrl.toString().replace(/\/+$/, ""),
    model: o.model as string,
    engineConnections: o.engineConnections as number,
    engineConnectTimeoutMs: o.engineConnectTimeoutMs as number,
    engineRetries: o.engineRetries as number,
    engineRetryBackoffMs: o.engineRetryBackoffMs as number,
    engineMetricsIntervalMs: o.engineMetricsIntervalMs as number,
    forwardExpectedResponse: o.forwardExpectedResponse as boolean,
    maxQueue: o.maxQueue as number,
    maxRunning: o.maxRunning as number,
    kvBudgetTokens,
    kvBytesPerToken: bytesPerToken,
    cpuBudgetTokens: o.cpuBudgetTokens as number,
    offloadGBps: o.offloadGbps as number,
    residencyPolicy: o.residencyPolicy as ResidencyPolicyName,
    prefetchMarginMs: o.prefetchMarginMs as number,
    hintStaleMs: o.hintStaleMs as number,
    gpuFreeTarget: o.gpuFreeTarget as number,
    scheduler: hostPort("--scheduler", o.scheduler),
    advertiseAddress: hostPort("--advertise-address", o.advertiseAddress),
    registerRetryMs: o.registerRetryMs as number,
    logLevel: o.logLevel as LogLevel,
  });
}
