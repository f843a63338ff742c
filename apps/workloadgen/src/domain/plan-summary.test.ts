import { describe, expect, it } from "vitest";
import { arraySource, type SessionPlan } from "./plan";
import { planLine, summarizePlan } from "./plan-summary";

const closed: SessionPlan = {
  sessionId: "s1",
  clientId: "c",
  profile: "dataset",
  priority: "normal",
  stream: true,
  ignoreEos: false,
  mode: "chat",
  speeds: { readCharsPerSec: 25, typeCharsPerSec: 6 },
  turns: [
    {
      turnIndex: 0,
      text: "x".repeat(12),
      promptTokens: 3,
      maxOutputTokens: 9,
      expectedResponse: "y".repeat(50),
    },
    { turnIndex: 1, text: "x".repeat(6), promptTokens: 2, maxOutputTokens: 9, expectedResponse: "z" },
  ],
};

describe("planLine", () => {
  it("closed-loop turns -> think estimate from the dataset reply and the prompt", () => {
    const line = JSON.parse(planLine(closed));
    expect(line.turns.map((t: { think_ms_estimate: number }) => t.think_ms_estimate)).toEqual([2000, 3000]);
    expect(line.start_ms).toBeNull();
  });
});

describe("summarizePlan", () => {
  const open = (n: number, startUs: number, turns: number): SessionPlan => ({
    ...closed,
    sessionId: `s${n}`,
    profile: n % 2 ? "a" : "b",
    speeds: undefined,
    startUs,
    stream: n % 4 === 0,
    turns: Array.from({ length: turns }, (_, i) => ({
      turnIndex: i,
      promptTokens: 10 * (i + 1),
      maxOutputTokens: 5,
      delayUs: 0,
    })),
  });

  it("sessions over 10 s -> rates, fractions, token stats, profile counts", () => {
    const plans = Array.from({ length: 8 }, (_, i) => open(i, ((i + 1) * 10e6) / 8, i < 2 ? 2 : 1));
    const s = summarizePlan(arraySource(plans));
    expect(s).toMatchObject({
      sessions: 8,
      requests: 10,
      span_s: 10,
      session_rate_per_s: 0.8,
      request_rate_per_s: 1,
      conversation_fraction: 0.25,
      stream_fraction: 0.25,
      sessions_by_profile: { a: 4, b: 4 },
    });
    expect(s.prompt_tokens.mean).toBe(12);
  });

  it("limit 3 -> only 3 sessions drawn and passed to the callback", () => {
    const seen: string[] = [];
    const s = summarizePlan(
      arraySource([open(0, 1, 1), open(1, 2, 1), open(2, 3, 1), open(3, 4, 1)]),
      3,
      (p) => seen.push(p.sessionId),
    );
    expect(s.sessions).toBe(3);
    expect(seen).toEqual(["s0", "s1", "s2"]);
  });
});
