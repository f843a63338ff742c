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
  prefixCacheQueries: 500,
  prefixCacheHits: 320,
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
