import { describe, expect, it } from "vitest";
import { capacityOf, figuresOf, NO_KV_MOVEMENT, type PointResult, type RecordLine } from "./point-metrics";

const rec = (over: Partial<RecordLine>): RecordLine => ({
  session_id: "s1",
  turn_index: 0,
  kv_tier: "new",
  sent_ms: 0,
  end_ms: 100,
  ttft_ms: 10,
  e2el_ms: 100,
  prompt_tokens: 100,
  completion_tokens: 50,
  cached_tokens: 0,
  error: null,
  ...over,
});

const point = (config: string, sessions: number, ttftP99: number): PointResult => ({
  mode: "sim",
  config,
  sessions,
  wall_s: 1,
  completed: 10,
  failed: 0,
  request_throughput: 1,
  output_token_throughput: 1,
  ttft_mean_ms: ttftP99 / 2,
  ttft_p50_ms: ttftP99 / 2,
  ttft_p99_ms: ttftP99,
  e2el_mean_ms: 1,
  e2el_p99_ms: 1,
  prefix_cache_hit_rate: 0,
  gpu_hit_rate: 0,
  recomputed_tokens: 0,
  ...NO_KV_MOVEMENT,
});

describe("figuresOf", () => {
  it("requests sent before the warm-up -> left out of latency and throughput", () => {
    const f = figuresOf(
      [rec({ sent_ms: 500, ttft_ms: 9999 }), rec({ sent_ms: 1500, ttft_ms: 20 })],
      1000,
      3000,
    );
    expect(f.completed).toBe(1);
    expect(f.ttft_p99_ms).toBe(20);
    expect(f.request_throughput).toBeCloseTo(1 / 2, 9);
  });

  it("returning turn with partial cache -> recomputed = previous context - cached", () => {
    const f = figuresOf(
      [
        rec({ sent_ms: 0, turn_index: 0, prompt_tokens: 100, completion_tokens: 50 }),
        rec({ sent_ms: 2000, turn_index: 1, prompt_tokens: 200, cached_tokens: 120, kv_tier: "cpu" }),
      ],
      1000,
      3000,
    );
    // The first turn is in the warm-up but still tells what the second had already computed.
    expect(f.recomputed_tokens).toBe(150 - 120);
    expect(f.prefix_cache_hit_rate).toBeCloseTo(120 / 200, 9);
    expect(f.gpu_hit_rate).toBe(0);
  });

  it("kv_tier gpu on returning turns only -> counted as GPU hits; first turns not counted", () => {
    const f = figuresOf(
      [
        rec({ session_id: "a", turn_index: 0, kv_tier: "new" }),
        rec({ session_id: "a", turn_index: 1, sent_ms: 1, kv_tier: "gpu" }),
        rec({ session_id: "b", turn_index: 1, sent_ms: 2, kv_tier: "evicted" }),
      ],
      0,
      1000,
    );
    expect(f.gpu_hit_rate).toBe(0.5);
  });

  it("failed requests -> counted as failed, not in latency", () => {
    const f = figuresOf(
      [rec({ error: "UNAVAILABLE", ttft_ms: null }), rec({ sent_ms: 1, ttft_ms: 7 })],
      0,
      1000,
    );
    expect(f.failed).toBe(1);
    expect(f.completed).toBe(1);
    expect(f.ttft_mean_ms).toBe(7);
  });
});

describe("capacityOf", () => {
  it("passing points up to the first failure -> the last passing count", () => {
    const pts = [point("a", 10, 100), point("a", 20, 200), point("a", 30, 900), point("b", 40, 10)];
    expect(capacityOf("a", pts, 500).max_sessions).toBe(20);
  });

  it("a pass after a failure (noise) -> does not raise capacity", () => {
    const pts = [point("a", 10, 100), point("a", 20, 900), point("a", 30, 100)];
    expect(capacityOf("a", pts, 500).max_sessions).toBe(10);
  });

  it("every point passes -> capacity is the highest count, marked as a lower bound", () => {
    const c = capacityOf("a", [point("a", 10, 100), point("a", 20, 200)], 500);
    expect(c.max_sessions).toBe(20);
    expect(c.lower_bound).toBe(true);
    expect(capacityOf("a", [point("a", 10, 100), point("a", 20, 900)], 500).lower_bound).toBe(false);
  });

  it("no point meets the SLO -> capacity 0, no point", () => {
    const c = capacityOf("a", [point("a", 10, 900)], 500);
    expect(c.max_sessions).toBe(0);
    expect(c.at_max).toBeUndefined();
  });
});
