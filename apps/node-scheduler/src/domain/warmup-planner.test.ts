import { VirtualTimers } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { WarmupPlanner, type WarmupTiming } from "./warmup-planner";

function harness(timing: WarmupTiming = "at-hint", leadUs = 100_000, minGapUs = 0) {
  const timers = new VirtualTimers();
  const sent: { id: string; atUs: number }[] = [];
  /** Answers of the transport to the next sends (true = sent); empty = always sends. */
  const accepting: boolean[] = [];
  const planner = new WarmupPlanner({ timing, leadUs, minGapUs, blockSize: () => 16 }, timers, {
    send: (id) => {
      if (accepting.length > 0 && !accepting.shift()) return false;
      sent.push({ id, atUs: timers.nowUs() });
      return true;
    },
  });
  return { timers, sent, planner, accepting };
}

describe("WarmupPlanner", () => {
  it("at-hint -> sent at once; turn finds the warmed blocks cached -> useful", () => {
    const h = harness();
    expect(h.planner.onHint("s", 5_000_000, true)).toBe(true);
    expect(h.sent).toEqual([{ id: "s", atUs: 0 }]);
    h.planner.onWarmupDone("s", 100); // 6 full blocks = 96 tokens
    h.planner.onTurnArrived("s");
    h.planner.onTurnFinished("s", 96);
    expect(h.planner.stats).toMatchObject({ sent: 1, useful: 1, overtaken: 0 });
    expect(h.planner.size).toBe(0);
  });

  it("turn finds fewer tokens cached than the warmed full blocks -> wasted not_cached", () => {
    const h = harness();
    h.planner.onHint("s", 5_000_000, true);
    h.planner.onWarmupDone("s", 100);
    h.planner.onTurnArrived("s");
    h.planner.onTurnFinished("s", 80);
    expect(h.planner.stats.useful).toBe(0);
    expect(h.planner.stats.wasted.not_cached).toBe(1);
  });

  it("just-in-time -> sent lead before the expected arrival; a turn before that cancels it", () => {
    const h = harness("just-in-time", 100_000);
    h.planner.onHint("a", 1_000_000, true);
    h.planner.onHint("b", 1_000_000, true);
    h.timers.runUntil(500_000);
    h.planner.onTurnArrived("a");
    h.timers.runAll();
    expect(h.sent).toEqual([{ id: "b", atUs: 900_000 }]);
    expect(h.planner.stats).toMatchObject({ planned: 2, cancelled: 1, sent: 1 });
  });

  it("turn arrives while its warm-up runs -> overtaken, then scored by the turn's outcome", () => {
    const h = harness();
    h.planner.onHint("s", 1_000, true);
    h.planner.onTurnArrived("s");
    h.planner.onWarmupDone("s", 64);
    h.planner.onTurnFinished("s", 64);
    expect(h.planner.stats).toMatchObject({ sent: 1, overtaken: 1, useful: 1 });
  });

  it("a second hint for the same pause -> no second warm-up", () => {
    const h = harness();
    expect(h.planner.onHint("s", 1_000_000, true)).toBe(true);
    expect(h.planner.onHint("s", 2_000_000, true)).toBe(false);
    h.planner.onWarmupDone("s", 32);
    expect(h.planner.onHint("s", 2_000_000, true)).toBe(false);
    expect(h.sent).toHaveLength(1);
  });

  it("a new hint replaces a planned just-in-time warm-up's time", () => {
    const h = harness("just-in-time", 0);
    h.planner.onHint("s", 1_000_000, true);
    h.planner.onHint("s", 3_000_000, true);
    h.timers.runAll();
    expect(h.sent).toEqual([{ id: "s", atUs: 3_000_000 }]);
    expect(h.planner.stats.planned).toBe(1);
  });

  it("session due back within the minimum gap -> no warm-up (its context is still cached)", () => {
    const h = harness("at-hint", 0, 1_000_000);
    expect(h.planner.onHint("soon", 500_000, true)).toBe(false);
    expect(h.planner.onHint("later", 2_000_000, true)).toBe(true);
    expect(h.sent.map((s) => s.id)).toEqual(["later"]);
    expect(h.planner.stats).toMatchObject({ skipped: 1, planned: 1 });
  });

  it("transport at capacity declines a send -> skipped, not sent; a failed turn scores its warm-up wasted", () => {
    const h = harness();
    h.accepting.push(false);
    h.planner.onHint("a", 5_000_000, true);
    expect(h.planner.stats).toMatchObject({ sent: 0, skipped: 1 });
    expect(h.planner.size).toBe(0);
    h.planner.onHint("b", 5_000_000, true);
    h.planner.onWarmupDone("b", 32);
    h.planner.onTurnArrived("b");
    h.planner.onTurnFailed("b");
    expect(h.planner.stats.wasted.turn_failed).toBe(1);
  });

  it("no known context -> nothing planned", () => {
    const h = harness();
    expect(h.planner.onHint("s", 1_000_000, false)).toBe(false);
    expect(h.sent).toHaveLength(0);
  });

  it("failure and session close -> wasted by reason; late results ignored", () => {
    const h = harness();
    h.planner.onHint("f", 1_000_000, true);
    h.planner.onWarmupFailed("f");
    h.planner.onHint("c", 1_000_000, true);
    h.planner.onSessionClosed("c");
    h.planner.onWarmupDone("c", 64);
    h.planner.onTurnFinished("c", 64);
    expect(h.planner.stats.wasted).toEqual({ not_cached: 0, failed: 1, session_closed: 1, turn_failed: 0 });
    expect(h.planner.stats.useful).toBe(0);
    expect(h.planner.size).toBe(0);
  });

  it("every sent warm-up ends once: sent = useful + wasted when no turn is pending", () => {
    const h = harness();
    for (let i = 0; i < 30; i++) {
      const id = `s${i}`;
      h.planner.onHint(id, 1_000_000, true);
      if (i % 5 === 0) h.planner.onWarmupFailed(id);
      else {
        h.planner.onWarmupDone(id, 48);
        if (i % 7 === 0) h.planner.onSessionClosed(id);
        else {
          h.planner.onTurnArrived(id);
          h.planner.onTurnFinished(id, i % 2 === 0 ? 48 : 0);
        }
      }
    }
    const { sent, useful, wasted } = h.planner.stats;
    expect(useful + Object.values(wasted).reduce((a, b) => a + b, 0)).toBe(sent);
    expect(h.planner.size).toBe(0);
  });
});
