import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { EngineStats, RequestSummary } from "./domain";
import { createEngineMetrics, FastHistogram, oneTwoFiveBuckets } from "./metrics";

const stats: EngineStats = {
  numRunning: 3,
  numWaiting: 2,
  kvCacheUsage: 0.25,
  numGpuBlocks: 100,
  numFreeBlocks: 75,
  numCachedBlocks: 40,
  prefixCacheQueries: 500,
  prefixCacheHits: 320,
  externalPrefixCacheQueries: 0,
  externalPrefixCacheHits: 0,
  offload: null,
  numPreemptions: 4,
  promptTokens: 900,
  generationTokens: 1200,
  finished: { stop: 5, length: 6, abort: 1 },
  steps: 77,
};

describe("createEngineMetrics", () => {
  it("scrape -> vLLM metric names labelled model_name and engine, values read from engine stats", async () => {
    const registry = new Registry();
    createEngineMetrics(
      registry,
      "m",
      { blockSize: 16, numGpuBlocks: 100, enablePrefixCaching: true },
      () => stats,
    );
    const text = await registry.metrics();
    for (const line of [
      'vllm:num_requests_running{model_name="m",engine="0"} 3',
      'vllm:num_requests_waiting{model_name="m",engine="0"} 2',
      'vllm:kv_cache_usage_perc{model_name="m",engine="0"} 0.25',
      'vllm:prefix_cache_queries_total{model_name="m",engine="0"} 500',
      'vllm:prefix_cache_hits_total{model_name="m",engine="0"} 320',
      'vllm:num_preemptions_total{model_name="m",engine="0"} 4',
      'vllm:prompt_tokens_total{model_name="m",engine="0"} 900',
      'vllm:generation_tokens_total{model_name="m",engine="0"} 1200',
      'vllm:request_success_total{model_name="m",engine="0",finished_reason="length"} 6',
      'vllm:engine_sleep_state{model_name="m",engine="0",sleep_state="awake"} 1',
      'vllm:engine_sleep_state{model_name="m",engine="0",sleep_state="weights_offloaded"} 0',
      'vllm:engine_sleep_state{model_name="m",engine="0",sleep_state="discard_all"} 0',
      'vllm:cache_config_info{engine="0",block_size="16",num_gpu_blocks="100",enable_prefix_caching="true"} 1',
    ])
      expect(text).toContain(line);
    for (const name of [
      "vllm:time_to_first_token_seconds",
      "vllm:inter_token_latency_seconds",
      "vllm:e2e_request_latency_seconds",
      "vllm:request_queue_time_seconds",
      "vllm:request_inference_time_seconds",
      "vllm:request_time_per_output_token_seconds",
      "vllm:request_params_n",
      "vllm:request_params_max_tokens",
      "vllm:request_max_num_generation_tokens",
    ])
      expect(text).toContain(`# TYPE ${name} histogram`);
  });

  const REMOVED = [
    "vllm:gpu_cache_usage_perc",
    "vllm:gpu_prefix_cache_queries_total",
    "vllm:gpu_prefix_cache_hits_total",
    "vllm:time_per_output_token_seconds",
  ];

  it("default -> none of the names current vLLM has removed", async () => {
    const registry = new Registry();
    createEngineMetrics(
      registry,
      "m",
      { blockSize: 16, numGpuBlocks: 100, enablePrefixCaching: true },
      () => stats,
    );
    const text = await registry.metrics();
    for (const name of REMOVED) expect(text).not.toContain(name);
  });

  it("showHiddenMetrics -> the removed names too, with the current names' values", async () => {
    const registry = new Registry();
    const obs = createEngineMetrics(
      registry,
      "m",
      { blockSize: 16, numGpuBlocks: 100, enablePrefixCaching: true },
      () => stats,
      { showHiddenMetrics: true },
    );
    obs.onInterToken!(7_000);
    const text = await registry.metrics();
    for (const line of [
      'vllm:gpu_cache_usage_perc{model_name="m",engine="0"} 0.25',
      'vllm:gpu_prefix_cache_queries_total{model_name="m",engine="0"} 500',
      'vllm:gpu_prefix_cache_hits_total{model_name="m",engine="0"} 320',
      'vllm:time_per_output_token_seconds_count{model_name="m",engine="0"} 1',
      'vllm:inter_token_latency_seconds_count{model_name="m",engine="0"} 1',
      'vllm:kv_cache_usage_perc{model_name="m",engine="0"} 0.25',
    ])
      expect(text).toContain(line);
  });

  it("observer -> histograms count first tokens, inter-token gaps and finished requests", async () => {
    const registry = new Registry();
    const obs = createEngineMetrics(
      registry,
      "m",
      { blockSize: 16, numGpuBlocks: 100, enablePrefixCaching: true },
      () => stats,
    );
    obs.onStep!(
      { prefillTokens: 100, prefillAttentionPairs: 0, decodeSeqs: 3, kvTokensRead: 0, numSeqs: 4 },
      10,
    );
    obs.onFirstToken!(20_000);
    obs.onInterToken!(7_000);
    obs.onInterToken!(9_000);
    obs.onFinish!({
      id: "x",
      finishReason: "stop",
      promptTokens: 10,
      completionTokens: 3,
      cachedTokens: 0,
      prefixHitTokens: 0,
      numPreemptions: 0,
      arrivalUs: 0,
      firstScheduledUs: 1000,
      firstTokenUs: 20_000,
      finishUs: 36_000,
      maxTokens: 64,
    });
    const text = await registry.metrics();
    expect(text).toContain('vllm:time_to_first_token_seconds_count{model_name="m",engine="0"} 1');
    expect(text).toContain('vllm:iteration_tokens_total_sum{model_name="m",engine="0"} 103');
    expect(text).toContain('vllm:time_to_first_token_seconds_bucket{model_name="m",engine="0",le="0.02"} 1');
    expect(text).toContain('vllm:inter_token_latency_seconds_count{model_name="m",engine="0"} 2');
    expect(text).toContain('vllm:e2e_request_latency_seconds_sum{model_name="m",engine="0"} 0.036');
    expect(text).toContain('vllm:request_queue_time_seconds_sum{model_name="m",engine="0"} 0.001');
    // RUNNING = first scheduled -> last token; TPOT = decode time over the tokens after the first.
    expect(text).toContain('vllm:request_inference_time_seconds_sum{model_name="m",engine="0"} 0.035');
    expect(text).toContain('vllm:request_time_per_output_token_seconds_sum{model_name="m",engine="0"} 0.008');
    expect(text).toContain('vllm:request_params_n_sum{model_name="m",engine="0"} 1');
    expect(text).toContain('vllm:request_params_max_tokens_sum{model_name="m",engine="0"} 64');
    expect(text).toContain('vllm:request_max_num_generation_tokens_sum{model_name="m",engine="0"} 3');
  });

  it.each([
    // [case, summary fields, requests in the TPOT histogram, their TPOT sum (s), max_tokens observations]
    ["an aborted request", { finishReason: "abort", maxTokens: 64 }, 0, 0, 0],
    ["max_tokens not reported", { finishReason: "stop", maxTokens: 0 }, 1, 0.008, 0],
    ["one output token", { finishReason: "length", maxTokens: 1, completionTokens: 1 }, 1, 0, 1],
  ] satisfies [string, Partial<RequestSummary>, number, number, number][])(
    "finished, %s -> per-request histograms counted as vLLM does",
    async (_name, over, finished, tpotSum, maxTokensCount) => {
      const registry = new Registry();
      const obs = createEngineMetrics(
        registry,
        "m",
        { blockSize: 16, numGpuBlocks: 100, enablePrefixCaching: true },
        () => stats,
      );
      obs.onFinish!({
        id: "x",
        promptTokens: 10,
        completionTokens: 3,
        cachedTokens: 0,
        prefixHitTokens: 0,
        numPreemptions: 0,
        arrivalUs: 0,
        firstScheduledUs: 1000,
        firstTokenUs: 20_000,
        finishUs: 36_000,
        ...over,
      });
      const text = await registry.metrics();
      expect(text).toContain(
        `vllm:request_time_per_output_token_seconds_count{model_name="m",engine="0"} ${finished}`,
      );
      expect(text).toContain(
        `vllm:request_params_max_tokens_count{model_name="m",engine="0"} ${maxTokensCount}`,
      );
      expect(text).toContain(
        `vllm:request_time_per_output_token_seconds_sum{model_name="m",engine="0"} ${tpotSum}`,
      );
    },
  );

  it("maxModelLen -> token-count buckets 1, 2, 5, ... up to it (vLLM's build_1_2_5_buckets)", async () => {
    expect(oneTwoFiveBuckets(100)).toEqual([1, 2, 5, 10, 20, 50, 100]);
    expect(oneTwoFiveBuckets(131072).slice(-3)).toEqual([20000, 50000, 100000]);
    const registry = new Registry();
    createEngineMetrics(
      registry,
      "m",
      { blockSize: 16, numGpuBlocks: 100, enablePrefixCaching: true },
      () => stats,
      { maxModelLen: 4096 },
    );
    const text = await registry.metrics();
    expect(text).toContain('vllm:request_prompt_tokens_bucket{model_name="m",engine="0",le="2000"} 0');
    expect(text).not.toContain('vllm:request_prompt_tokens_bucket{model_name="m",engine="0",le="5000"}');
  });
});

