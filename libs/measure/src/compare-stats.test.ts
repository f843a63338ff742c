import { rngFor } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { bootstrapMedianDiff, mannWhitneyU, median } from "./compare-stats";

// Expected p-values from scipy 1.17 `mannwhitneyu(a, b, method="asymptotic")`.
const tied = {
  a: Array.from({ length: 120 }, (_, i) => ((i * 37) % 101) / 10),
  b: Array.from({ length: 90 }, (_, i) => ((i * 53) % 97) / 10 + 0.8),
};

describe("mannWhitneyU", () => {
  it.each([
    ["separated samples", [1, 2, 3, 4, 5], [6, 7, 8, 9, 10], 0, 0.012185780355344813],
    ["small samples with ties", [1, 2, 2, 3, 7.5], [2, 3, 3, 4, 4, 9], 8, 0.22559760855754862],
    ["120 vs 90 values, many ties", tied.a, tied.b, 4731, 0.12500368072914939],
  ])("%s -> U and p as scipy's asymptotic test", (_, a, b, u, p) => {
    const got = mannWhitneyU(a, b);
    expect(got.u).toBe(u);
    expect(got.p).toBeCloseTo(p, 6);
    expect(got.pGreater).toBeCloseTo(u / (a.length * b.length), 12);
  });

  it("an empty sample, or every value tied -> p NaN (no test possible)", () => {
    expect(mannWhitneyU([], [1, 2]).p).toBeNaN();
    expect(mannWhitneyU([3, 3], [3, 3, 3]).p).toBeNaN();
  });
});

describe("median", () => {
  it("odd, even, unsorted with duplicates -> as sorting would give", () => {
    const rng = rngFor(1, "test");
    for (let n = 1; n < 60; n++) {
      const xs = Array.from({ length: n }, () => rng.int(0, 20));
      const s = [...xs].sort((a, b) => a - b);
      const want = n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2;
      expect(median(xs), xs.join(",")).toBe(want);
    }
  });
});

describe("bootstrapMedianDiff", () => {
  it("same seed -> the same interval; it holds the observed difference", () => {
    const one = bootstrapMedianDiff(tied.a, tied.b, rngFor(7, "compare"));
    const two = bootstrapMedianDiff(tied.a, tied.b, rngFor(7, "compare"));
    expect(one).toEqual(two);
    expect(one.diff).toBeCloseTo(0.7, 12); // numpy: median(b) - median(a)
    expect(one.low).toBeLessThanOrEqual(one.diff);
    expect(one.high).toBeGreaterThanOrEqual(one.diff);
    expect(one.resamples).toBe(1000);
  });

  it("a shift of 10 with little noise -> an interval around 10 that excludes 0", () => {
    const rng = rngFor(3, "data");
    const a = Array.from({ length: 400 }, () => 100 + rng.next());
    const b = Array.from({ length: 300 }, () => 110 + rng.next());
    const ci = bootstrapMedianDiff(a, b, rngFor(3, "compare"));
    expect(ci.low).toBeGreaterThan(9.5);
    expect(ci.high).toBeLessThan(10.5);
  });
});
