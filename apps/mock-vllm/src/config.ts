import { Command } from "@commander-js/extra-typings";
import { checkTokenizerSpec, UsageError } from "@symphony/common";
import type { KvEventsConfig } from "@symphony/kv-events";
import { addOptions, parseOptions, type LogLevel } from "@symphony/runtime";
import {
  coefficientsFor,
  cpuBlocksFor,
  deriveNumGpuBlocks,
  kvBytesPerToken,
  PROFILES,
  type EngineProfile,
  type FaultConfig,
  type StepTimeCoefficients,
} from "./domain";
import { mockVllmOptions } from "./options";

/** The effective configuration of one mock vLLM server. */
export interface Config {
  /** Interface to bind; loopback by default. */
  readonly host: string;
  /** HTTP port (API and /metrics); 0 picks a free one and logs it. */
  readonly port: number;
  /** --model: the model path/name vLLM was started with. */
  readonly model: string;
  /** Names the API accepts in `model` and lists in /v1/models (vLLM --served-model-name). */
  readonly servedModelNames: readonly string[];
  /** Engine profile name (see PROFILES). */
  readonly profile: EngineProfile;
  /**
   * --tokenizer (as vLLM's): `cl100k`, `llama3`, `llama2` or a tokenizer.json path; default the
   * profile model's. It counts prompts, renders the chat template and detokenizes output.
   */
  readonly tokenizer: string;
  /** Step-time coefficients: the profile's, with any flag overrides applied. */
  readonly coefficients: StepTimeCoefficients;
  /** Longest prompt + output, tokens. */
  readonly maxModelLen: number;
  readonly maxNumSeqs: number;
  readonly maxNumBatchedTokens: number;
  readonly blockSize: number;
  readonly gpuMemoryUtilization: number;
  /** KV-cache blocks: the flag, or derived from the profile's GPU memory and model size. */
  readonly numGpuBlocks: number;
  readonly enablePrefixCaching: boolean;
  /**
   * Symphony's "directive" KV connector (`--kv-connector`, off by default like any vLLM
   * connector): the session KV a Symphony node reports resident (`x-symphony-resident-tokens`)
   * is loaded, not recomputed.
   */
  readonly kvConnector: boolean;
  /**
   * `--kv-events-config` when it publishes (enable_kv_cache_events true and publisher "zmq");
   * null = no KV-cache events (vLLM's NullEventPublisher).
   */
  readonly kvEvents: KvEventsConfig | null;
  /** `--kv-offloading-size`: CPU offload tier in GiB, total across ranks; 0 = off. */
  readonly kvOffloadingSize: number;
  /** `--kv-offloading-backend`: only "native" (vLLM's OffloadingConnector, CPU backend) is emulated. */
  readonly kvOffloadingBackend: "native";
  /** CPU tier capacity in blocks, derived from `kvOffloadingSize`; 0 when off. */
  readonly numCpuBlocks: number;
  /** `--enable-prompt-tokens-details`: fill usage.prompt_tokens_details.cached_tokens (vLLM: off). */
  readonly enablePromptTokensDetails: boolean;
  /** env VLLM_SERVER_DEV_MODE=1: serve vLLM's dev endpoints (`/reset_prefix_cache`). */
  readonly serverDevMode: boolean;
  /** env VLLM_HTTP_TIMEOUT_KEEP_ALIVE (default 5): seconds an idle keep-alive connection stays open. */
  readonly httpTimeoutKeepAliveS: number;
  /**
   * `--show-hidden-metrics-for-version` (vLLM's escape hatch for renamed metrics): when set, the
   * metric names current vLLM no longer exports are served too; null = current names only.
   */
  readonly showHiddenMetricsForVersion: string | null;
  /** Divides every modelled duration (10 = ten times faster than real time). */
  readonly timeScale: number;
  readonly seed: number;
  /** Mean length of generated (no expected response) outputs before a sampled EOS; 0 = never. */
  readonly eosMeanTokens: number;
  readonly faults: FaultConfig;
  /** On SIGTERM, how long in-flight requests may run before they are cut, ms. */
  readonly drainTimeoutMs: number;
  readonly logLevel: LogLevel;
}

export function buildProgram() {
  const program = new Command("mock-vllm")
    .description(
      "A vLLM stand-in: OpenAI-compatible API with vLLM's continuous batching, KV-cache and prefix-cache timing",
    )
    .exitOverride()
    .showHelpAfterError(false);
  return addOptions(program, mockVllmOptions);
}

/**
 * Parses `argv` (without the node and script entries) into a validated Config. Throws
 * UsageError for inconsistent values and commander's error for malformed flags.
 */
