import { describe, expect, it } from "vitest";
import type { RequestRecord } from "./record";
import { SessionPanelAccumulator } from "./session-panels";

const rec = (
  session: string,
  turn: number,
  sentMs: number,
  endMs: number,
  tier = "",
  extra: Partial<RequestRecord> = {},
) =>
  ({
    session_id: session,
    turn_index: turn,
    sent_ms: sentMs,
    end_ms: endMs,
    kv_tier: tier,
    ...extra,
  }) as RequestRecord;

describe("SessionPanelAccumulator", () => {
  it("two sessions' turns in finishing order -> KV tier counts per turn, hint lead = next send - previous end", () => {
    const acc = new SessionPanelAccumulator(true);
    for (const r of [
      rec("a", 0, 0, 100, "none"),
      rec("b", 0, 10, 120, "none"),
      rec("a", 1, 400, 500, "gpu"),
      rec("b", 1, 1120, 1200, "cpu"),
      rec("a", 2, 800, 900, "gpu"),
      rec("a", 3, 1000, 1100, "gpu", { subagent_wait_ms: 50 }), // a join: not hinted
    ])
      acc.add(r);
    const p = acc.result();
    expect(p.kv_tier_by_turn).toEqual({
      "0": { none: 2 },
      "1": { cpu: 1, gpu: 1 },
      "2": { gpu: 1 },
      "3": { gpu: 1 },
    });
    expect(p.hint_lead_ms).toMatchObject({ count: 3, min: 300, max: 1000 });
    expect(p.hint_lead_by_turn["1"]).toMatchObject({ count: 2, p50: 650 });
    expect(p.hint_lead_by_turn["3"]).toBeUndefined();
  });

  it("no hints delivered (HTTP target, --no-hints) -> no lead times; an HTTP record's empty tier -> unknown", () => {
    const acc = new SessionPanelAccumulator(false);
    acc.add(rec("a", 0, 0, 1));
    acc.add(rec("a", 1, 5, 6));
    expect(acc.result()).toMatchObject({
      kv_tier_by_turn: { "0": { unknown: 1 }, "1": { unknown: 1 } },
      hint_lead_ms: { count: 0 },
    });
  });
});
