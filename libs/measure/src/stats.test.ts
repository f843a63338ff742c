import { describe, expect, it } from "vitest";
import { rngFor } from "@symphony/common";
import { percentileSorted, ReservoirSampler, summarize } from "./stats";

describe("percentileSorted", () => {
  // Reference values: numpy.percentile(values, p) with the default linear method.
  it.each([
    [[1, 2, 3, 4], 50, 2.5],
    [[1, 2, 3, 4], 90, 3.7],
    [[1, 2, 3, 4], 99, 3.97],
    [[10], 99, 10],
    [[0, 10], 25, 2.5],
    [[1, 2, 3, 4, 5], 0, 1],
    [[1, 2, 3, 4, 5], 100, 5],
    [[10, 20], 50, 15],
    [[10, 20], 99, 19.9],
  ])("%j at p%i -> %d", (values, p, expected) => {
    expect(percentileSorted(values, p)).toBeCloseTo(expected, 10);
  });

  it("empty -> NaN", () => expect(percentileSorted([], 50)).toBeNaN());
});

describe("summarize", () => {
  it("unsorted values -> mean, std and percentiles of the sorted data", () => {
    const s = summarize([4, 1, 3, 2]);
    expect(s).toMatchObject({ count: 4, mean: 2.5, min: 1, max: 4, p50: 2.5 });
    expect(s.std).toBeCloseTo(Math.sqrt(1.25), 10);
    expect(s.p90).toBeCloseTo(3.7, 10);
  });

  it("empty -> count 0, NaN stats", () => {
    const s = summarize([]);
    expect(s.count).toBe(0);
    expect(s.mean).toBeNaN();
  });
});

describe("ReservoirSampler", () => {
  it("fewer items than its size -> keeps every item in order", () => {
    const s = new ReservoirSampler(10, rngFor(1, "r"));
    expect(Array.from({ length: 7 }, () => s.offer())).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it("a long stream -> each item kept with probability size/n (uniform over the stream)", () => {
    const size = 1000;
    const n = 100_000;
    const s = new ReservoirSampler(size, rngFor(2, "r"));
    const slots = new Int32Array(size).fill(-1);
    for (let i = 0; i < n; i++) {
      const slot = s.offer();
      if (slot >= 0) slots[slot] = i;
    }
    // Kept items per tenth of the stream: each tenth should hold ~100 (binomial sd ~9.5).
    const perTenth = new Array<number>(10).fill(0);
    for (const i of slots) perTenth[Math.floor(i / (n / 10))]!++;
    expect(Math.min(...slots)).toBeGreaterThanOrEqual(0);
    for (const c of perTenth) expect(Math.abs(c - size / 10)).toBeLessThan(45);
  });

  it("offerMany -> the same slots as offering one by one (same seed)", () => {
    const one = new ReservoirSampler(50, rngFor(3, "r"));
    const many = new ReservoirSampler(50, rngFor(3, "r"));
    const expected: [number, number][] = [];
    const got: [number, number][] = [];
    let index = 0;
    for (const batch of [7, 40, 1, 0, 300, 2000, 13]) {
      for (let k = 0; k < batch; k++) {
        const slot = one.offer();
        if (slot >= 0) expected.push([slot, index + k]);
      }
      const base = index;
      many.offerMany(batch, (slot, k) => got.push([slot, base + k]));
      index += batch;
    }
    expect(got).toEqual(expected);
    expect(got.length).toBeGreaterThan(50);
  });
});
