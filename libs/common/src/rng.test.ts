import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashDecimal, hashHex, hashText, rngFor, rngForStream, streamHash } from "./rng";

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

describe("stream names hashed piece by piece", () => {
  const draws = (r: ReturnType<typeof rngFor>) => [r.next(), r.index(1000), r.int(-5, 5), r.next()];

  it("any seed, prefix, hex value, text and count -> the same stream as rngFor of the whole name", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -1e6, max: 1e9 }),
        fc.string(),
        fc.oneof(
          fc.integer({ min: 0, max: 2 ** 32 - 1 }),
          fc.constantFrom(0, 1, 15, 16, 255, 2 ** 28, 2 ** 32 - 1),
        ),
        fc.string({ unit: "binary" }),
        fc.oneof(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(0, 9, 10, 99, 100, 1e9)),
        (seed, prefix, value, text, n) => {
          const h = hashDecimal(hashText(hashHex(streamHash(seed, prefix), value), text), n);
          expect(draws(rngForStream(h))).toEqual(
            draws(rngFor(seed, `${prefix}${value.toString(16)}${text}${n}`)),
          );
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("the documented example", () => {
    const h = hashDecimal(hashHex(streamHash(1, "x:"), 255), 7);
    expect(draws(rngForStream(h))).toEqual(draws(rngFor(1, "x:ff7")));
  });
});
