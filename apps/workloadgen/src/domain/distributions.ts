import { UsageError, type Rng } from "@symphony/common";
import { z } from "zod";

/**
 * Random distributions for workload models, configured as in the design's YAML, e.g.
 * `{ type: LogNormal, mean: 128, sigma: 64, is_int: true, min: 1, max: 4096 }`.
 *
 * Parameters describe the SAMPLES (for LogNormal `mean`/`sigma` are the samples' own mean and
 * standard deviation, not the underlying normal's), so configs read the way people measure
 * traces. `min`/`max` clamp every sample; `is_int` rounds it to the nearest integer.
 */
export interface Distribution {
  /** One sample, drawing from `rng` only (never Math.random). */
  sample(rng: Rng): number;
  /** The config it came from, for plan summaries. */
  readonly config: DistributionConfig;
}

const common = {
  min: z.number().optional(),
  max: z.number().optional(),
  is_int: z.boolean().optional(),
};
const positive = z.number().positive();

/** Zod schema of one distribution config; `type` selects the family. */
export const distributionConfigSchema = z
  .discriminatedUnion("type", [
    z.strictObject({ type: z.literal("Constant"), value: z.number(), ...common }),
    // Uniform bounds are `low`/`high`; when absent, `min`/`max` double as the bounds.
    z.strictObject({
      type: z.literal("Uniform"),
      low: z.number().optional(),
      high: z.number().optional(),
      ...common,
    }),
    z.strictObject({ type: z.literal("Normal"), mean: z.number(), sigma: z.number().min(0), ...common }),
    z.strictObject({ type: z.literal("LogNormal"), mean: positive, sigma: z.number().min(0), ...common }),
    z.strictObject({
      type: z.literal("Exponential"),
      mean: positive.optional(),
      rate: positive.optional(),
      ...common,
    }),
    z.strictObject({
      type: z.literal("Poisson"),
      mean: positive.optional(),
      rate: positive.optional(),
      ...common,
    }),
    z.strictObject({
      type: z.literal("Gamma"),
      shape: positive.optional(),
      scale: positive.optional(),
      mean: positive.optional(),
      sigma: positive.optional(),
      ...common,
    }),
    z.strictObject({ type: z.literal("Weibull"), shape: positive, scale: positive, ...common }),
    z.strictObject({ type: z.literal("Pareto"), shape: positive, scale: positive, ...common }),
    z.strictObject({
      type: z.literal("Empirical"),
      samples: z.array(z.number()).min(1).optional(),
      histogram: z
        .strictObject({
          edges: z.array(z.number()).min(2),
          counts: z.array(z.number().min(0)).min(1),
        })
        .optional(),
      ...common,
    }),
  ])
  .superRefine((d, ctx) => {
    const need = (ok: boolean, message: string, path: string[] = []) => {
      if (!ok) ctx.addIssue({ code: "custom", message, path });
    };
    if (d.min !== undefined && d.max !== undefined) need(d.min <= d.max, "min must be <= max", ["min"]);
    switch (d.type) {
      case "Uniform": {
        const low = d.low ?? d.min;
        const high = d.high ?? d.max;
        need(low !== undefined && high !== undefined, "give low and high (or min and max)");
        if (low !== undefined && high !== undefined) need(low <= high, "low must be <= high", ["low"]);
        break;
      }
      case "Exponential":
      case "Poisson":
        need((d.mean === undefined) !== (d.rate === undefined), "give exactly one of mean or rate");
        break;
      case "Gamma":
        need(
          (d.shape !== undefined && d.scale !== undefined && d.mean === undefined && d.sigma === undefined) ||
            (d.mean !== undefined && d.sigma !== undefined && d.shape === undefined && d.scale === undefined),
          "give either shape and scale, or mean and sigma",
        );
        break;
      case "Empirical":
        need(
          (d.samples === undefined) !== (d.histogram === undefined),
          "give exactly one of samples or histogram",
        );
        if (d.histogram) {
          const { edges, counts } = d.histogram;
          need(edges.length === counts.length + 1, "histogram.edges must have one more entry than counts", [
            "histogram",
          ]);
          need(
            edges.every((e, i) => i === 0 || e >= edges[i - 1]!),
            "histogram.edges must be non-decreasing",
            ["histogram", "edges"],
          );
          need(
            counts.some((c) => c > 0),
            "histogram.counts must not all be 0",
            ["histogram", "counts"],
          );
        }
        break;
    }
  });

