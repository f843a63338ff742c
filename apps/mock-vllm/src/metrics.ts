import { Counter, Gauge, type Metric, type Registry } from "prom-client";
import type { EngineObserver, EngineStats, KvTransferType } from "./domain";

// Bucket edges copied from vLLM (vllm/v1/metrics/loggers.py) so dashboards built for vLLM work.
const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
  80.0, 160.0, 640.0, 2560.0,
];
const ITL_BUCKETS = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
const REQUEST_LATENCY_BUCKETS = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0,
  960.0, 1920.0, 7680.0,
];
const ITERATION_TOKEN_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];
const N_PARAM_BUCKETS = [1, 2, 5, 10, 20];

/**
 * vLLM's token-count buckets (build_1_2_5_buckets): 1, 2, 5, 10, 20, 50, ... up to `max`
 * (max-model-len), so counts near the context limit still fall below +Inf.
 */
export function oneTwoFiveBuckets(max: number): number[] {
  const out: number[] = [];
  for (let scale = 1; ; scale *= 10)
    for (const m of [1, 2, 5]) {
      if (m * scale > max) return out;
      out.push(m * scale);
    }
}
// vllm/distributed/kv_transfer/kv_connector/v1/offloading/metrics.py TRANSFER_SIZE_BUCKETS (bytes).
const TRANSFER_SIZE_BUCKETS = [1e6, 5e6, 10e6, 20e6, 40e6, 60e6, 80e6, 100e6, 150e6, 200e6];
const TRANSFER_TYPES: readonly KvTransferType[] = ["GPU_to_CPU", "CPU_to_GPU"];

/**
 * A label-less-at-runtime Prometheus histogram: prom-client's Histogram hashes the label set on
 * every observe(), which showed up at ~10% of CPU when observing each streamed token (inter-token
 * latency at 50k tokens/s). This keeps plain bucket counters and renders them at scrape time in
 * prom-client's metric format, so it lives in the same registry as the other metrics.
 */
