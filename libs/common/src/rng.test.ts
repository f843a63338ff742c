import { describe, expect, it } from "vitest";
import { rngFor } from "./rng";

const draw = (seed: number, stream: string, n = 5) => {
  const r = rngFor(seed, stream);
  return Array.from({ length: n }, () => r.next());
};

describe("rngFor", () => {
  it("same seed and stream -> identical sequence", () => {
    expect(draw(42, "a")).toEqual(draw(42, "a"));
  });

  it("different seeds or streams -> different sequences", () => {
    expect(draw(42, "a")).not.toEqual(draw(43, "a"));
    expect(draw(42, "a")).not.toEqual(draw(42, "b"));
  });

  it("next() is uniform on [0,1): mean ~ 0.5, variance ~ 1/12", () => {
    const xs = draw(7, "uniform", 100_000);
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    const variance = xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length;
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(mean).toBeCloseTo(0.5, 2);
    expect(variance).toBeCloseTo(1 / 12, 2);
  });

  it("first draws of a stream are well mixed (regression: seed 12 once gave 13 of 16 draws < 0.4)", () => {
    // pure-rand's xoroshiro128plus(seed) leaves most state bits constant; for this seed and
    // stream its first 16 draws had a mean of 0.24. Independent uniforms: mean 0.5, sd 0.072.
    const r = rngFor(12, "workloadgen.agent.profiles");
    const xs = Array.from({ length: 16 }, () => r.next());
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(xs.filter((x) => x < 0.4).length).toBeLessThan(12);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.25);
  });

  it("int(min, max) covers both ends inclusively", () => {
    const r = rngFor(1, "int");
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(r.int(3, 6));
    expect([...seen].sort()).toEqual([3, 4, 5, 6]);
  });

  it("index(n) spans [0, n) uniformly: every value, mean ~ (n - 1) / 2", () => {
    const r = rngFor(5, "index");
    const n = 1000;
    const xs = Array.from({ length: 50_000 }, () => r.index(n));
    expect(xs.every((x) => Number.isInteger(x) && x >= 0 && x < n)).toBe(true);
    expect(new Set(xs).size).toBe(n);
    expect(xs.reduce((a, b) => a + b, 0) / xs.length / (n - 1)).toBeCloseTo(0.5, 2);
  });
});
