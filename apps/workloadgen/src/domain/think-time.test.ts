import { rngFor } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { ThinkTimeModel } from "./think-time";

const model = (speedJitter = 0) =>
  new ThinkTimeModel({ readCharsPerSec: 25, typeCharsPerSec: 6, speedJitter });

describe("ThinkTimeModel", () => {
  it.each([
    // [response chars, prompt chars, expected µs]
    [0, 60, 10_000_000], // first turn: typing only, 60 / 6 s
    [250, 0, 10_000_000], // reading only, 250 / 25 s
    [500, 30, 25_000_000], // 20 s reading + 5 s typing
    [0, 0, 0],
  ])("delay, %i response chars and %i prompt chars -> %i µs", (read, typed, expected) => {
    const m = model();
    expect(m.delayUs(m.userSpeeds(rngFor(1, "x")), read, typed)).toBe(expected);
  });

  it("user speeds, no jitter -> the configured means", () => {
    expect(model().userSpeeds(rngFor(1, "x"))).toEqual({ readCharsPerSec: 25, typeCharsPerSec: 6 });
  });

  it("user speeds, jitter 0.5 -> mean near the configured speed, spread near 0.5, seeded", () => {
    const m = model(0.5);
    const rng = rngFor(7, "speeds");
    const reads = Array.from({ length: 20_000 }, () => m.userSpeeds(rng).readCharsPerSec);
    const mean = reads.reduce((a, b) => a + b) / reads.length;
    const sd = Math.sqrt(reads.reduce((a, b) => a + (b - mean) ** 2, 0) / reads.length);
    expect(mean / 25).toBeCloseTo(1, 1);
    expect(sd / mean).toBeGreaterThan(0.45);
    expect(sd / mean).toBeLessThan(0.55);
    expect(model(0.5).userSpeeds(rngFor(7, "speeds"))).toEqual(model(0.5).userSpeeds(rngFor(7, "speeds")));
    expect(model(0.5).userSpeeds(rngFor(8, "speeds"))).not.toEqual(
      model(0.5).userSpeeds(rngFor(7, "speeds")),
    );
  });
});