export function parseConfig(
  argv: readonly string[],
  /** Where commander prints flag errors (stderr by default; tests pass a sink). */
  writeErr: (text: string) => void = (text) => process.stderr.write(text),
  env: Readonly<Record<string, string | undefined>> = process.env,
): Readonly<Config> {
  const program = buildProgram().configureOutput({ writeErr });
  const o = parseOptions(program, mockVllmOptions, argv).values;
  const profile = PROFILES[o.profile]!;
  const base = coefficientsFor(profile);
  const coefficients: StepTimeCoefficients = {
    stepOverheadUs: o.stepOverheadUs ?? base.stepOverheadUs,
    perSeqUs: o.perSeqUs ?? base.perSeqUs,
    weightReadUs: o.weightReadUs ?? base.weightReadUs,
    kvReadUsPerToken: o.kvReadUsPerToken ?? base.kvReadUsPerToken,
    prefillUsPerToken: o.prefillUsPerToken ?? base.prefillUsPerToken,
    attentionUsPerPair: o.attentionUsPerPair ?? base.attentionUsPerPair,
  };
  const maxModelLen = o.maxModelLen ?? profile.model.maxModelLen;
  const maxNumSeqs = o.maxNumSeqs ?? profile.defaultMaxNumSeqs;
  const maxNumBatchedTokens = o.maxNumBatchedTokens ?? profile.defaultMaxNumBatchedTokens;
  const numGpuBlocks = o.numGpuBlocks ?? deriveNumGpuBlocks(profile, o.blockSize, o.gpuMemoryUtilization);
  if (numGpuBlocks < 1)
    throw new UsageError(
      `--gpu-memory-utilization ${o.gpuMemoryUtilization} leaves no room for the KV cache with profile ` +
        `${profile.name}: raise it or set --num-gpu-blocks`,
    );
  // vLLM refuses to start when one max-length sequence cannot fit in the KV cache.
  if (maxModelLen > numGpuBlocks * o.blockSize)
    throw new UsageError(
      `--max-model-len ${maxModelLen} is larger than the KV cache holds (${numGpuBlocks} blocks x ` +
        `${o.blockSize} = ${numGpuBlocks * o.blockSize} tokens): lower --max-model-len or raise --num-gpu-blocks`,
    );
  if (o.kvOffloadingBackend === "lmcache")
    throw new UsageError(
      "--kv-offloading-backend lmcache is not emulated by mock-vllm: use native (vLLM's OffloadingConnector with its CPU backend)",
    );
  if (o.kvOffloadingSize > 0 && o.kvConnector)
    throw new UsageError(
      "--kv-connector and --kv-offloading-size configure two KV connectors and vLLM runs one: drop one of them",
    );
  const numCpuBlocks =
    o.kvOffloadingSize > 0
      ? cpuBlocksFor(o.kvOffloadingSize, o.blockSize, kvBytesPerToken(profile.model))
      : 0;
  if (o.kvOffloadingSize > 0 && numCpuBlocks < 1)
    throw new UsageError(
      `--kv-offloading-size ${o.kvOffloadingSize} GiB holds no ${o.blockSize}-token block of ${profile.model.name}: raise it`,
    );
  const events = o.kvEventsConfig;
  // vLLM publishes only with enable_kv_cache_events and a "zmq" publisher (else NullEventPublisher).
  const kvEvents = events?.enableKvCacheEvents && events.publisher === "zmq" ? Object.freeze(events) : null;
  // vLLM: VLLM_SERVER_DEV_MODE = bool(int(os.getenv("VLLM_SERVER_DEV_MODE", "0"))).
  const devMode = env.VLLM_SERVER_DEV_MODE;
  const serverDevMode = devMode !== undefined && /^\s*[+-]?\d+\s*$/.test(devMode) && Number(devMode) !== 0;
  // vLLM: int(os.getenv("VLLM_HTTP_TIMEOUT_KEEP_ALIVE", "5")), uvicorn's timeout_keep_alive.
  const keepAlive = env.VLLM_HTTP_TIMEOUT_KEEP_ALIVE ?? "5";
  if (!/^\s*\d+\s*$/.test(keepAlive) || Number(keepAlive) < 1)
    throw new UsageError(
      `env VLLM_HTTP_TIMEOUT_KEEP_ALIVE=${JSON.stringify(keepAlive)}: expected a whole number of seconds >= 1`,
    );
  return Object.freeze({
    host: o.host,
    port: o.port,
    model: o.model,
    servedModelNames: Object.freeze(o.servedModelName?.length ? o.servedModelName : [o.model]),
    profile,
    tokenizer: checkTokenizerSpec(o.tokenizer ?? profile.model.tokenizer),
    coefficients: Object.freeze(coefficients),
    maxModelLen,
    maxNumSeqs,
    maxNumBatchedTokens,
    blockSize: o.blockSize,
    gpuMemoryUtilization: o.gpuMemoryUtilization,
    numGpuBlocks,
    enablePrefixCaching: o.enablePrefixCaching,
    kvConnector: o.kvConnector,
    kvEvents,
    kvOffloadingSize: o.kvOffloadingSize,
    kvOffloadingBackend: "native" as const,
    numCpuBlocks,
    enablePromptTokensDetails: o.enablePromptTokensDetails,
    serverDevMode,
    httpTimeoutKeepAliveS: Number(keepAlive),
    showHiddenMetricsForVersion: o.showHiddenMetricsForVersion ?? null,
    timeScale: o.timeScale,
    seed: o.seed,
    eosMeanTokens: o.eosMeanTokens,
    faults: Object.freeze({
      errorRate: o.faultErrorRate,
      errorStatus: Number(o.faultErrorStatus) as 500 | 503,
      latencySpikeRate: o.faultLatencyRate,
      latencySpikeMs: o.faultLatencyMs,
      dropStreamRate: o.faultDropRate,
    }),
    drainTimeoutMs: o.drainTimeoutMs,
    logLevel: o.logLevel,
  });
}
