import { describe, expect, it } from "vitest";
import { returningTurns, type NodeRecordLine } from "./returning-turns";

const rec = (
  session: string,
  turn: number,
  sentMs: number,
  node: string,
  over: Partial<NodeRecordLine> = {},
): NodeRecordLine => ({
  session_id: session,
  turn_index: turn,
  kv_tier: turn === 0 ? "new" : "gpu",
  sent_ms: sentMs,
  end_ms: sentMs + 100,
  ttft_ms: 30,
  e2el_ms: 100,
  prompt_tokens: 40,
  completion_tokens: 25,
  cached_tokens: 0,
  error: null,
  node_id: node,
  queue_time_ms: 10,
  ...over,
});

describe("returningTurns", () => {
  it("separates the server's tier from what the engine served and from where the turns ran", () => {
    const records = [
      rec("a", 0, 0, "n0"),
      rec("b", 0, 1, "n1"),
      // a's context: 65 tokens, 64 computed = 4 full blocks; a went back to n0 and found them
      rec("a", 1, 10, "n0", { cached_tokens: 64, prompt_tokens: 100 }),
      // b moved to n0: the node never saw b, yet the tier says "gpu"; 48 < 64 cached
      rec("b", 1, 11, "n0", { cached_tokens: 48, prompt_tokens: 100 }),
      // a on n1 (never there), previous on n0: no cache; tier evicted
      rec("a", 2, 20, "n1", { kv_tier: "evicted", cached_tokens: 0, queue_time_ms: 50, ttft_ms: 80 }),
      // b back on n1, where its first turn ran but not its previous one
      rec("b", 2, 21, "n1", { cached_tokens: 0 }),
    ];
    const r = returningTurns(records, 5, 100, 16);
    expect(r.returning).toBe(4);
    expect(r.tier_gpu).toBe(3 / 4);
    expect(r.context_cached).toBe(1 / 4);
    expect(r.same_node_as_previous).toBe(1 / 4);
    expect(r.node_saw_session).toBe(2 / 4);
    expect(r.queue_mean_ms).toBe((10 + 10 + 50 + 10) / 4);
    expect(r.ttft_after_queue_mean_ms).toBe((20 + 20 + 30 + 20) / 4);
  });

  it("leaves out failed turns and turns sent outside the window; a failed turn is no one's previous", () => {
    const records = [
      rec("a", 0, 0, "n0"),
      rec("a", 1, 10, "n0", { error: "UNAVAILABLE: x" }),
      rec("a", 2, 20, "n0", { cached_tokens: 64 }),
      rec("a", 3, 200, "n0", { cached_tokens: 64 }),
    ];
    const r = returningTurns(records, 5, 100, 16);
    expect(r.returning).toBe(1);
    // its previous completed turn is turn 0, not turn 1: no context judgement, but the node knew it
    expect(r.context_cached).toBe(0);
    expect(r.node_saw_session).toBe(1);
  });

  it("no returning turns -> NaN shares", () => {
    expect(returningTurns([rec("a", 0, 10, "n0")], 0, 100, 16).tier_gpu).toBeNaN();
  });
});
