import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createLogger, type Logger } from "@symphony/runtime";
import type { ThinkTimeKind } from "@symphony/workloadgen/domain";
import { searchCapacity } from "../domain/capacity-search";
import type { RegimeConfig } from "./config";
import { STOCK_CONFIGURATIONS, type StockConfiguration } from "./configurations";
import { capacityCsv, pointsCsv, regimeMarkdown } from "./report";
import { cpuTokensOf, engineFacts, runRegimePoint, type Regime, type RegimePoint } from "./sim-point";
import type { CapacityResult, HintVariant, RegimeResult } from "./results";

export type { CapacityResult, HintVariant, RegimeResult } from "./results";

/** How much longer the unloaded reference point runs than the others. */
export const UNLOADED_DURATION_FACTOR = 8;

/** The regime point of `profile` × `thinkTime` under the experiment's shared settings. */
export function regimeOf(c: RegimeConfig, profile: string, thinkTime: ThinkTimeKind): Regime {
  const facts = engineFacts(profile);
  return {
    profile,
    gpus: c.gpus,
    thinkTime,
    chats: {
      ...c.chats,
      maxContextTokens:
        c.chats.maxContextTokens > 0 ? c.chats.maxContextTokens : Math.floor(0.85 * facts.maxModelLen),
    },
    cpuOffloadGiB: c.cpuOffloadGiB,
    warmupTiming: c.warmupTiming,
    hintEtaError: c.hintEtaError,
    durationS: c.windows[thinkTime].durationS,
    warmupS: c.windows[thinkTime].warmupS,
  };
}

/** A point passes the SLO criterion when nothing failed and its p99 TTFT is within the SLO. */
export function meetsSlo(p: RegimePoint, sloMs: number): boolean {
  return p.completed > 0 && p.failed === 0 && p.ttft_p99_ms <= sloMs;
}

/**
 * ... the latency criterion when nothing failed and its mean normalized latency (ms per output
 * token) is within `tolerance` above unloaded vLLM's `unloadedMs`.
 */
export function meetsLatency(p: RegimePoint, unloadedMs: number, tolerance: number): boolean {
  return p.completed > 0 && p.failed === 0 && p.normalized_latency_ms <= unloadedMs * (1 + tolerance);
}

