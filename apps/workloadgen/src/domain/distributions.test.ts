import { parseWithSchema, rngFor, UsageError } from "@symphony/common";
import { cumulativeStdNormalProbability } from "simple-statistics";
import { describe, expect, it } from "vitest";
import {
  distributionConfigSchema,
  interArrivalConfigSchema,
  logNormalParams,
  MAX_ZERO_GAPS_IN_A_ROW,
  makeDistribution,
  makeInterArrival,
  type DistributionConfig,
} from "./distributions";

const N = 50_000;

function draw(config: DistributionConfig, n = N, seed = 1): number[] {
  const d = makeDistribution(parseWithSchema(distributionConfigSchema, config, "test"));
  const rng = rngFor(seed, "dist-test");
  return Array.from({ length: n }, () => d.sample(rng));
}

function moments(xs: number[]): { mean: number; variance: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, variance: xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1) };
}

/** Kolmogorov-Smirnov statistic of samples against a theoretical CDF. */
function ksStatistic(xs: number[], cdf: (x: number) => number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  let d = 0;
  sorted.forEach((x, i) => {
    const f = cdf(x);
    d = Math.max(d, Math.abs((i + 1) / sorted.length - f), Math.abs(f - i / sorted.length));
  });
  return d;
}

const gamma15 = 0.886226925452758; // Γ(1.5)

describe("distributions against theory", () => {
  it.each<[string, DistributionConfig, number, number]>([
    ["Constant", { type: "Constant", value: 5 }, 5, 0],
    ["Uniform", { type: "Uniform", low: 2, high: 10 }, 6, 64 / 12],
    ["Uniform by min/max", { type: "Uniform", min: 2, max: 10 }, 6, 64 / 12],
    ["Normal", { type: "Normal", mean: 10, sigma: 3 }, 10, 9],
    ["LogNormal (sample mean/sd)", { type: "LogNormal", mean: 128, sigma: 64 }, 128, 64 * 64],
    ["Exponential by mean", { type: "Exponential", mean: 2 }, 2, 4],
    ["Exponential by rate", { type: "Exponential", rate: 4 }, 0.25, 0.0625],
    ["Poisson small mean", { type: "Poisson", mean: 4 }, 4, 4],
    ["Poisson large mean", { type: "Poisson", mean: 50 }, 50, 50],
    ["Gamma shape/scale", { type: "Gamma", shape: 2, scale: 3 }, 6, 18],
    ["Gamma shape < 1", { type: "Gamma", shape: 0.5, scale: 2 }, 1, 2],
    ["Gamma mean/sigma", { type: "Gamma", mean: 10, sigma: 5 }, 10, 25],
    ["Weibull", { type: "Weibull", shape: 2, scale: 1 }, gamma15, 1 - gamma15 ** 2],
    ["Pareto", { type: "Pareto", shape: 5, scale: 1 }, 1.25, 5 / 48],
    ["Empirical samples", { type: "Empirical", samples: [1, 2, 3, 4] }, 2.5, 1.25],
    [
      "Empirical histogram",
      { type: "Empirical", histogram: { edges: [0, 1, 3], counts: [1, 1] } },
      1.25,
      7 / 3 - 1.5625,
    ],
  ])("%s -> mean within 4 standard errors, variance within 6%%", (_name, config, mean, variance) => {
    const m = moments(draw(config));
    expect(Math.abs(m.mean - mean)).toBeLessThanOrEqual(4 * Math.sqrt(variance / N) + 1e-12);
    if (variance === 0) expect(m.variance).toBe(0);
    else expect(Math.abs(m.variance / variance - 1)).toBeLessThan(0.06);
  });

  // KS critical value at alpha = 0.01 is 1.63 / sqrt(n).
  it.each<[string, DistributionConfig, (x: number) => number]>([
    ["Uniform", { type: "Uniform", low: 2, high: 10 }, (x) => (x - 2) / 8],
    ["Exponential", { type: "Exponential", mean: 2 }, (x) => 1 - Math.exp(-x / 2)],
    ["Normal", { type: "Normal", mean: 10, sigma: 3 }, (x) => cumulativeStdNormalProbability((x - 10) / 3)],
    ["Weibull", { type: "Weibull", shape: 1.5, scale: 2 }, (x) => 1 - Math.exp(-((x / 2) ** 1.5))],
    ["Pareto", { type: "Pareto", shape: 2.5, scale: 3 }, (x) => 1 - (3 / x) ** 2.5],
    [
      "LogNormal",
      { type: "LogNormal", mean: 128, sigma: 64 },
      (x) => {
        const { mu, sigma } = logNormalParams(128, 64);
        return cumulativeStdNormalProbability((Math.log(x) - mu) / sigma);
      },
    ],
  ])("%s -> Kolmogorov-Smirnov statistic below the 1%% critical value", (_name, config, cdf) => {
    const n = 5000;
    expect(ksStatistic(draw(config, n), cdf)).toBeLessThan(1.63 / Math.sqrt(n));
  });

  it("Poisson inter-arrival of rate 100/s -> exponential gaps with mean 10 ms", () => {
    const d = makeInterArrival({ type: "Poisson", rate: 100 });
    const rng = rngFor(3, "gaps");
    const gaps = Array.from({ length: N }, () => d.sample(rng));
    const m = moments(gaps);
    expect(Math.abs(m.mean - 0.01)).toBeLessThan(4 * Math.sqrt(1e-4 / N));
    expect(Math.abs(m.variance / 1e-4 - 1)).toBeLessThan(0.06);
  });

  it("min/max and is_int -> samples clamped into range and whole", () => {
    const xs = draw({ type: "Normal", mean: 100, sigma: 50, min: 60, max: 140, is_int: true }, 10_000);
    expect(Math.min(...xs)).toBe(60);
    expect(Math.max(...xs)).toBe(140);
    expect(xs.every(Number.isInteger)).toBe(true);
  });

  it("same seed -> same samples; different seed -> different", () => {
    const c: DistributionConfig = { type: "LogNormal", mean: 128, sigma: 64 };
    expect(draw(c, 100, 1)).toEqual(draw(c, 100, 1));
    expect(draw(c, 100, 2)).not.toEqual(draw(c, 100, 1));
  });
});

