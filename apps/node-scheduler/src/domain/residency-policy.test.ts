import { describe, expect, it } from "vitest";
import { HintAwarePolicy, LruPolicy, type ResidencyPolicy } from "./residency-policy";
import type { SessionState } from "./session-table";

function session(id: string, lastUsedUs: number, expectedArrivalUs?: number): SessionState {
  return {
    id,
    tier: "gpu",
    kvTokens: 100,
    lastUsedUs,
    active: 0,
    queued: 0,
    closing: false,
    hint:
      expectedArrivalUs === undefined
        ? undefined
        : { expectedArrivalUs, expectedPromptTokens: 0, nextTurnIndex: 1 },
  };
}

function demotionOrder(policy: ResidencyPolicy, sessions: SessionState[], nowUs: number): string[] {
  return [...sessions].sort((a, b) => policy.compare(a, b, nowUs)).map((s) => s.id);
}

describe("LruPolicy", () => {
  it("sessions used at different times -> least recently used demoted first, hints ignored", () => {
    const sessions = [session("recent", 300, 1_000), session("oldest", 100), session("middle", 200, 10)];
    expect(demotionOrder(new LruPolicy(), sessions, 400)).toEqual(["oldest", "middle", "recent"]);
    expect(new LruPolicy().prefetchOnHint).toBe(false);
  });
});

describe("HintAwarePolicy", () => {
  const policy = new HintAwarePolicy(1_000);

  it("hinted sessions -> the one expected furthest in the future demoted first", () => {
    const sessions = [session("soon", 0, 5_000), session("far", 0, 50_000), session("mid", 0, 20_000)];
    expect(demotionOrder(policy, sessions, 0)).toEqual(["far", "mid", "soon"]);
  });

  it("unhinted sessions -> demoted before any hinted one, LRU among themselves", () => {
    const sessions = [session("hinted-far", 0, 1e9), session("nohint-new", 900), session("nohint-old", 100)];
    expect(demotionOrder(policy, sessions, 1_000)).toEqual(["nohint-old", "nohint-new", "hinted-far"]);
  });

  it("hint older than its stale window -> treated as unhinted", () => {
    const stale = session("stale", 50, 1_000); // expected at 1000 µs, stale after 2000 µs
    const fresh = session("fresh", 10, 100_000);
    expect(demotionOrder(policy, [fresh, stale], 1_500)).toEqual(["fresh", "stale"]);
    expect(demotionOrder(policy, [fresh, stale], 2_500)).toEqual(["stale", "fresh"]);
    expect(policy.prefetchOnHint).toBe(true);
  });
});
