import { describe, expect, it } from "vitest";
import {
  parsePrometheusText,
  summarizeServerMetrics,
  warmCacheReason,
  type ServerMetricsSample,
} from "./server-metrics";

const VLLM_TEXT = [
  "# HELP vllm:num_requests_running Number of requests in model execution batches.",
  "# TYPE vllm:num_requests_running gauge",
  'vllm:num_requests_running{model_name="m",engine="0"} 3',
  'vllm:num_requests_running{model_name="m",engine="1"} 2',
  "# TYPE vllm:kv_cache_usage_perc gauge",
  'vllm:kv_cache_usage_perc{model_name="m",engine="0"} 0.25',
  'vllm:kv_cache_usage_perc{model_name="m",engine="1"} 0.75',
  "# TYPE vllm:prefix_cache_hits counter",
  'vllm:prefix_cache_hits_total{model_name="m",engine="0"} 320',
  'vllm:prefix_cache_hits_created{model_name="m",engine="0"} 1.7e9',
  "# TYPE vllm:time_to_first_token_seconds histogram",
  'vllm:time_to_first_token_seconds_bucket{le="+Inf",model_name="m"} 9',
  'vllm:time_to_first_token_seconds_sum{model_name="m"} 1.5',
  'vllm:time_to_first_token_seconds_count{model_name="m"} 9',
  "# TYPE vllm:engine_info gauge",
  'vllm:engine_info{version="a b}{c",x="q\\"uote"} 1',
  "# TYPE process_cpu_seconds_total counter",
  "process_cpu_seconds_total 12",
  "symphony_node_queue_depth 4",
  "garbage line",
  "",
].join("\n");

describe("parsePrometheusText", () => {
  it("vLLM exposition -> counters and gauges by name, summed over engines, usage averaged; histograms and other prefixes left out", () => {
    expect(parsePrometheusText(VLLM_TEXT)).toEqual({
      "vllm:num_requests_running": 5,
      "vllm:kv_cache_usage_perc": 0.5,
      "vllm:prefix_cache_hits_total": 320,
      "vllm:engine_info": 1,
      symphony_node_queue_depth: 4,
    });
  });

  it("+Inf, NaN, a timestamp after the value -> read as Prometheus writes them", () => {
    expect(parsePrometheusText("vllm:a +Inf\nvllm:b NaN\nvllm:c 7 1700000000000\nvllm:d x\n")).toEqual({
      "vllm:a": Infinity,
      "vllm:b": NaN,
      "vllm:c": 7,
    });
  });
});

const sample = (
  t: number,
  metrics: Record<string, number>,
  endpoint = "http://e:1/metrics",
): ServerMetricsSample => ({
  t_ms: t,
  endpoint,
  metrics,
});

describe("summarizeServerMetrics", () => {
  it("baseline before the start, scrapes during the run -> the run's hit rate from counter deltas, means and maxima", () => {
    const samples = [
      sample(-5, {
        "vllm:prefix_cache_hits_total": 100,
        "vllm:prefix_cache_queries_total": 1000,
        "vllm:kv_cache_usage_perc": 0.9,
      }),
      sample(1000, {
        "vllm:prefix_cache_hits_total": 150,
        "vllm:prefix_cache_queries_total": 1100,
        "vllm:kv_cache_usage_perc": 0.2,
        "vllm:num_requests_running": 2,
      }),
      sample(2000, {
        "vllm:prefix_cache_hits_total": 400,
        "vllm:prefix_cache_queries_total": 1500,
        "vllm:kv_cache_usage_perc": 0.4,
        "vllm:num_requests_running": 4,
      }),
      { t_ms: 2500, endpoint: "http://e:1/metrics", error: "HTTP 500", metrics: {} },
      sample(1000, { symphony_node_queue_depth: 1 }, "http://n:2/metrics"),
    ];
    const [engine, node] = summarizeServerMetrics(samples);
    expect(engine).toMatchObject({
      endpoint: "http://e:1/metrics",
      samples: 4,
      failed_scrapes: 1,
      engine: true,
      prefix_cache_queries: 500,
      prefix_cache_hit_rate: 0.6,
      num_requests_running: { mean: 3, max: 4 },
    });
    expect(engine!.kv_cache_usage_perc!.mean).toBeCloseTo(0.3);
    expect(engine!.kv_cache_usage_perc!.max).toBeCloseTo(0.4);
    expect(node).toEqual({ endpoint: "http://n:2/metrics", samples: 1, failed_scrapes: 0, engine: false });
  });
});

describe("warmCacheReason", () => {
  it.each([
    [
      "a fresh engine",
      { "vllm:prefix_cache_hits_total": 0, "vllm:kv_cache_usage_perc": 0 },
      false,
      undefined,
    ],
    [
      "earlier prefix hits",
      { "vllm:prefix_cache_hits_total": 320 },
      false,
      "prefix cache already hit 320 tokens before this run",
    ],
    ["earlier hits, cache reset just before", { "vllm:prefix_cache_hits_total": 320 }, true, undefined],
    [
      "KV blocks in use (someone else's load)",
      { "vllm:kv_cache_usage_perc": 0.125, "vllm:num_requests_running": 2 },
      true,
      "KV cache 12.5% in use (vllm:kv_cache_usage_perc), 2 requests running",
    ],
    ["deprecated gpu_ names", { "vllm:gpu_prefix_cache_hits_total": 5 }, false, "already hit 5 tokens"],
    ["not an engine", { symphony_node_queue_depth: 3 }, false, undefined],
  ])("%s -> %s", (_, metrics, reset, want) => {
    const got = warmCacheReason(metrics, reset);
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got).toContain(want);
  });
});