/** Measures one regime point: the unloaded reference, every configuration's two capacities, the fixed load. */
export async function runRegime(
  c: RegimeConfig,
  profile: string,
  thinkTime: ThinkTimeKind,
  logger: Logger,
  onPoint: () => void = () => {},
): Promise<RegimeResult> {
  const regime = regimeOf(c, profile, thinkTime);
  const name = `${profile}, ${c.gpus} GPUs, ${thinkTime}`;
  const points: RegimePoint[] = [];
  // One progress line per point here; the simulator's own lines only when debugging.
  const simLogger = createLogger("simulator", c.logLevel === "debug" ? "debug" : "warn");
  const cache = new Map<string, RegimePoint>();
  const measure = async (
    config: StockConfiguration,
    sessions: number,
    seed: number,
    r: Regime = regime,
  ): Promise<RegimePoint> => {
    const key = `${config.name}/${sessions}/${seed}/${r.warmupTiming}/${r.hintEtaError}/${r.durationS}`;
    const hit = cache.get(key);
    if (hit) return hit;
    const p = await runRegimePoint(r, config, sessions, seed, simLogger);
    cache.set(key, p);
    points.push(p);
    logger.info("point", {
      regime: name,
      config: config.name,
      sessions,
      seed,
      ttftP99Ms: Math.round(p.ttft_p99_ms),
      e2elMeanMs: Math.round(p.e2el_mean_ms),
      normLatencyMs: Number(p.normalized_latency_ms.toFixed(1)),
      gpuHit: Number(p.gpu_hit_rate.toFixed(3)),
      failed: p.failed,
      wallS: Number(p.wall_s.toFixed(1)),
    });
    onPoint();
    return p;
  };

  const baseline = STOCK_CONFIGURATIONS[0]!;
  const unloaded: RegimeResult["unloaded"] = [];
  // The reference runs UNLOADED_DURATION_FACTOR times longer: a few users send few requests.
  const long = {
    ...regime,
    durationS: regime.durationS * UNLOADED_DURATION_FACTOR,
    warmupS: regime.warmupS,
  };
  for (const seed of c.seeds) {
    const sessions = c.unloadedSessionsPerGpu * c.gpus;
    const p = await measure(baseline, sessions, seed, long);
    unloaded.push({
      seed,
      sessions,
      duration_s: long.durationS,
      normalized_latency_ms: p.normalized_latency_ms,
      e2el_mean_ms: p.e2el_mean_ms,
      ttft_p99_ms: p.ttft_p99_ms,
    });
  }

  const capacities: CapacityResult[] = [];
  // Each search starts where the last one of its criterion ended: capacities of neighbouring
  // configurations and seeds are close, so a 25 % step brackets them in a few points.
  const lastFound: Record<"slo" | "latency", number | undefined> = { slo: undefined, latency: undefined };
  for (const config of c.capacity ? c.configs : []) {
    for (const seed of c.seeds) {
      const unloadedMs = unloaded.find((u) => u.seed === seed)!.normalized_latency_ms;
      for (const criterion of ["slo", "latency"] as const) {
        const warm = lastFound[criterion];
        const search = await searchCapacity(
          {
            start: Math.min(c.searchMax, Math.max(1, warm ?? c.searchStart)),
            max: c.searchMax,
            relTolerance: c.searchTolerance,
            absTolerance: 1,
            growth: warm === undefined ? 2 : 1.25,
          },
          async (n) => {
            const p = await measure(config, n, seed);
            return criterion === "slo"
              ? meetsSlo(p, c.sloP99TtftMs)
              : meetsLatency(p, unloadedMs, c.latencyTolerance);
          },
        );
        if (search.capacity > 0) lastFound[criterion] = search.capacity;
        capacities.push({ config: config.name, seed, criterion, search });
      }
    }
  }

  const fixed: RegimePoint[] = [];
  const variants: HintVariant[] = [];
  if (c.fixedSessionsPerGpu > 0) {
    for (const config of c.configs)
      for (const seed of c.seeds) fixed.push(await measure(config, c.fixedSessionsPerGpu * c.gpus, seed));
    const warmup = c.configs.find((x) => x.name === "warmup");
    if (warmup && c.hintVariants) {
      for (const timing of ["at-hint", "just-in-time"] as const)
        for (const hintEtaError of [0, 0.5]) {
          const r = { ...regime, warmupTiming: timing, hintEtaError };
          const vs: RegimePoint[] = [];
          for (const seed of c.seeds) vs.push(await measure(warmup, c.fixedSessionsPerGpu * c.gpus, seed, r));
          variants.push({ timing, hintEtaError, points: vs });
        }
    }
  }
  return {
    name,
    profile,
    thinkTime,
    regime,
    kvTokensPerGpu: engineFacts(profile).kvTokens,
    cpuTokensPerGpu: cpuTokensOf(profile, c.cpuOffloadGiB),
    unloaded,
    capacities,
    fixed,
    variants,
    points,
  };
}

/** Runs every regime point and writes results/paper-regime-<timestamp>/ (rewritten after each regime). */
export async function runPaperRegime(
  c: RegimeConfig,
  logger: Logger,
  write: (s: string) => void,
): Promise<RegimeResult[]> {
  const startedAt = new Date().toISOString();
  const dir = resolve(c.outDir, `paper-regime-${startedAt.replaceAll(":", "-").replace(/\.\d+Z$/, "Z")}`);
  mkdirSync(dir, { recursive: true });
  logger.info("experiment started", {
    out: dir,
    profiles: c.profiles,
    thinkTimes: c.thinkTimes,
    seeds: c.seeds,
  });
  const t0 = performance.now();
  const results: RegimeResult[] = [];
  for (const profile of c.profiles)
    for (const thinkTime of c.thinkTimes) {
      results.push(await runRegime(c, profile, thinkTime, logger));
      writeOutputs(dir, c, results, startedAt, (performance.now() - t0) / 1000);
    }
  const md = writeOutputs(dir, c, results, startedAt, (performance.now() - t0) / 1000);
  write(md);
  write(
    `\nwrote ${dir}/{results.md,results.json,capacity.csv,points.csv} in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`,
  );
  return results;
}

function writeOutputs(
  dir: string,
  c: RegimeConfig,
  results: RegimeResult[],
  startedAt: string,
  wallS: number,
): string {
  const md = regimeMarkdown(c, results, startedAt, wallS);
  writeFileSync(join(dir, "results.md"), md);
  writeFileSync(join(dir, "capacity.csv"), capacityCsv(results));
  writeFileSync(join(dir, "points.csv"), pointsCsv(results));
  writeFileSync(
    join(dir, "results.json"),
    JSON.stringify(
      {
        experiment: c.experiment,
        started_at: startedAt,
        wall_s: wallS,
        config: { ...c, configs: c.configs.map((x) => x.name) },
        regimes: results,
      },
      null,
      2,
    ) + "\n",
  );
  return md;
}