export class FastHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    private readonly labels: Readonly<Record<string, string>>,
    /** Null for one series of a `FastHistogramFamily` (the family registers). */
    registry: Registry | null,
  ) {
    this.counts = new Float64Array(buckets.length + 1);
    registry?.registerMetric(this as unknown as Metric);
  }

  /** Records `value` (seconds or a count) `times` times. */
  observe(value: number, times = 1): void {
    const b = this.buckets;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]! += times;
    this.sum += value * times;
    this.count += times;
  }

  get() {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    let cumulative = 0;
    for (let i = 0; i <= this.buckets.length; i++) {
      cumulative += this.counts[i]!;
      const le = i < this.buckets.length ? this.buckets[i]! : "+Inf";
      values.push({ metricName: `${this.name}_bucket`, labels: { ...this.labels, le }, value: cumulative });
    }
    values.push({ metricName: `${this.name}_sum`, labels: { ...this.labels }, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: { ...this.labels }, value: this.count });
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

/** Several FastHistogram series under one metric name (one per label set, fixed up front). */
export class FastHistogramFamily<K extends string> {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly series = new Map<K, FastHistogram>();

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    labelsByKey: Readonly<Record<K, Readonly<Record<string, string>>>>,
    registry: Registry,
  ) {
    for (const key of Object.keys(labelsByKey) as K[])
      this.series.set(key, new FastHistogram(name, help, buckets, labelsByKey[key], null));
    registry.registerMetric(this as unknown as Metric);
  }

  observe(key: K, value: number): void {
    this.series.get(key)!.observe(value);
  }

  get() {
    const values = [...this.series.values()].flatMap((h) => h.get().values);
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  reset(): void {
    for (const h of this.series.values()) h.reset();
  }
}

/** Which KV connector metrics to export (vLLM exports them only when a connector is configured). */
export interface ConnectorMetricsOptions {
  /** A KV connector is configured: vllm:external_prefix_cache_{queries,hits}_total. */
  readonly externalPrefixCache?: boolean;
  /** Native CPU offload: vllm:kv_offload_* (transfer bytes, time, sizes, CPU usage). */
  readonly offload?: boolean;
}

/** Which series to export, and their token-count buckets. */
export interface EngineMetricsOptions extends ConnectorMetricsOptions {
  /** --max-model-len: the top of the token-count buckets (vLLM's build_1_2_5_buckets). Default 100000. */
  readonly maxModelLen?: number;
  /**
   * --show-hidden-metrics-for-version given: also export the names current vLLM no longer does
   * (`vllm:gpu_cache_usage_perc`, `vllm:gpu_prefix_cache_{queries,hits}_total`,
   * `vllm:time_per_output_token_seconds`), for dashboards not yet moved to the new names.
   */
  readonly showHiddenMetrics?: boolean;
}

/** The engine index label: one engine core per server (vLLM labels data-parallel ranks 0..N-1). */
export const ENGINE_INDEX = "0";

/**
 * vLLM's Prometheus metrics (names as vLLM v1's PrometheusStatLogger exports them, labelled
 * `model_name` and `engine`) on an injected registry. Gauges and counters read `engine.stats()`
 * at scrape time; histograms are fed by the engine observer. Durations are seconds of the engine
 * clock (wall time when live).
 */
export function createEngineMetrics(
  registry: Registry,
  modelName: string,
  cacheInfo: { blockSize: number; numGpuBlocks: number; enablePrefixCaching: boolean },
  statsOf: () => EngineStats,
  options: EngineMetricsOptions = {},
): EngineObserver {
  const hidden = options.showHiddenMetrics ?? false;
  const tokenCountBuckets = oneTwoFiveBuckets(options.maxModelLen ?? 100_000);
  const labels = { model_name: modelName, engine: ENGINE_INDEX };
  const labelNames = ["model_name", "engine"] as const;
  const registers = [registry];

  const gauge = (name: string, help: string, read: (s: EngineStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.set(labels, read(statsOf()));
      },
    });
  const counter = (name: string, help: string, read: (s: EngineStats) => number) =>
    new Counter({
      name,
      help,
      labelNames,
      registers,
      collect() {
        this.reset();
        this.inc(labels, read(statsOf()));
      },
    });

  gauge("vllm:num_requests_running", "Number of requests in model execution batches.", (s) => s.numRunning);
  gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", (s) => s.numWaiting);
  gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", (s) => s.kvCacheUsage);
  // The mock has no sleep mode (vLLM's --enable-sleep-mode, POST /sleep): always awake.
  const sleepState = new Gauge({
    name: "vllm:engine_sleep_state",
    help:
      "Engine sleep state; awake = 0 means engine is sleeping; awake = 1 means engine is awake; " +
      "weights_offloaded = 1 means sleep level 1; discard_all = 1 means sleep level 2.",
    labelNames: [...labelNames, "sleep_state"],
    registers,
  });
  sleepState.set({ ...labels, sleep_state: "awake" }, 1);
  sleepState.set({ ...labels, sleep_state: "weights_offloaded" }, 0);
  sleepState.set({ ...labels, sleep_state: "discard_all" }, 0);
  if (hidden)
    gauge(
      "vllm:gpu_cache_usage_perc",
      "GPU KV-cache usage. 1 means 100 percent usage. DEPRECATED: Use vllm:kv_cache_usage_perc instead.",
      (s) => s.kvCacheUsage,
    );
  counter(
    "vllm:prefix_cache_queries_total",
    "Prefix cache queries, in terms of number of queried tokens.",
    (s) => s.prefixCacheQueries,
  );
  counter(
    "vllm:prefix_cache_hits_total",
    "Prefix cache hits, in terms of number of cached tokens.",
    (s) => s.prefixCacheHits,
  );
  if (hidden) {
    counter(
      "vllm:gpu_prefix_cache_queries_total",
      "GPU prefix cache queries, in terms of number of queried tokens. DEPRECATED: Use vllm:prefix_cache_queries instead.",
      (s) => s.prefixCacheQueries,
    );
    counter(
      "vllm:gpu_prefix_cache_hits_total",
      "GPU prefix cache hits, in terms of number of cached tokens. DEPRECATED: Use vllm:prefix_cache_hits instead.",
      (s) => s.prefixCacheHits,
    );
  }
  counter(
    "vllm:num_preemptions_total",
    "Cumulative number of preemptions from the engine.",
    (s) => s.numPreemptions,
  );
  counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.", (s) => s.promptTokens);
  counter(
    "vllm:generation_tokens_total",
    "Number of generation tokens processed.",
    (s) => s.generationTokens,
  );
  new Counter({
    name: "vllm:request_success_total",
    help: "Count of successfully processed requests.",
    labelNames: [...labelNames, "finished_reason"],
    registers,
    collect() {
      this.reset();
      const f = statsOf().finished;
      for (const reason of ["stop", "length", "abort"] as const)
        this.inc({ ...labels, finished_reason: reason }, f[reason]);
    },
  });
  new Gauge({
    name: "vllm:cache_config_info",
    help: "Information of the LLMEngine CacheConfig.",
    labelNames: ["block_size", "num_gpu_blocks", "enable_prefix_caching", "engine"],
    registers,
  }).set(
    {
      engine: ENGINE_INDEX,
      block_size: String(cacheInfo.blockSize),
      num_gpu_blocks: String(cacheInfo.numGpuBlocks),
      enable_prefix_caching: String(cacheInfo.enablePrefixCaching),
    },
    1,
  );

  if (options.externalPrefixCache) {
    counter(
      "vllm:external_prefix_cache_queries_total",
      "External prefix cache queries from KV connector cross-instance cache sharing, in terms of number of queried tokens.",
      (s) => s.externalPrefixCacheQueries,
    );
    counter(
      "vllm:external_prefix_cache_hits_total",
      "External prefix cache hits from KV connector cross-instance cache sharing, in terms of number of cached tokens.",
      (s) => s.externalPrefixCacheHits,
    );
  }
  // Not a vLLM metric: the mock's true cache state, to check consumers of its KV events against.
  new Gauge({
    name: "symphony_mock_kv_cached_blocks",
    help: "Blocks holding a findable cached prefix, by medium (GPU block pool, CPU offload tier)",
    labelNames: ["medium"],
    registers,
    collect() {
      const s = statsOf();
      this.set({ medium: "GPU" }, s.numCachedBlocks);
      this.set({ medium: "CPU" }, s.offload?.numReadyCpuBlocks ?? 0);
    },
  });
  let transferSize: FastHistogramFamily<KvTransferType> | null = null;
  if (options.offload) {
    const byTransfer = (name: string, help: string, read: (s: EngineStats, t: KvTransferType) => number) =>
      new Counter({
        name,
        help,
        labelNames: [...labelNames, "transfer_type"],
        registers,
        collect() {
          this.reset();
          const s = statsOf();
          for (const t of TRANSFER_TYPES) this.inc({ ...labels, transfer_type: t }, read(s, t));
        },
      });
    byTransfer("vllm:kv_offload_total_bytes_total", "Number of bytes offloaded by KV connector", (s, t) =>
      t === "GPU_to_CPU" ? (s.offload?.gpuToCpuBytes ?? 0) : (s.offload?.cpuToGpuBytes ?? 0),
    );
    byTransfer(
      "vllm:kv_offload_total_time_total",
      "Total time measured by all KV offloading operations",
      (s, t) =>
        (t === "GPU_to_CPU" ? (s.offload?.gpuToCpuTimeUs ?? 0) : (s.offload?.cpuToGpuTimeUs ?? 0)) / 1e6,
    );
    transferSize = new FastHistogramFamily(
      "vllm:kv_offload_size",
      "Histogram of KV offload transfer size, in bytes.",
      TRANSFER_SIZE_BUCKETS,
      {
        GPU_to_CPU: { ...labels, transfer_type: "GPU_to_CPU" },
        CPU_to_GPU: { ...labels, transfer_type: "CPU_to_GPU" },
      },
      registry,
    );
    gauge(
      "vllm:kv_offload_cpu_cache_usage_perc",
      "Fraction of CPU offload blocks in use. 1 means 100 percent usage.",
      (s) => s.offload?.cpuCacheUsage ?? 0,
    );
  }

  const histogram = (name: string, help: string, buckets: number[]) =>
    new FastHistogram(name, help, buckets, labels, registry);
  const ttft = histogram(
    "vllm:time_to_first_token_seconds",
    "Histogram of time to first token in seconds.",
    TTFT_BUCKETS,
  );
  const itl = histogram(
    "vllm:inter_token_latency_seconds",
    "Histogram of inter-token latency in seconds.",
    ITL_BUCKETS,
  );
  const tpot = hidden
    ? histogram(
        "vllm:time_per_output_token_seconds",
        "Histogram of time per output token in seconds. DEPRECATED: Use vllm:inter_token_latency_seconds instead.",
        ITL_BUCKETS,
      )
    : null;
  const requestTpot = histogram(
    "vllm:request_time_per_output_token_seconds",
    "Histogram of time_per_output_token_seconds per request.",
    ITL_BUCKETS,
  );
  const e2e = histogram(
    "vllm:e2e_request_latency_seconds",
    "Histogram of e2e request latency in seconds.",
    REQUEST_LATENCY_BUCKETS,
  );
  const queue = histogram(
    "vllm:request_queue_time_seconds",
    "Histogram of time spent in WAITING phase for request.",
    REQUEST_LATENCY_BUCKETS,
  );
  const inference = histogram(
    "vllm:request_inference_time_seconds",
    "Histogram of time spent in RUNNING phase for request.",
    REQUEST_LATENCY_BUCKETS,
  );
  const prefill = histogram(
    "vllm:request_prefill_time_seconds",
    "Histogram of time spent in PREFILL phase for request.",
    REQUEST_LATENCY_BUCKETS,
  );
  const decode = histogram(
    "vllm:request_decode_time_seconds",
    "Histogram of time spent in DECODE phase for request.",
    REQUEST_LATENCY_BUCKETS,
  );
  const promptTokens = histogram(
    "vllm:request_prompt_tokens",
    "Number of prefill tokens processed.",
    tokenCountBuckets,
  );
  const generationTokens = histogram(
    "vllm:request_generation_tokens",
    "Number of generation tokens processed.",
    tokenCountBuckets,
  );
  const maxNumGenerationTokens = histogram(
    "vllm:request_max_num_generation_tokens",
    "Histogram of maximum number of requested generation tokens.",
    tokenCountBuckets,
  );
  const nParam = histogram("vllm:request_params_n", "Histogram of the n request parameter.", N_PARAM_BUCKETS);
  const maxTokensParam = histogram(
    "vllm:request_params_max_tokens",
    "Histogram of the max_tokens request parameter.",
    tokenCountBuckets,
  );

  const iterationTokens = histogram(
    "vllm:iteration_tokens_total",
    "Histogram of number of tokens per engine_step.",
    ITERATION_TOKEN_BUCKETS,
  );

  const observer: EngineObserver = {
    ...(transferSize
      ? { onKvTransfer: (type: KvTransferType, bytes: number) => transferSize.observe(type, bytes) }
      : {}),
    onStep: (shape) => iterationTokens.observe(shape.prefillTokens + shape.decodeSeqs),
    onFirstToken: (us) => ttft.observe(us / 1e6),
    onInterToken: (us) => {
      itl.observe(us / 1e6);
      tpot?.observe(us / 1e6);
    },
    onFinish: (s) => {
      if (s.finishReason === "abort") return;
      e2e.observe((s.finishUs - s.arrivalUs) / 1e6);
      queue.observe((s.firstScheduledUs - s.arrivalUs) / 1e6);
      prefill.observe((s.firstTokenUs - s.firstScheduledUs) / 1e6);
      decode.observe((s.finishUs - s.firstTokenUs) / 1e6);
      inference.observe((s.finishUs - s.firstScheduledUs) / 1e6);
      // vLLM: the first token is the prefill's, so the mean is over the other n - 1.
      requestTpot.observe(
        s.completionTokens > 1 ? (s.finishUs - s.firstTokenUs) / 1e6 / (s.completionTokens - 1) : 0,
      );
      promptTokens.observe(s.promptTokens);
      generationTokens.observe(s.completionTokens);
      // One choice per request (n = 1), so its longest generation is its own.
      nParam.observe(1);
      maxNumGenerationTokens.observe(s.completionTokens);
      if (s.maxTokens > 0) maxTokensParam.observe(s.maxTokens);
    },
  };
  return observer;
}
