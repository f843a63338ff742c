import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createLogger, type Logger } from "@symphony/runtime";
import type { ThinkTimeKind } from "@symphony/workloadgen/domain";
import { searchCapacity } from "../domain/capacity-search";
import { inProcessRunner, type PointRunner, type RegimePointJob } from "../point-runner";
import type { RegimeConfig } from "./config";
import { STOCK_CONFIGURATIONS, type StockConfiguration } from "./configurations";
import { capacityCsv, pointsCsv, regimeMarkdown } from "./report";
import type { CapacityResult, RegimeResult } from "./results";
import { cpuTokensOf, engineFacts, type Regime, type RegimePoint } from "./sim-point";

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

/**
 * Measures one regime point: the unloaded reference, every configuration's two capacities, the
 * fixed load. Independent points are asked for at once (the runner's jobs decide how many run
 * together); results, and `points` in the order a one-at-a-time run measures them, do not depend
 * on which finishes first.
 */
export async function runRegime(
  c: RegimeConfig,
  profile: string,
  thinkTime: ThinkTimeKind,
  logger: Logger,
  onPoint: () => void = () => {},
  runner: PointRunner = inProcessRunner(),
): Promise<RegimeResult> {
  const regime = regimeOf(c, profile, thinkTime);
  const name = `${profile}, ${c.gpus} GPUs, ${thinkTime}`;
  // One progress line per point here; the simulator's own lines only when debugging.
  const simLogger = createLogger("simulator", c.logLevel === "debug" ? "debug" : "warn");
  const keyOf = (config: string, sessions: number, seed: number, r: Regime) =>
    `${config}/${sessions}/${seed}/${r.warmupTiming}/${r.hintEtaError}/${r.durationS}`;
  // A point asked for twice (two searches, or a search and the fixed load) runs once.
  const asked = new Map<string, Promise<RegimePoint>>();
  const measured = new Map<string, RegimePoint>();
  const measure = (
    config: StockConfiguration,
    sessions: number,
    seed: number,
    r: Regime = regime,
    priority = 1,
  ): Promise<RegimePoint> => {
    const key = keyOf(config.name, sessions, seed, r);
    const known = asked.get(key);
    if (known) return known;
    const job: RegimePointJob = { kind: "regime-point", regime: r, config: config.name, sessions, seed };
    const p = runner.run(job, simLogger, priority).then((p) => {
      measured.set(key, p);
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
    });
    asked.set(key, p);
    return p;
  };

  const baseline = STOCK_CONFIGURATIONS[0]!;
  // The reference runs UNLOADED_DURATION_FACTOR times longer: a few users send few requests.
  const long = {
    ...regime,
    durationS: regime.durationS * UNLOADED_DURATION_FACTOR,
    warmupS: regime.warmupS,
  };
  const unloadedSessions = c.unloadedSessionsPerGpu * c.gpus;
  // Searches wait on the reference and on their own probes: they go ahead of the fixed load.
  const unloadedP = Promise.all(
    c.seeds.map(async (seed) => {
      const p = await measure(baseline, unloadedSessions, seed, long, 0);
      return {
        seed,
        sessions: unloadedSessions,
        duration_s: long.durationS,
        normalized_latency_ms: p.normalized_latency_ms,
        e2el_mean_ms: p.e2el_mean_ms,
        ttft_p99_ms: p.ttft_p99_ms,
      };
    }),
  );

  // Each search starts where the last one of its criterion ended: capacities of neighbouring
  // configurations and seeds are close, so a 25 % step brackets them in a few points. So each
  // criterion's searches run one after another; the two criteria's chains run side by side.
  const chain = async (criterion: "slo" | "latency"): Promise<CapacityResult[]> => {
    const found: CapacityResult[] = [];
    let warm: number | undefined;
    for (const config of c.capacity ? c.configs : []) {
      for (const seed of c.seeds) {
        const unloadedMs =
          criterion === "latency"
            ? (await unloadedP).find((u) => u.seed === seed)!.normalized_latency_ms
            : NaN;
        const search = await searchCapacity(
          {
            start: Math.min(c.searchMax, Math.max(1, warm ?? c.searchStart)),
            max: c.searchMax,
            relTolerance: c.searchTolerance,
            absTolerance: 1,
            growth: warm === undefined ? 2 : 1.25,
          },
          async (n) => {
            const p = await measure(config, n, seed, regime, 0);
            return criterion === "slo"
              ? meetsSlo(p, c.sloP99TtftMs)
              : meetsLatency(p, unloadedMs, c.latencyTolerance);
          },
        );
        if (search.capacity > 0) warm = search.capacity;
        found.push({ config: config.name, seed, criterion, search });
      }
    }
    return found;
  };

  const fixedSessions = c.fixedSessionsPerGpu * c.gpus;
  const fixedAsked =
    c.fixedSessionsPerGpu > 0 ? c.configs.flatMap((config) => c.seeds.map((seed) => ({ config, seed }))) : [];
  const warmup = c.configs.find((x) => x.name === "warmup");
  const variantsAsked =
    c.fixedSessionsPerGpu > 0 && warmup && c.hintVariants
      ? (["at-hint", "just-in-time"] as const).flatMap((timing) =>
          [0, 0.5].map((hintEtaError) => ({
            timing,
            hintEtaError,
            r: { ...regime, warmupTiming: timing, hintEtaError },
          })),
        )
      : [];
  const [unloaded, slo, latency, fixed, variants] = await Promise.all([
    unloadedP,
    chain("slo"),
    chain("latency"),
    Promise.all(fixedAsked.map(({ config, seed }) => measure(config, fixedSessions, seed))),
    Promise.all(
      variantsAsked.map(async ({ timing, hintEtaError, r }) => ({
        timing,
        hintEtaError,
        points: await Promise.all(c.seeds.map((seed) => measure(warmup!, fixedSessions, seed, r))),
      })),
    ),
  ]);
  // Configuration by configuration, seed by seed, the SLO's search then the latency bound's.
  const capacities = slo.flatMap((k, i) => [k, latency[i]!]);
  // Every point once, in the order of a one-at-a-time run: the reference, each search's probes,
  // the fixed load, the variants.
  const order = [
    ...c.seeds.map((seed) => keyOf(baseline.name, unloadedSessions, seed, long)),
    ...capacities.flatMap((k) => k.search.probes.map((n) => keyOf(k.config, n, k.seed, regime))),
    ...fixedAsked.map(({ config, seed }) => keyOf(config.name, fixedSessions, seed, regime)),
    ...variantsAsked.flatMap(({ r }) => c.seeds.map((seed) => keyOf("warmup", fixedSessions, seed, r))),
  ];
  const points = [...new Set(order)].map((key) => measured.get(key)!);
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
  runner: PointRunner = inProcessRunner(),
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
  // Every regime at once (their points share the runner); outputs in the regimes' order.
  const regimes = c.profiles.flatMap((profile) =>
    c.thinkTimes.map((thinkTime) => runRegime(c, profile, thinkTime, logger, undefined, runner)),
  );
  // A later regime's failure is reported when its turn comes, not as an unhandled rejection.
  for (const r of regimes) r.catch(() => {});
  for (const r of regimes) {
    results.push(await r);
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
        // Without --jobs, which changes no result.
        config: { ...c, jobs: undefined, configs: c.configs.map((x) => x.name) },
        regimes: results,
      },
      null,
      2,
    ) + "\n",
  );
  return md;
}
