import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { EngineStats } from "./domain";
import { createEngineMetrics, FastHistogram } from "./metrics";

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
  it("scrape -> vLLM metric names labelled model_name, values read from engine stats", async () => {
    const registry = new Registry();
    createEngineMetrics(
      registry,
      "m",
      { blockSize: 16, numGpuBlocks: 100, enablePrefixCaching: true },
      () => stats,
    );
    const text = await registry.metrics();
    for (const line of [
      'vllm:num_requests_running{model_name="m"} 3',
      'vllm:num_requests_waiting{model_name="m"} 2',
      'vllm:kv_cache_usage_perc{model_name="m"} 0.25',
      'vllm:gpu_cache_usage_perc{model_name="m"} 0.25',
      'vllm:prefix_cache_queries_total{model_name="m"} 500',
      'vllm:prefix_cache_hits_total{model_name="m"} 320',
      'vllm:num_preemptions_total{model_name="m"} 4',
      'vllm:prompt_tokens_total{model_name="m"} 900',
      'vllm:generation_tokens_total{model_name="m"} 1200',
      'vllm:request_success_total{model_name="m",finished_reason="length"} 6',
    ])
      expect(text).toContain(line);
    for (const name of [
      "vllm:time_to_first_token_seconds",
      "vllm:inter_token_latency_seconds",
      "vllm:e2e_request_latency_seconds",
      "vllm:request_queue_time_seconds",
    ])
      expect(text).toContain(`# TYPE ${name} histogram`);
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
      numPreemptions: 0,
      arrivalUs: 0,
      firstScheduledUs: 1000,
      firstTokenUs: 20_000,
      finishUs: 36_000,
    });
    const text = await registry.metrics();
    expect(text).toContain('vllm:time_to_first_token_seconds_count{model_name="m"} 1');
    expect(text).toContain('vllm:iteration_tokens_total_sum{model_name="m"} 103');
    expect(text).toContain('vllm:time_to_first_token_seconds_bucket{model_name="m",le="0.02"} 1');
    expect(text).toContain('vllm:inter_token_latency_seconds_count{model_name="m"} 2');
    expect(text).toContain('vllm:e2e_request_latency_seconds_sum{model_name="m"} 0.036');
    expect(text).toContain('vllm:request_queue_time_seconds_sum{model_name="m"} 0.001');
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
      'vllm:external_prefix_cache_queries_total{model_name="m"} 800',
      'vllm:external_prefix_cache_hits_total{model_name="m"} 256',
      'vllm:kv_offload_total_bytes_total{model_name="m",transfer_type="GPU_to_CPU"} 4194304',
      'vllm:kv_offload_total_bytes_total{model_name="m",transfer_type="CPU_to_GPU"} 2097152',
      'vllm:kv_offload_total_time_total{model_name="m",transfer_type="GPU_to_CPU"} 0.083886',
      'vllm:kv_offload_cpu_cache_usage_perc{model_name="m"} 0.25',
      'symphony_mock_kv_cached_blocks{medium="GPU"} 40',
      'symphony_mock_kv_cached_blocks{medium="CPU"} 240',
      'vllm:kv_offload_size_bucket{model_name="m",transfer_type="GPU_to_CPU",le="5000000"} 1',
      'vllm:kv_offload_size_bucket{model_name="m",transfer_type="CPU_to_GPU",le="5000000"} 1',
      'vllm:kv_offload_size_bucket{model_name="m",transfer_type="CPU_to_GPU",le="40000000"} 2',
      'vllm:kv_offload_size_count{model_name="m",transfer_type="CPU_to_GPU"} 2',
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
