import { describe, expect, it } from "vitest";
import { serverCharts, sessionCharts } from "./run-panels";
import type { RunSummary } from "./summary";

describe("sessionCharts", () => {
  it("by_turn_index and sessions with known KV tiers and hint lead times -> four charts, turn groups in order", () => {
    const summary = {
      by_turn_index: {
        "10+": { ttft_ms: { p50: 5, p90: 9 }, cached_token_fraction: 0.9 },
        "0": { ttft_ms: { p50: 50, p90: 90 }, cached_token_fraction: 0 },
      },
      sessions: {
        kv_tier_by_turn: { "0": { none: 4 }, "1": { gpu: 3, cpu: 1 } },
        hint_lead_ms: { count: 4 },
        hint_lead_by_turn: { "1": { p50: 1000, p90: 1500 } },
      },
    } as unknown as RunSummary;
    const charts = sessionCharts(summary);
    expect(charts.map((c) => c.id)).toEqual(["turn-ttft", "turn-cached", "turn-kv-tier", "turn-hint-lead"]);
    expect(charts[0]!.data).toEqual([
      [0, 10],
      [50, 5],
      [90, 9],
    ]);
    expect(charts[2]!.series).toEqual(["cpu", "gpu", "none"]);
    expect(charts[2]!.data).toEqual([
      [0, 1],
      [0, 0.25],
      [0, 0.75],
      [1, 0],
    ]);
  });

  it("an HTTP run (tiers unknown, no hints) -> only the by-turn TTFT and cached-share charts", () => {
    const summary = {
      by_turn_index: { "0": { ttft_ms: { p50: 1, p90: 2 }, cached_token_fraction: 0 } },
      sessions: {
        kv_tier_by_turn: { "0": { unknown: 3 } },
        hint_lead_ms: { count: 0 },
        hint_lead_by_turn: {},
      },
    } as unknown as RunSummary;
    expect(sessionCharts(summary).map((c) => c.id)).toEqual(["turn-ttft", "turn-cached"]);
  });
});

describe("serverCharts", () => {
  it("two engines scraped at their own instants -> one time axis, nulls where an engine was not scraped, hit rate per interval", () => {
    const e1 = "http://127.0.0.1:1/metrics";
    const e2 = "http://127.0.0.1:2/metrics";
    const m = (usage: number, hits: number, queries: number) => ({
      "vllm:kv_cache_usage_perc": usage,
      "vllm:prefix_cache_hits_total": hits,
      "vllm:prefix_cache_queries_total": queries,
      "vllm:num_requests_running": 1,
      "vllm:num_requests_waiting": 0,
    });
    const charts = serverCharts([
      { t_ms: -10, endpoint: e1, metrics: m(0, 0, 0) },
      { t_ms: 500, endpoint: e2, metrics: m(0.5, 10, 100) },
      { t_ms: 1000, endpoint: e1, metrics: m(0.25, 30, 40) },
      { t_ms: 1200, endpoint: "http://node:3/metrics", metrics: { symphony_node_queue_depth: 2 } },
      { t_ms: 1500, endpoint: e2, error: "HTTP 500", metrics: {} },
    ]);
    expect(charts.map((c) => c.id)).toEqual(["server-kv-usage", "server-queue", "server-prefix-hits"]);
    expect(charts[0]!.series).toEqual(["127.0.0.1:1", "127.0.0.1:2"]);
    expect(charts[0]!.data).toEqual([
      [-0.01, 0.5, 1],
      [0, null, 25],
      [null, 50, null],
    ]);
    expect(charts[2]!.data[1]).toEqual([null, null, 0.75]);
  });

  it("no engine among the scrapes -> no chart", () => {
    expect(serverCharts([{ t_ms: 1, endpoint: "n", metrics: { symphony_node_running: 1 } }])).toEqual([]);
  });
});
