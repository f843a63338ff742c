import { Command, InvalidArgumentError, Option } from "commander";
import { checkTokenizerSpec, TOKENIZER_FLAG_HELP, UsageError } from "@symphony/common";
import { parseArg, type LogLevel } from "@symphony/runtime";
import { KvEventsConfigError, parseKvEventsConfig, type KvEventsConfig } from "@symphony/kv-events";
import {
  coefficientsFor,
  cpuBlocksFor,
  DEFAULT_PROFILE,
  deriveNumGpuBlocks,
  kvBytesPerToken,
  PROFILES,
  type EngineProfile,
  type FaultConfig,
  type StepTimeCoefficients,
} from "./domain";

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

function rate(value: string): number {
  return parseArg.number(0, 1)(value);
}

function kvEventsConfig(value: string): KvEventsConfig {
  try {
    return parseKvEventsConfig(value);
  } catch (err) {
    if (err instanceof KvEventsConfigError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** A vLLM release as `--show-hidden-metrics-for-version` takes it: `0.10` or `0.10.2`. */
function vllmVersion(value: string): string {
  if (!/^\d+\.\d+(\.\d+)?$/.test(value))
    throw new InvalidArgumentError(`expected a vLLM version such as 0.10, got "${value}"`);
  return value;
}

function buildProgram(): Command {
  const profiles = Object.keys(PROFILES);
  return new Command("mock-vllm")
    .description(
      "A vLLM stand-in: OpenAI-compatible API with vLLM's continuous batching, KV-cache and prefix-cache timing",
    )
    .addOption(new Option("--host <host>", "interface to bind").default("127.0.0.1"))
    .addOption(
      new Option("--port <port>", "HTTP port (0 = a free port)").default(8000).argParser(parseArg.port),
    )
    .addOption(
      new Option("--model <name>", "model name (as vLLM's --model)").default(
        "meta-llama/Llama-3.1-8B-Instruct",
      ),
    )
    .addOption(new Option("--served-model-name <names...>", "names accepted in requests (default: --model)"))
    .addOption(
      new Option("--profile <name>", "engine timing/capacity profile")
        .choices(profiles)
        .default(DEFAULT_PROFILE),
    )
    .addOption(new Option("--tokenizer <name|path>", `${TOKENIZER_FLAG_HELP} (default: the profile model's)`))
    .addOption(
      new Option(
        "--max-model-len <tokens>",
        "max prompt + output tokens (default: the profile model's)",
      ).argParser(parseArg.int(1)),
    )
    .addOption(
      new Option(
        "--max-num-seqs <n>",
        "max running requests per step (default: the profile's vLLM default)",
      ).argParser(parseArg.int(1)),
    )
    .addOption(
      new Option(
        "--max-num-batched-tokens <n>",
        "token budget per step (default: the profile's vLLM default)",
      ).argParser(parseArg.int(1)),
    )
    .addOption(
      new Option("--block-size <tokens>", "KV block size").default(16).argParser(parseArg.int(1, 1024)),
    )
    .addOption(
      new Option(
        "--gpu-memory-utilization <f>",
        "fraction of GPU memory vLLM may use (derives --num-gpu-blocks)",
      )
        .default(0.9)
        .argParser(parseArg.number(0.05, 1)),
    )
    .addOption(
      new Option("--num-gpu-blocks <n>", "KV-cache blocks (default: derived from the profile)").argParser(
        parseArg.int(1),
      ),
    )
    .addOption(new Option("--enable-prefix-caching", "automatic prefix caching").default(true))
    .addOption(new Option("--no-enable-prefix-caching", "disable automatic prefix caching"))
    .addOption(
      new Option(
        "--kv-connector",
        "Symphony's directive connector: load the KV a node reports resident (header x-symphony-resident-tokens) instead of recomputing it",
      ).default(false),
    )
    .addOption(
      new Option("--no-kv-connector", "ignore x-symphony-resident-tokens, like a plain vLLM (default)"),
    )
    .addOption(
      new Option(
        "--kv-events-config <json>",
        "vLLM KVEventsConfig JSON: enable_kv_cache_events, publisher, endpoint, replay_endpoint, buffer_steps, hwm, max_queue_size, topic, event_encoding",
      ).argParser(kvEventsConfig),
    )
    .addOption(
      new Option(
        "--kv-offloading-size <GiB>",
        "native CPU KV offload: CPU tier size in GiB, total across ranks (0 = off)",
      )
        .default(0)
        .argParser(parseArg.number(0, 1e6)),
    )
    .addOption(
      new Option("--kv-offloading-backend <name>", "CPU offload backend (only native is emulated)")
        .choices(["native", "lmcache"])
        .default("native"),
    )
    .addOption(
      new Option(
        "--enable-prompt-tokens-details",
        "fill usage.prompt_tokens_details.cached_tokens (as vLLM, off by default)",
      ).default(false),
    )
    .addOption(
      new Option(
        "--show-hidden-metrics-for-version <version>",
        "also serve the metric names vLLM has since removed (gpu_cache_usage_perc, gpu_prefix_cache_*, time_per_output_token_seconds), e.g. 0.10",
      ).argParser(vllmVersion),
    )
    .addOption(
      new Option("--time-scale <x>", "divide all modelled durations by x (10 = 10x faster)")
        .default(1)
        .argParser(parseArg.number(0.001, 1e6)),
    )
    .addOption(
      new Option("--seed <n>", "seed for generated text and faults").default(0).argParser(parseArg.int()),
    )
    .addOption(
      new Option(
        "--eos-mean-tokens <n>",
        "mean generated length before a sampled EOS (0 = run to max_tokens)",
      )
        .default(256)
        .argParser(parseArg.int(0)),
    )
    .addOption(
      new Option("--step-overhead-us <us>", "override: fixed cost per step").argParser(parseArg.number(0)),
    )
    .addOption(
      new Option("--per-seq-us <us>", "override: cost per sequence in a step").argParser(parseArg.number(0)),
    )
    .addOption(
      new Option("--weight-read-us <us>", "override: time to read all weights once (decode floor)").argParser(
        parseArg.number(0),
      ),
    )
    .addOption(
      new Option("--kv-read-us-per-token <us>", "override: time per KV token read in decode").argParser(
        parseArg.number(0),
      ),
    )
    .addOption(
      new Option("--prefill-us-per-token <us>", "override: dense compute time per token").argParser(
        parseArg.number(0),
      ),
    )
    .addOption(
      new Option(
        "--attention-us-per-pair <us>",
        "override: prefill attention time per query-key pair",
      ).argParser(parseArg.number(0)),
    )
    .addOption(
      new Option("--fault-error-rate <p>", "fraction of requests failed with --fault-error-status")
        .default(0)
        .argParser(rate),
    )
    .addOption(
      new Option("--fault-error-status <code>", "HTTP status of injected errors")
        .choices(["500", "503"])
        .default("503"),
    )
    .addOption(
      new Option("--fault-latency-rate <p>", "fraction of requests delayed by --fault-latency-ms")
        .default(0)
        .argParser(rate),
    )
    .addOption(
      new Option(
        "--fault-latency-ms <ms>",
        "injected delay before a request reaches the engine (modelled ms)",
      )
        .default(1000)
        .argParser(parseArg.number(0)),
    )
    .addOption(
      new Option("--fault-drop-rate <p>", "fraction of streams cut mid-way (connection destroyed)")
        .default(0)
        .argParser(rate),
    )
    .addOption(
      new Option("--drain-timeout-ms <ms>", "on SIGTERM, wait this long for in-flight requests")
        .default(10_000)
        .argParser(parseArg.int(0)),
    )
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["error", "warn", "info", "debug"])
        .default("info"),
    )
    .exitOverride()
    .showHelpAfterError(false);
}

interface RawOptions {
  host: string;
  port: number;
  model: string;
  servedModelName?: string[];
  profile: string;
  tokenizer?: string;
  maxModelLen?: number;
  maxNumSeqs?: number;
  maxNumBatchedTokens?: number;
  blockSize: number;
  gpuMemoryUtilization: number;
  numGpuBlocks?: number;
  enablePrefixCaching: boolean;
  kvConnector: boolean;
  kvEventsConfig?: KvEventsConfig;
  kvOffloadingSize: number;
  kvOffloadingBackend: string;
  enablePromptTokensDetails: boolean;
  showHiddenMetricsForVersion?: string;
  timeScale: number;
  seed: number;
  eosMeanTokens: number;
  stepOverheadUs?: number;
  perSeqUs?: number;
  weightReadUs?: number;
  kvReadUsPerToken?: number;
  prefillUsPerToken?: number;
  attentionUsPerPair?: number;
  faultErrorRate: number;
  faultErrorStatus: string;
  faultLatencyRate: number;
  faultLatencyMs: number;
  faultDropRate: number;
  drainTimeoutMs: number;
  logLevel: LogLevel;
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
  program.parse(argv as string[], { from: "user" });
  const o = program.opts<RawOptions>();
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