export type DistributionConfig = z.output<typeof distributionConfigSchema>;

/** Standard normal by Box-Muller (one value per call keeps the stream easy to reason about). */
export function standardNormal(rng: Rng): number {
  const u1 = 1 - rng.next(); // (0, 1]: log is finite
  const u2 = rng.next();
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/** Exponential with the given mean. */
function exponential(rng: Rng, mean: number): number {
  return -mean * Math.log(1 - rng.next());
}

/** Gamma(shape, scale) by Marsaglia and Tsang (2000); shape < 1 via the boost u^(1/shape). */
function gamma(rng: Rng, shape: number, scale: number): number {
  if (shape < 1) return gamma(rng, shape + 1, scale) * Math.pow(1 - rng.next(), 1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number;
    let v: number;
    do {
      x = standardNormal(rng);
      v = 1 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * x * x + d - d * v + d * Math.log(v)) return d * v * scale;
  }
}

/**
 * Poisson(mean): Knuth's product method for small means; for mean >= 30 the normal
 * approximation with continuity correction (error in mean/variance well under 1%).
 */
function poisson(rng: Rng, mean: number): number {
  if (mean < 30) {
    const limit = Math.exp(-mean);
    let k = 0;
    let p = rng.next();
    while (p > limit) {
      k++;
      p *= rng.next();
    }
    return k;
  }
  return Math.max(0, Math.round(mean + Math.sqrt(mean) * standardNormal(rng)));
}

/** Underlying normal's (mu, sigma) for a LogNormal whose samples have this mean and std dev. */
export function logNormalParams(mean: number, sd: number): { mu: number; sigma: number } {
  const sigma2 = Math.log(1 + (sd * sd) / (mean * mean));
  return { mu: Math.log(mean) - sigma2 / 2, sigma: Math.sqrt(sigma2) };
}

/** Gamma (shape, scale) from the samples' mean and standard deviation. */
export function gammaParams(mean: number, sd: number): { shape: number; scale: number } {
  return { shape: (mean * mean) / (sd * sd), scale: (sd * sd) / mean };
}

function rawSampler(d: DistributionConfig): (rng: Rng) => number {
  switch (d.type) {
    case "Constant":
      return () => d.value;
    case "Uniform": {
      const low = d.low ?? d.min!;
      const high = d.high ?? d.max!;
      return (rng) => low + (high - low) * rng.next();
    }
    case "Normal":
      return (rng) => d.mean + d.sigma * standardNormal(rng);
    case "LogNormal": {
      const { mu, sigma } = logNormalParams(d.mean, d.sigma);
      return (rng) => Math.exp(mu + sigma * standardNormal(rng));
    }
    case "Exponential": {
      const mean = d.mean ?? 1 / d.rate!;
      return (rng) => exponential(rng, mean);
    }
    case "Poisson": {
      const mean = d.mean ?? d.rate!;
      return (rng) => poisson(rng, mean);
    }
    case "Gamma": {
      const { shape, scale } =
        d.shape !== undefined ? { shape: d.shape, scale: d.scale! } : gammaParams(d.mean!, d.sigma!);
      return (rng) => gamma(rng, shape, scale);
    }
    case "Weibull":
      return (rng) => d.scale * Math.pow(-Math.log(1 - rng.next()), 1 / d.shape);
    case "Pareto":
      return (rng) => d.scale / Math.pow(1 - rng.next(), 1 / d.shape);
    case "Empirical": {
      if (d.samples) {
        const samples = d.samples;
        return (rng) => samples[rng.int(0, samples.length - 1)]!;
      }
      const { edges, counts } = d.histogram!;
      const cumulative: number[] = [];
      let total = 0;
      for (const c of counts) cumulative.push((total += c));
      return (rng) => {
        const target = rng.next() * total;
        let i = cumulative.findIndex((c) => c > target);
        if (i < 0) i = counts.length - 1;
        // Uniform within the chosen bin.
        return edges[i]! + (edges[i + 1]! - edges[i]!) * rng.next();
      };
    }
  }
}

/** Builds a sampler from a validated config, applying `min`/`max` clamping and `is_int` rounding. */
export function makeDistribution(config: DistributionConfig): Distribution {
  const raw = rawSampler(config);
  const lo = config.min ?? -Infinity;
  const hi = config.max ?? Infinity;
  const isInt = config.is_int ?? false;
  return {
    config,
    sample(rng) {
      let x = Math.min(hi, Math.max(lo, raw(rng)));
      if (isInt) x = Math.min(Math.floor(hi), Math.max(Math.ceil(lo), Math.round(x)));
      return x;
    },
  };
}

/** The largest sample `d` can give (after `max` clamping); Infinity when unbounded. */
function largestSample(d: DistributionConfig): number {
  let top = Infinity;
  if (d.type === "Constant") top = d.value;
  else if (d.type === "Uniform") top = d.high ?? d.max!;
  else if (d.type === "Normal" && d.sigma === 0) top = d.mean;
  else if (d.type === "Empirical")
    top = d.samples ? Math.max(...d.samples) : d.histogram!.edges[d.histogram!.edges.length - 1]!;
  return Math.min(top, d.max ?? Infinity);
}

/**
 * Why `d` cannot be an inter-arrival time distribution, or undefined: gaps that are never > 0
 * (a Constant 0, a `max` <= 0, integers that always round to 0, a Normal centred at or below
 * 0) would put every arrival at the same instant, and a plan that never advances never ends.
 */
export function interArrivalProblem(d: DistributionConfig): { message: string; path: string[] } | undefined {
  const never = "so the plan would never advance";
  if (d.type === "Normal" && d.mean <= 0)
    return { message: `inter-arrival times need a mean > 0 s, got ${d.mean}, ${never}`, path: ["mean"] };
  const top = largestSample(d);
  // The key that sets the largest sample, for the error's path.
  const field =
    d.max !== undefined && d.max <= top
      ? "max"
      : {
          Constant: "value",
          Uniform: "high",
          Empirical: d.type === "Empirical" && d.histogram ? "histogram" : "samples",
        }[d.type as string];
  if (top <= 0)
    return {
      message: `inter-arrival times must be > 0 s, but every sample is <= ${top}, ${never}`,
      path: field ? [field] : [],
    };
  if (d.is_int && top < 0.5)
    return {
      message: `inter-arrival times must be > 0 s, but is_int rounds every sample to 0, ${never}`,
      path: ["is_int"],
    };
  return undefined;
}

/** A distribution config valid as inter-arrival times (> 0 s at least sometimes; see interArrivalProblem). */
export const interArrivalConfigSchema = distributionConfigSchema.superRefine((d, ctx) => {
  const problem = interArrivalProblem(d);
  if (problem) ctx.addIssue({ code: "custom", message: problem.message, path: problem.path });
});

/**
 * Zero gaps in a row after which an inter-arrival distribution is taken to never advance (the
 * config check catches the certain cases; this bounds the nearly-certain ones, e.g. an Empirical
 * list of zeros with one tiny value).
 */
export const MAX_ZERO_GAPS_IN_A_ROW = 1_000_000;

/**
 * An inter-arrival distribution in seconds. `Poisson` here means a Poisson arrival PROCESS of
 * `rate` requests/s (or one every `mean` seconds), whose gaps are exponential. `what` names it in
 * the error a plan that stops advancing gets (MAX_ZERO_GAPS_IN_A_ROW).
 */
export function makeInterArrival(
  config: DistributionConfig,
  what = "inter_arrival_time_dist_config",
): Distribution {
  const { rate, mean, ...rest } = config as Extract<DistributionConfig, { type: "Poisson" }>;
  const inner = makeDistribution(
    config.type === "Poisson" ? { ...rest, type: "Exponential", mean: mean ?? 1 / rate! } : config,
  );
  let zeros = 0;
  return {
    config: inner.config,
    sample(rng) {
      const x = inner.sample(rng);
      if (x > 0) zeros = 0;
      else if (++zeros >= MAX_ZERO_GAPS_IN_A_ROW)
        throw new UsageError(
          `${what}: ${MAX_ZERO_GAPS_IN_A_ROW} inter-arrival times in a row were <= 0 s: the plan would never advance; make them > 0`,
        );
      return x;
    },
  };
}
