import { UsageError } from "@symphony/common";
import { describe, expect, it } from "vitest";
import type { SessionPlan } from "./domain";
import { boundedSource, MAX_DRY_RUN_SESSIONS } from "./dry-run";

const plan = (i: number): SessionPlan =>
  ({ sessionId: `s${i}`, clientId: "c", profile: "p", turns: [] }) as unknown as SessionPlan;

describe("boundedSource", () => {
  it("an endless source -> its first max sessions, then a UsageError saying how to fix the plan", () => {
    let i = 0;
    const s = boundedSource({ next: () => plan(i++) }, 3);
    expect([s.next(), s.next(), s.next()].map((p) => p?.sessionId)).toEqual(["s0", "s1", "s2"]);
    expect(() => s.next()).toThrow(UsageError);
    expect(() => s.next()).toThrow(
      "--dry-run: the plan has more than 3 sessions; shorten workload.total_duration or lower the arrival rate",
    );
  });

  it("a source that ends before the cap -> unchanged", () => {
    const items = [plan(0), plan(1)];
    const s = boundedSource({ next: () => items.shift() }, 2);
    expect([s.next()?.sessionId, s.next()?.sessionId, s.next()]).toEqual(["s0", "s1", undefined]);
    expect(MAX_DRY_RUN_SESSIONS).toBeGreaterThan(360_000); // a 1-hour, 100 sessions/s plan fits
  });
});
