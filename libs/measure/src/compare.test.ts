import { rngFor } from "@symphony/common";
import type { RequestRecord } from "./record";
import { describe, expect, it } from "vitest";
import { compareRuns, type ComparedRun } from "./compare";
import { requestRecord } from "./testing";

const rec = (ttft: number, turn: number): RequestRecord =>
  requestRecord({
    turn_index: turn,
    node_id: "",
    kv_tier: "",
    first_token_ms: ttft,
    end_ms: ttft + 50,
    ttft_ms: ttft,
    e2el_ms: ttft + 50,
    tpot_ms: 5,
    itl_ms: [5, 5],
    prompt_tokens: 10,
    completion_tokens: 11,
    cached_tokens: 0,
    token_count: 11,
    queue_time_ms: null,
  });

function run(label: string, shiftMs: number, rps: number): ComparedRun {
  const rng = rngFor(shiftMs, "data");
  const records = Array.from({ length: 300 }, (_, i) => rec(100 + shiftMs + rng.next() * 20, i % 3));
  return {
    label,
    records,
    summary: {
      completed: 300,
      failed: 0,
      request_throughput: rps,
      ttft_ms: { mean: 110 + shiftMs, p50: 110 + shiftMs, p90: 118 + shiftMs, p99: 119 + shiftMs },
      by_turn_index: {
        "1": { completed: 100, ttft_ms: { p50: 60, mean: 61 }, cached_token_fraction: 0.5 },
        "0": { completed: 100, ttft_ms: { p50: 120, mean: 121 }, cached_token_fraction: 0 },
      },
    },
  };
}

describe("compareRuns", () => {
  it("a run 30 ms slower to first token than the baseline -> deltas against the baseline, TTFT test significant, E2EL interval around +30", () => {
    const c = compareRuns([run("base", 0, 10), run("slow", 30, 8)], 1);
    expect(c.labels).toEqual(["base", "slow"]);
    const byKey = Object.fromEntries(c.rows.map((r) => [r.key, r]));
    expect(byKey.request_throughput).toMatchObject({
      values: [10, 8],
      deltas: [null, -2],
      relative: [null, -0.2],
    });
    expect(byKey["ttft_ms.p50"]!.deltas).toEqual([null, 30]);
    const test = byKey["ttft_ms.p50"]!.tests![1]!;
    expect(test.p).toBeLessThan(1e-6);
    expect(test.pGreater).toBe(1); // every slow TTFT exceeds every baseline TTFT
    const e2el = byKey["e2el_ms.p50"]!.tests![1]!.medianDiff;
    expect(e2el.low).toBeGreaterThan(25);
    expect(e2el.high).toBeLessThan(35);
    // Identical per-token gaps: no difference to find.
    expect(byKey["itl_ms.p50"]!.tests![1]!.p).toBeNaN();
    expect(c.byTurn[0]!.map((t) => [t.turn, t.ttft_p50, t.cached_token_fraction])).toEqual([
      ["0", 120, 0],
      ["1", 60, 0.5],
    ]);
  });

  it("the same inputs and seed -> the same comparison", () => {
    const runs = [run("a", 0, 1), run("b", 3, 1)];
    expect(compareRuns(runs, 5)).toEqual(compareRuns(runs, 5));
  });
});
