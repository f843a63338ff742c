import { describe, expect, it } from "vitest";
import type { ReturningTurns } from "../domain/returning-turns";
import { liveMarkdown, type LiveComparison } from "./live";
import type { Regime, RegimePoint } from "./sim-point";

const point = (ttftP50: number): RegimePoint => ({
  config: "round-robin",
  sessions: 8,
  seed: 1,
  completed: 100,
  failed: 0,
  request_throughput: 1,
  output_token_throughput: 1,
  ttft_mean_ms: ttftP50,
  ttft_p50_ms: ttftP50,
  ttft_p99_ms: ttftP50,
  e2el_mean_ms: 6000,
  e2el_p99_ms: 9000,
  prefix_cache_hit_rate: 0.5,
  gpu_hit_rate: 0.5,
  recomputed_tokens: 0,
  normalized_latency_ms: 20,
  warmups_sent: 0,
  warmups_useful: 0,
  warmups_wasted: 0,
  cpu_to_gpu_bytes: 0,
  wall_s: 1,
});
const turns = (tierGpu: number, cached: number): ReturningTurns => ({
  returning: 90,
  tier_gpu: tierGpu,
  context_cached: cached,
  same_node_as_previous: cached,
  node_saw_session: tierGpu,
  queue_mean_ms: 1,
  ttft_after_queue_mean_ms: 50,
});

describe("liveMarkdown", () => {
  it("compares what the engine served, not the two sides' different kv_tier, and gives TTFT's excess in wall ms", () => {
    const row: LiveComparison = {
      config: "round-robin",
      live: point(340),
      sim: point(40),
      liveTurns: turns(0.77, 0.47),
      simTurns: turns(0.45, 0.45),
    };
    const md = liveMarkdown(
      { profile: "p", gpus: 2, thinkTime: "chat-gaps", warmupS: 50 } as Regime,
      {
        sessionsPerGpu: 4,
        durationS: 300,
        timeScale: 10,
      },
      [row],
    );
    // first table: context cached 0.47 live, 0.45 sim, ratio 1.04; TTFT p50 ratio 8.50
    expect(md).toContain("| round-robin | live | 100 | 0 | 340 | 340 | 340 | 6000 | 0.47 |");
    expect(md).toContain("| round-robin | live/sim | 1.00 | | 8.50 | 8.50 | 8.50 | 1.00 | 1.04 |");
    // breakdown: the live kv_tier beside what the engine served; (340 − 40) / 10 = 30 wall ms
    expect(md).toContain("| round-robin | live | 90 | 0.77 | 0.47 | 0.47 | 0.77 | 1 | 50 | 30.0 |");
  });
});
