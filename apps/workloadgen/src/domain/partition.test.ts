import { describe, expect, it } from "vitest";
import { clientProfileSchema, OpenLoopSource } from "./open-loop";
import { PartitionedSource, partOfSession, shareOf } from "./partition";
import { arraySource, type SessionPlan, type SessionSource } from "./plan";

const plans = (n: number): SessionPlan[] =>
  Array.from({ length: n }, (_, i) => ({
    sessionId: `s${i}`,
    clientId: "c",
    profile: "p",
    priority: "normal",
    stream: true,
    ignoreEos: false,
    mode: "chat",
    turns: [],
  }));

const drain = (source: SessionSource): SessionPlan[] => {
  const out: SessionPlan[] = [];
  for (let p = source.next(); p; p = source.next()) out.push(p);
  return out;
};

describe("PartitionedSource", () => {
  it.each([
    [1, 10],
    [2, 10],
    [3, 10],
    [4, 3],
    [5, 101],
  ])("%d parts of %d sessions -> every session exactly once, each part in source order", (parts, n) => {
    const all = plans(n);
    const seen = Array.from({ length: parts }, (_, part) =>
      drain(new PartitionedSource(arraySource(all), part, parts)).map((p) => p.sessionId),
    );
    const flat = seen.flat();
    expect(flat).toHaveLength(n);
    expect(new Set(flat).size).toBe(n);
    for (const part of seen) {
      const indices = part.map((id) => Number(id.slice(1)));
      expect(indices).toEqual([...indices].sort((a, b) => a - b));
    }
    // Shares differ by at most one session.
    const sizes = seen.map((s) => s.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
  });

  it("same seeded source twice -> each part gets the same sessions with the same content", () => {
    const profile = clientProfileSchema.parse({
      profile_name: "chat",
      weight: 1,
      inter_arrival_time_dist_config: { type: "Poisson", rate: 50 },
      prompt_tokens_dist_config: { type: "Uniform", low: 10, high: 100, is_int: true },
      max_output_tokens_dist_config: { type: "Constant", value: 8 },
      conversational_probability: 0.5,
    });
    const make = () => new OpenLoopSource([profile], { seed: 7, totalDuration: 5, maxOutputTokensCap: 64 });
    for (const part of [0, 1, 2]) {
      const a = drain(new PartitionedSource(make(), part, 3));
      const b = drain(new PartitionedSource(make(), part, 3));
      expect(a.length).toBeGreaterThan(0);
      expect(b).toEqual(a);
    }
  });

  it.each([
    [0, 0],
    [2, 2],
    [-1, 2],
    [0.5, 2],
  ])("part %d of %d -> error naming the valid range", (part, parts) => {
    expect(() => new PartitionedSource(arraySource([]), part, parts)).toThrow(/must be an integer/);
  });
});

describe("shareOf / partOfSession", () => {
  it.each([
    [10, 1],
    [10, 3],
    [3, 4],
    [10_000, 7],
  ])(
    "%d clients over %d parts -> shares sum to the total, differ by <= 1, match round-robin",
    (total, parts) => {
      const shares = Array.from({ length: parts }, (_, p) => shareOf(total, p, parts));
      expect(shares.reduce((a, b) => a + b, 0)).toBe(total);
      expect(Math.max(...shares) - Math.min(...shares)).toBeLessThanOrEqual(1);
      for (let p = 0; p < parts; p++) {
        let count = 0;
        for (let i = 0; i < total; i++) if (partOfSession(i, parts) === p) count++;
        expect(shares[p]).toBe(count);
      }
    },
  );
});
