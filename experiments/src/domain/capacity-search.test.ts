import { describe, expect, it } from "vitest";
import { searchCapacity, spread, type SearchOptions } from "./capacity-search";

const opts = (o: Partial<SearchOptions> = {}): SearchOptions => ({
  start: 16,
  max: 4096,
  relTolerance: 0.05,
  absTolerance: 1,
  ...o,
});

/** A criterion that passes up to `capacity`, counting its measurements. */
function threshold(capacity: number) {
  const measured: number[] = [];
  return {
    measured,
    passes: (n: number) => {
      measured.push(n);
      return Promise.resolve(n <= capacity);
    },
  };
}

describe("searchCapacity", () => {
  it.each([
    // [true capacity, options, expected lower end within tolerance]
    [100, opts(), 96],
    [700, opts(), 672],
    [16, opts(), 16],
    [17, opts({ absTolerance: 1, relTolerance: 0 }), 17],
  ])("capacity %i -> found within tolerance, never above it", async (capacity, o, atLeast) => {
    const c = threshold(capacity);
    const r = await searchCapacity(o, c.passes);
    expect(r.capacity).toBeLessThanOrEqual(capacity);
    expect(r.capacity).toBeGreaterThanOrEqual(atLeast);
    expect(r.firstFail).toBeGreaterThan(capacity);
    expect(r.firstFail! - r.capacity).toBeLessThanOrEqual(Math.max(1, 0.05 * r.capacity, o.absTolerance));
    expect(r.lowerBound).toBe(false);
    expect(r.probes).toEqual(c.measured);
  });

  it("start fails -> halves down to the first pass, then bisects", async () => {
    const c = threshold(5);
    const r = await searchCapacity(opts({ start: 64, relTolerance: 0 }), c.passes);
    expect(r.capacity).toBe(5);
    expect(r.probes.slice(0, 5)).toEqual([64, 32, 16, 8, 4]);
  });

  it("nothing passes -> capacity 0, first fail 1", async () => {
    const r = await searchCapacity(opts({ start: 4 }), () => Promise.resolve(false));
    expect(r).toMatchObject({ capacity: 0, firstFail: 1, lowerBound: false });
  });

  it("everything passes up to max -> a lower bound at max", async () => {
    const r = await searchCapacity(opts({ start: 100, max: 500 }), () => Promise.resolve(true));
    expect(r).toMatchObject({ capacity: 500, firstFail: undefined, lowerBound: true });
    expect(r.probes).toEqual([100, 200, 400, 500]);
  });

  it("a noisy failure below the true capacity -> the result shrinks to that bracket, never grows", async () => {
    // Passes up to 300 except a spurious failure at 256.
    const r = await searchCapacity(opts({ start: 64 }), (n) => Promise.resolve(n <= 300 && n !== 256));
    expect(r.capacity).toBeLessThan(256);
  });

  it("growth 1.25 from a good guess -> brackets in a few probes", async () => {
    const c = threshold(330);
    const r = await searchCapacity(opts({ start: 300, growth: 1.25, relTolerance: 0.1 }), c.passes);
    expect(r.capacity).toBeLessThanOrEqual(330);
    expect(r.capacity).toBeGreaterThanOrEqual(300);
    expect(r.probes).toEqual([300, 375, 338, 319]);
  });

  it("growth 1.25, start fails -> steps down by 1.25", async () => {
    const r = await searchCapacity(opts({ start: 100, growth: 1.25, relTolerance: 0.1 }), (n) =>
      Promise.resolve(n <= 70),
    );
    expect(r.probes.slice(0, 3)).toEqual([100, 80, 64]);
    expect(r.capacity).toBeGreaterThanOrEqual(64);
  });

  it("start above max -> RangeError", async () => {
    await expect(searchCapacity(opts({ start: 10, max: 5 }), () => Promise.resolve(true))).rejects.toThrow(
      RangeError,
    );
  });
});

describe("spread", () => {
  it("min/mean/max of the finite values; none -> NaN", () => {
    expect(spread([3, 1, 2, NaN])).toEqual({ min: 1, mean: 2, max: 3 });
    expect(spread([])).toEqual({ min: NaN, mean: NaN, max: NaN });
  });
});
