import { rngFor } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { CHAT_GAPS, sampleMixtureS, ThinkTimeModel } from "./think-time";

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

/** Quantile of the mixture's CDF by bisection (the CDF through erf, Abramowitz-Stegun 7.1.26). */
function mixtureQuantile(p: number): number {
  const erf = (x: number) => {
    const t = 1 / (1 + 0.3275911 * Math.abs(x));
    const y =
      1 -
      ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
        t *
        Math.exp(-x * x);
    return x >= 0 ? y : -y;
  };
  const phi = (z: number) => 0.5 * (1 + erf(z / Math.SQRT2));
  const m = CHAT_GAPS;
  const cdf = (x: number) =>
    (1 - m.tailWeight) * phi(Math.log(x / m.bodyMedianS) / m.bodySigma) +
    m.tailWeight * phi(Math.log(x / m.tailMedianS) / m.tailSigma);
  let lo = 1e-3;
  let hi = 1e4;
  for (let i = 0; i < 100; i++) {
    const mid = Math.sqrt(lo * hi);
    if (cdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return Math.sqrt(lo * hi);
}

describe("chat-gaps think time (fit to p50 7.2 s, p90 15 s, p99 43 s)", () => {
  it.each([
    // [quantile, measured s, fit s (documented in CHAT_GAPS), relative error bound]
    [0.5, 7.2, 7.21, 0.005],
    [0.9, 15, 14.85, 0.015],
    [0.99, 43, 42.78, 0.01],
  ])("the fitted mixture's p%s is within its documented error of %s s", (p, measured, fit, bound) => {
    const q = mixtureQuantile(p);
    expect(q).toBeCloseTo(fit, 1);
    expect(Math.abs(q / measured - 1)).toBeLessThan(bound);
  });

  it("200,000 draws -> sample quantiles within 3 % of the measured ones", () => {
    const rng = rngFor(7, "gaps");
    const xs = Array.from({ length: 200_000 }, () => sampleMixtureS(CHAT_GAPS, rng)).sort((a, b) => a - b);
    const at = (p: number) => xs[Math.floor(p * xs.length)]!;
    expect(Math.abs(at(0.5) / 7.2 - 1)).toBeLessThan(0.03);
    expect(Math.abs(at(0.9) / 15 - 1)).toBeLessThan(0.03);
    expect(Math.abs(at(0.99) / 43 - 1)).toBeLessThan(0.03);
  });

  it("typing model -> no planned delay; chat-gaps -> a seeded one", () => {
    const typing = new ThinkTimeModel({ readCharsPerSec: 25, typeCharsPerSec: 6, speedJitter: 0 });
    expect(typing.plannedDelayUs(rngFor(1, "x"))).toBeUndefined();
    const gaps = new ThinkTimeModel({
      kind: "chat-gaps",
      readCharsPerSec: 25,
      typeCharsPerSec: 6,
      speedJitter: 0,
    });
    const a = gaps.plannedDelayUs(rngFor(1, "x"));
    expect(a).toBeGreaterThan(0);
    expect(gaps.plannedDelayUs(rngFor(1, "x"))).toBe(a);
  });
});