describe("distribution config validation", () => {
  it.each([
    [{ type: "LogNormal", mean: -1, sigma: 1 }, /^f: mean: /],
    [{ type: "Exponential" }, /^f: \(root\): give exactly one of mean or rate/],
    [{ type: "Gamma", shape: 2 }, /give either shape and scale, or mean and sigma/],
    [{ type: "Uniform", low: 5, high: 1 }, /^f: low: low must be <= high/],
    [{ type: "Normal", mean: 1, sigma: 1, min: 5, max: 1 }, /^f: min: min must be <= max/],
    [{ type: "Weibul", shape: 1, scale: 1 }, /^f: type: /],
    [{ type: "Constant", value: 1, extra: 2 }, /^f: \(root\): .*extra/],
    [
      { type: "Empirical", histogram: { edges: [0, 1], counts: [1, 2] } },
      /^f: histogram: histogram.edges must have one more/,
    ],
  ])("%j -> a message naming the key", (config, pattern) => {
    expect(() => parseWithSchema(distributionConfigSchema, config, "f")).toThrow(pattern);
  });
});

describe("inter-arrival configs, edge cases", () => {
  it.each([
    [{ type: "Constant", value: 0 }, "value", /must be > 0 s, but every sample is <= 0/],
    [{ type: "Constant", value: -2 }, "value", /every sample is <= -2/],
    [{ type: "Uniform", low: -1, high: 0 }, "high", /every sample is <= 0/],
    [{ type: "Exponential", mean: 5, max: 0 }, "max", /every sample is <= 0/],
    [{ type: "Normal", mean: 0, sigma: 1 }, "mean", /need a mean > 0 s, got 0/],
    [{ type: "Empirical", samples: [0, 0] }, "samples", /every sample is <= 0/],
    [{ type: "Uniform", low: 0, high: 0.4, is_int: true }, "is_int", /is_int rounds every sample to 0/],
  ])("%j -> refused, naming the key", (config, key, message) => {
    const r = interArrivalConfigSchema.safeParse(config);
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]!.path).toEqual([key]);
    expect(r.error!.issues[0]!.message).toMatch(message);
    expect(r.error!.issues[0]!.message).toMatch(/so the plan would never advance$/);
  });

  it.each([
    { type: "Constant", value: 0.01 },
    { type: "Poisson", rate: 100 },
    { type: "Uniform", low: 0, high: 1 },
    { type: "Empirical", samples: [0, 0, 1] },
    { type: "Normal", mean: 1, sigma: 2 },
  ])("%j -> accepted", (config) => {
    expect(interArrivalConfigSchema.safeParse(config).success).toBe(true);
  });

  it("a sampler stuck at 0 (bypassing the check) -> UsageError after MAX_ZERO_GAPS_IN_A_ROW draws, naming it", () => {
    const d = makeInterArrival(
      { type: "Constant", value: 0 },
      'client profile "p": inter_arrival_time_dist_config',
    );
    const rng = rngFor(1, "zero");
    for (let i = 1; i < MAX_ZERO_GAPS_IN_A_ROW; i++) d.sample(rng);
    expect(() => d.sample(rng)).toThrow(UsageError);
    const e = makeInterArrival({ type: "Constant", value: 0 }, "x");
    expect(() => {
      for (let i = 0; i <= MAX_ZERO_GAPS_IN_A_ROW; i++) e.sample(rng);
    }).toThrow(
      /^x: 1000000 inter-arrival times in a row were <= 0 s: the plan would never advance; make them > 0$/,
    );
  });
});
