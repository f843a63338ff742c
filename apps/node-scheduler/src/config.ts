import { hostname } from "node:os";
import { Command } from "@commander-js/extra-typings";
import { checkTokenizerSpec, parseHostPorts, UsageError } from "@symphony/common";
import {
  addOptions,
  AUTH_TOKEN_ENV,
  loadTokens,
  parseOptions,
  type LogLevel,
  type TlsFiles,
} from "@symphony/runtime";
import type { ResidencyPolicyName, WarmupTiming } from "./domain";
import { nodeSchedulerOptions, type NodeSchedulerOptions, type PrefetchMode } from "./options";

export type { PrefetchMode } from "./options";

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
function tlsFiles(o: NodeSchedulerOptions): TlsFiles {
  const [certFile, keyFile, caFile] = [o.tlsCert, o.tlsKey, o.tlsCa];
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

export function buildProgram() {
  const program = new Command("node-scheduler")
    .description(
      "Per-engine scheduler: queue, KV-cache budget and session residency (gpu/cpu/evicted) in front of one " +
        "OpenAI-compatible engine (vLLM or mock-vllm), served as symphony.v1.NodeSchedulerService over gRPC.",
    )
    .exitOverride()
    .allowExcessArguments(false);
  return addOptions(program, nodeSchedulerOptions);
}

/** Parses argv (without node and script) into a Config; bad flags throw (exit 2 via runCli). */
export function parseConfig(argv: string[]): Readonly<Config> {
  const { values: o, given } = parseOptions(buildProgram(), nodeSchedulerOptions, argv);

  const hostPort = (flag: string, value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    const items = (() => {
      try {
        return parseHostPorts(value);
      } catch (err) {
        throw new UsageError(`${flag}: ${(err as Error).message}`);
      }
    })();
    if (items.length !== 1) throw new UsageError(`${flag}: expected one host:port, got "${value}"`);
    return items[0];
  };

  let engineUrl: URL;
  try {
    engineUrl = new URL(o.engineUrl);
  } catch {
    throw new UsageError(
      `--engine-url: expected an http(s) URL like http://127.0.0.1:8000/v1, got "${o.engineUrl}"`,
    );
  }
  if (engineUrl.protocol !== "http:" && engineUrl.protocol !== "https:") {
    throw new UsageError(`--engine-url: expected http:// or https://, got "${engineUrl.protocol}"`);
  }

  const bytesPerToken = o.kvBytesPerToken;
  let kvBudgetTokens = o.kvBudgetTokens;
  if (o.kvBudgetBytes !== undefined) {
    kvBudgetTokens = Math.floor(o.kvBudgetBytes / bytesPerToken);
    if (kvBudgetTokens < 1) {
      throw new UsageError(
        `--kv-budget-bytes ${o.kvBudgetBytes} holds less than one token at --kv-bytes-per-token ${bytesPerToken}`,
      );
    }
  }
  const zmqUrl = (flag: string, url: string | undefined): string | undefined => {
    if (url === undefined) return undefined;
    if (!/^(tcp:\/\/[^\s:]+:(\d+|\*)|ipc:\/\/\S+|inproc:\/\/\S+)$/.test(url)) {
      throw new UsageError(
        `${flag}: expected a ZMQ URL like tcp://127.0.0.1:5557, ipc:///path or inproc://name, got "${url}"`,
      );
    }
    return url;
  };
  const kvEventsEndpoint = zmqUrl("--kv-events-endpoint", o.kvEventsEndpoint);
  const kvEventsReplay = zmqUrl("--kv-events-replay-endpoint", o.kvEventsReplayEndpoint);
  if (kvEventsEndpoint === undefined && (kvEventsReplay !== undefined || o.kvEventsBind)) {
    throw new UsageError("--kv-events-replay-endpoint and --kv-events-bind need --kv-events-endpoint");
  }
  if (kvEventsEndpoint !== undefined && o.prefetchMode === "directive") {
    throw new UsageError(
      "--kv-events-endpoint: KV events describe a stock engine's own cache; use --prefetch-mode warmup or off with it",
    );
  }
  const nodeId = o.nodeId;
  if (nodeId !== undefined && nodeId.trim() === "") throw new UsageError("--node-id: must not be empty");

  return Object.freeze({
    host: o.host,
    port: o.port,
    metricsPort: o.metricsPort,
    nodeId,
    engineUrl: engineUrl.toString().replace(/\/+$/, ""),
    model: o.model,
    tokenizer: checkTokenizerSpec(o.tokenizer),
    engineConnections: o.engineConnections,
    engineConnectTimeoutMs: o.engineConnectTimeoutMs,
    engineRetries: o.engineRetries,
    engineRetryBackoffMs: o.engineRetryBackoffMs,
    engineMetricsIntervalMs: o.engineMetricsIntervalMs,
    engineHealthIntervalMs: o.engineHealthIntervalMs,
    engineHealthTimeoutMs: o.engineHealthTimeoutMs,
    engineHealthFailures: o.engineHealthFailures,
    forwardExpectedResponse: o.forwardExpectedResponse,
    maxQueue: o.maxQueue,
    maxRunning: o.maxRunning,
    kvBudgetTokens,
    kvBudgetFromEngine:
      o.prefetchMode !== "directive" && o.kvBudgetBytes === undefined && !given("kvBudgetTokens"),
    kvBytesPerToken: bytesPerToken,
    cpuBudgetTokens: o.cpuBudgetTokens,
    offloadGBps: o.offloadGbps,
    residencyPolicy: o.residencyPolicy,
    prefetchMarginMs: o.prefetchMarginMs,
    hintStaleMs: o.hintStaleMs,
    gpuFreeTarget: o.gpuFreeTarget,
    prefetchMode: o.prefetchMode,
    warmupTiming: o.warmupTiming,
    warmupLeadMs: o.warmupLeadMs,
    warmupMinGapMs: o.warmupMinGapMs,
    maxWarmupsInFlight: o.maxWarmupsInFlight,
    kvEvents:
      kvEventsEndpoint === undefined
        ? undefined
        : {
            endpoint: kvEventsEndpoint,
            bind: o.kvEventsBind,
            replayEndpoint: kvEventsReplay,
            topic: o.kvEventsTopic,
          },
    maxTrackedSessions: o.maxTrackedSessions,
    maxPromptBytes: o.maxPromptBytes,
    maxMessages: o.maxMessages,
    scheduler: hostPort("--scheduler", o.scheduler),
    advertiseAddress: hostPort("--advertise-address", o.advertiseAddress),
    registerRetryMs: o.registerRetryMs,
    authToken: loadTokens(o.authTokenFile, "--auth-token-file", process.env[AUTH_TOKEN_ENV])[0],
    tls: tlsFiles(o),
    schedulerTlsCa: o.schedulerTlsCa,
    logLevel: o.logLevel,
  });
}
