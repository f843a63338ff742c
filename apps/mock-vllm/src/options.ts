import { flag, logLevelOption, TOKENIZER_FLAG_HELP, UsageError } from "@symphony/common";
import { KvEventsConfigError, parseKvEventsConfig, type KvEventsConfig } from "@symphony/kv-events";
import { z } from "zod";
import { DEFAULT_PROFILE, PROFILES } from "./domain";

function kvEventsConfig(value: string): KvEventsConfig {
  try {
    return parseKvEventsConfig(value);
  } catch (err) {
    if (err instanceof KvEventsConfigError) throw new UsageError(err.message);
    throw err;
  }
}

/** A vLLM release as `--show-hidden-metrics-for-version` takes it: `0.10` or `0.10.2`. */
function vllmVersion(value: string): string {
  if (!/^\d+\.\d+(\.\d+)?$/.test(value))
    throw new UsageError(`expected a vLLM version such as 0.10, got "${value}"`);
  return value;
}

const rate = () => z.number().min(0).max(1);
const coefficient = (flags: string, help: string) => flag(z.number().min(0).optional(), flags, help);

/**
 * mock-vllm's options, named as vLLM's where vLLM has them: each field's type, bounds, default and
 * help, from which its flags and the simulator's `engine:` section are derived. Left out, the
 * capacity and timing options are the profile's.
 */
export const mockVllmOptions = z.object({
  host: flag(z.string().default("127.0.0.1"), "--host <host>", "interface to bind"),
  port: flag(z.int().min(0).max(65535).default(8000), "--port <port>", "HTTP port (0 = a free port)"),
  model: flag(
    z.string().default("meta-llama/Llama-3.1-8B-Instruct"),
    "--model <name>",
    "model name (as vLLM's --model)",
  ),
  servedModelName: flag(
    z.array(z.string()).optional(),
    "--served-model-name <names...>",
    "names accepted in requests (default: --model)",
  ),
  profile: flag(
    z.enum(Object.keys(PROFILES) as [string, ...string[]]).default(DEFAULT_PROFILE),
    "--profile <name>",
    "engine timing/capacity profile",
  ),
  tokenizer: flag(
    z.string().optional(),
    "--tokenizer <name|path>",
    `${TOKENIZER_FLAG_HELP} (default: the profile model's)`,
  ),
  maxModelLen: flag(
    z.int().min(1).optional(),
    "--max-model-len <tokens>",
    "max prompt + output tokens (default: the profile model's)",
  ),
  maxNumSeqs: flag(
    z.int().min(1).optional(),
    "--max-num-seqs <n>",
    "max running requests per step (default: the profile's vLLM default)",
  ),
  maxNumBatchedTokens: flag(
    z.int().min(1).optional(),
    "--max-num-batched-tokens <n>",
    "token budget per step (default: the profile's vLLM default)",
  ),
  blockSize: flag(z.int().min(1).max(1024).default(16), "--block-size <tokens>", "KV block size"),
  gpuMemoryUtilization: flag(
    z.number().min(0.05).max(1).default(0.9),
    "--gpu-memory-utilization <f>",
    "fraction of GPU memory vLLM may use (derives --num-gpu-blocks)",
  ),
  numGpuBlocks: flag(
    z.int().min(1).optional(),
    "--num-gpu-blocks <n>",
    "KV-cache blocks (default: derived from the profile)",
  ),
  enablePrefixCaching: flag(
    z.boolean().default(true),
    "--enable-prefix-caching",
    "automatic prefix caching",
    { negationHelp: "disable automatic prefix caching" },
  ),
  kvConnector: flag(
    z.boolean().default(false),
    "--kv-connector",
    "Symphony's directive connector: load the KV a node reports resident (header x-symphony-resident-tokens) instead of recomputing it",
    { negationHelp: "ignore x-symphony-resident-tokens, like a plain vLLM (default)" },
  ),
  kvEventsConfig: flag(
    z.custom<KvEventsConfig>().optional(),
    "--kv-events-config <json>",
    "vLLM KVEventsConfig JSON: enable_kv_cache_events, publisher, endpoint, replay_endpoint, buffer_steps, hwm, max_queue_size, topic, event_encoding",
    { parse: kvEventsConfig },
  ),
  kvOffloadingSize: flag(
    z.number().min(0).max(1e6).default(0),
    "--kv-offloading-size <GiB>",
    "native CPU KV offload: CPU tier size in GiB, total across ranks (0 = off)",
  ),
  kvOffloadingBackend: flag(
    z.enum(["native", "lmcache"]).default("native"),
    "--kv-offloading-backend <name>",
    "CPU offload backend (only native is emulated)",
  ),
  enablePromptTokensDetails: flag(
    z.boolean().default(false),
    "--enable-prompt-tokens-details",
    "fill usage.prompt_tokens_details.cached_tokens (as vLLM, off by default)",
  ),
  showHiddenMetricsForVersion: flag(
    z.string().optional(),
    "--show-hidden-metrics-for-version <version>",
    "also serve the metric names vLLM has since removed (gpu_cache_usage_perc, gpu_prefix_cache_*, time_per_output_token_seconds), e.g. 0.10",
    { parse: vllmVersion },
  ),
  timeScale: flag(
    z.number().min(0.001).max(1e6).default(1),
    "--time-scale <x>",
    "divide all modelled durations by x (10 = 10x faster)",
  ),
  seed: flag(z.int().default(0), "--seed <n>", "seed for generated text and faults"),
  eosMeanTokens: flag(
    z.int().min(0).default(256),
    "--eos-mean-tokens <n>",
    "mean generated length before a sampled EOS (0 = run to max_tokens)",
  ),
  stepOverheadUs: coefficient("--step-overhead-us <us>", "override: fixed cost per step"),
  perSeqUs: coefficient("--per-seq-us <us>", "override: cost per sequence in a step"),
  weightReadUs: coefficient(
    "--weight-read-us <us>",
    "override: time to read all weights once (decode floor)",
  ),
  kvReadUsPerToken: coefficient("--kv-read-us-per-token <us>", "override: time per KV token read in decode"),
  prefillUsPerToken: coefficient("--prefill-us-per-token <us>", "override: dense compute time per token"),
  attentionUsPerPair: coefficient(
    "--attention-us-per-pair <us>",
    "override: prefill attention time per query-key pair",
  ),
  faultErrorRate: flag(
    rate().default(0),
    "--fault-error-rate <p>",
    "fraction of requests failed with --fault-error-status",
  ),
  faultErrorStatus: flag(
    z.enum(["500", "503"]).default("503"),
    "--fault-error-status <code>",
    "HTTP status of injected errors",
  ),
  faultLatencyRate: flag(
    rate().default(0),
    "--fault-latency-rate <p>",
    "fraction of requests delayed by --fault-latency-ms",
  ),
  faultLatencyMs: flag(
    z.number().min(0).default(1000),
    "--fault-latency-ms <ms>",
    "injected delay before a request reaches the engine (modelled ms)",
  ),
  faultDropRate: flag(
    rate().default(0),
    "--fault-drop-rate <p>",
    "fraction of streams cut mid-way (connection destroyed)",
  ),
  drainTimeoutMs: flag(
    z.int().min(0).default(10_000),
    "--drain-timeout-ms <ms>",
    "on SIGTERM, wait this long for in-flight requests",
  ),
  logLevel: logLevelOption(),
});
export type MockVllmOptions = z.output<typeof mockVllmOptions>;
