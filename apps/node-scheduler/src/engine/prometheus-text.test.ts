import { describe, expect, it } from "vitest";
import { engineLoadFromMetrics } from "./prometheus-text";

describe("engineLoadFromMetrics", () => {
  it("vLLM V1 gauges over two models -> counts summed, KV usage averaged", () => {
    const text = [
      "# HELP vllm:num_requests_running Number of requests running",
      "# TYPE vllm:num_requests_running gauge",
      'vllm:num_requests_running{engine="0",model_name="a"} 3',
      'vllm:num_requests_running{engine="1",model_name="b"} 2',
      'vllm:num_requests_waiting{model_name="a"} 7 1700000000000',
      'vllm:kv_cache_usage_perc{model_name="a"} 0.5',
      'vllm:kv_cache_usage_perc{model_name="b"} 0.25',
    ].join("\n");
    expect(engineLoadFromMetrics(text)).toEqual({ running: 5, waiting: 7, kvUsage: 0.375 });
  });

  it("vllm:cache_config_info -> the engine's KV capacity in tokens (blocks x block size)", () => {
    const text =
      'vllm:cache_config_info{block_size="16",cache_dtype="auto",enable_prefix_caching="True",' +
      'gpu_memory_utilization="0.9",num_cpu_blocks="None",num_gpu_blocks="27000",num_gpu_blocks_override="None"} 1.0\n';
    expect(engineLoadFromMetrics(text).kvCacheTokens).toBe(432_000);
    expect(
      engineLoadFromMetrics('vllm:cache_config_info{block_size="16",num_gpu_blocks="None"} 1\n'),
    ).not.toHaveProperty("kvCacheTokens");
  });

  it("older vLLM (gpu_cache_usage_perc) -> used for KV usage", () => {
    expect(engineLoadFromMetrics("vllm:gpu_cache_usage_perc 0.9\n").kvUsage).toBeCloseTo(0.9);
  });

  it("no vLLM gauges -> all -1 (unknown)", () => {
    expect(engineLoadFromMetrics("process_cpu_seconds_total 12\n")).toEqual({
      running: -1,
      waiting: -1,
      kvUsage: -1,
    });
  });

  it.each([
    [
      "fractional count",
      "vllm:num_requests_running 1.5\nvllm:num_requests_waiting 2\n",
      { running: -1, waiting: 2 },
    ],
    ["negative count", "vllm:num_requests_waiting -3\n", { waiting: -1 }],
    ["count beyond int32", "vllm:num_requests_running 1e12\n", { running: -1 }],
    ["KV usage above 1", "vllm:kv_cache_usage_perc 7\n", { kvUsage: -1 }],
    ["KV usage NaN", "vllm:kv_cache_usage_perc NaN\n", { kvUsage: -1 }],
  ])("garbage gauge (%s) -> unknown (-1), the others kept", (_what, text, want) => {
    expect(engineLoadFromMetrics(text)).toMatchObject(want);
  });
});