describe("createEngineMetrics, KV connector series", () => {
  const offloadStats: EngineStats = {
    ...stats,
    externalPrefixCacheQueries: 800,
    externalPrefixCacheHits: 256,
    offload: {
      numCpuBlocks: 1000,
      numUsedCpuBlocks: 250,
      numReadyCpuBlocks: 240,
      cpuCacheUsage: 0.25,
      gpuToCpuBytes: 4_194_304,
      gpuToCpuTimeUs: 83_886,
      cpuToGpuBytes: 2_097_152,
      cpuToGpuTimeUs: 41_943,
      storesSkipped: 0,
    },
  };
  const cacheInfo = { blockSize: 16, numGpuBlocks: 100, enablePrefixCaching: true };

  it("no connector -> no external or offload series (as vLLM without kv_transfer_config)", async () => {
    const registry = new Registry();
    createEngineMetrics(registry, "m", cacheInfo, () => offloadStats);
    const text = await registry.metrics();
    expect(text).not.toContain("vllm:external_prefix_cache");
    expect(text).not.toContain("vllm:kv_offload");
  });

  it("native offload -> vLLM's offload series by transfer_type, external prefix cache counters", async () => {
    const registry = new Registry();
    const obs = createEngineMetrics(registry, "m", cacheInfo, () => offloadStats, {
      externalPrefixCache: true,
      offload: true,
    });
    obs.onKvTransfer!("GPU_to_CPU", 4_194_304, 83_886);
    obs.onKvTransfer!("CPU_to_GPU", 2_097_152, 41_943);
    obs.onKvTransfer!("CPU_to_GPU", 30e6, 600_000);
    const text = await registry.metrics();
    for (const line of [
      'vllm:external_prefix_cache_queries_total{model_name="m",engine="0"} 800',
      'vllm:external_prefix_cache_hits_total{model_name="m",engine="0"} 256',
      'vllm:kv_offload_total_bytes_total{model_name="m",engine="0",transfer_type="GPU_to_CPU"} 4194304',
      'vllm:kv_offload_total_bytes_total{model_name="m",engine="0",transfer_type="CPU_to_GPU"} 2097152',
      'vllm:kv_offload_total_time_total{model_name="m",engine="0",transfer_type="GPU_to_CPU"} 0.083886',
      'vllm:kv_offload_cpu_cache_usage_perc{model_name="m",engine="0"} 0.25',
      'symphony_mock_kv_cached_blocks{medium="GPU"} 40',
      'symphony_mock_kv_cached_blocks{medium="CPU"} 240',
      'vllm:kv_offload_size_bucket{model_name="m",engine="0",transfer_type="GPU_to_CPU",le="5000000"} 1',
      'vllm:kv_offload_size_bucket{model_name="m",engine="0",transfer_type="CPU_to_GPU",le="5000000"} 1',
      'vllm:kv_offload_size_bucket{model_name="m",engine="0",transfer_type="CPU_to_GPU",le="40000000"} 2',
      'vllm:kv_offload_size_count{model_name="m",engine="0",transfer_type="CPU_to_GPU"} 2',
    ])
      expect(text).toContain(line);
    expect(text.match(/# TYPE vllm:kv_offload_size histogram/g)).toHaveLength(1);
  });
});

describe("FastHistogram", () => {
  it.each([
    [0.5, ["0", "1", "1", "1"]],
    [1, ["0", "1", "1", "1"]],
    [3, ["0", "0", "1", "1"]],
    [99, ["0", "0", "0", "1"]],
  ])("observe(%d) -> cumulative buckets %j (le is inclusive)", async (value, want) => {
    const registry = new Registry();
    new FastHistogram("h", "help", [0.1, 1, 5], { a: "b" }, registry).observe(value);
    const text = await registry.metrics();
    const got = ["0.1", "1", "5", "+Inf"].map((le) => {
      const line = text.split("\n").find((l) => l.startsWith(`h_bucket{a="b",le="${le}"}`))!;
      return line.slice(line.lastIndexOf(" ") + 1);
    });
    expect(got).toEqual(want);
  });
});
