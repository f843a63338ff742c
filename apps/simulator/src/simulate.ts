import { VirtualTimers } from "@symphony/common";
import {
  EXACT_RECORDS_LIMIT,
  prepareOutDir,
  RunOutputs,
  SummaryAccumulator,
  type RunSummary,
} from "@symphony/measure";
import { type Logger } from "@symphony/runtime";
import {
  ChatTemplate,
  coefficientsFor,
  OutputPlanner,
  PROFILES,
  StepTimeModel,
} from "@symphony/mock-vllm/domain";
import { LoadRunner, OpenLoopSource } from "@symphony/workloadgen/domain";
import { buildWorkload, runnerOptions } from "@symphony/workloadgen";
import type { SimConfig } from "./config";
import { FastTokenCache, SimulatedCluster, TokenAwareSynthesizer } from "./domain";

/** How the simulation itself went (the "sim stats" of a simulated summary). */
export interface SimStats {
  events_processed: number;
  /** Virtual time from the first to the last event of the run, s. */
  virtual_duration_s: number;
  wall_time_s: number;
  /** virtual / wall: how much faster than real time the run went. */
  speed_ratio: number;
  events_per_s: number;
}

export interface SimResult {
  summary: RunSummary & { simulated: true; sim: SimStats };
}

/** Virtual time advanced per slice of the event loop (progress is checked between slices), µs. */
const SLICE_US = 1_000_000;

/** What tests may change in how a simulation keeps its records (the results never change). */
export interface SimTuning {
  /** Records up to which the summary keeps every record (exact percentiles). Default EXACT_RECORDS_LIMIT. */
  exactRecords?: number;
  /** Start without exact records whatever the estimate says (default: when `likelySends` exceeds the limit). */
  startBounded?: boolean;
}

/**
 * Runs one simulation: workloadgen's LoadRunner and session source against a SimulatedCluster
 * on VirtualTimers, in slices of virtual time so progress can be reported. Writes
 * requests.jsonl, summary.json, summary.csv and report.html to `config.out` when set.
 *
 * A run that ends with more than `exactRecords` records drops its exact records there, unused
 * (the summary comes from histograms): an open loop whose arrivals within the run start at least
 * 5% more sessions than that keeps none from the start instead, for the same files; should it end
 * with fewer records after all, it runs again the usual way (the same seed, the same results).
 */
export async function runSimulation(
  config: SimConfig,
  logger: Logger,
  tuning: SimTuning = {},
): Promise<SimResult> {
  const limit = tuning.exactRecords ?? EXACT_RECORDS_LIMIT;
  // (A limit of 0 keeps no exact records anyway: the usual way below.)
  if (limit > 0 && (tuning.startBounded ?? likelySends(config, Math.ceil(limit * 1.05)) >= limit * 1.05)) {
    logger.info("no exact records from the start: the run is estimated past the limit", { limit });
    const result = await simulate(config, logger, 0, limit);
    if (result) return result;
    logger.info("fewer requests than estimated: simulating again with exact percentiles", { limit });
  }
  return (await simulate(config, logger, limit, limit))!;
}

/**
 * Turns an open-loop run will send (counting at most `cap`), from its arrivals alone: every
 * session that starts before the run stops sends its first turn then. 0 for other workloads and
 * for one shard of a run.
 */
export function likelySends(config: SimConfig, cap: number): number {
  const wl = config.workload;
  if (wl.workload !== "open" || (wl.shard && wl.shard.count > 1)) return 0;
  const arrivals = new OpenLoopSource(wl.clientProfiles, { seed: wl.seed, totalDuration: wl.totalDuration });
  return Math.min(wl.maxRequests, arrivals.countStarts(wl.duration * 1e6 * wl.timeScale, cap));
}

/**
 * The simulation itself, keeping up to `exactRecords` records; with none kept, a run that ends
 * with `limit` records or fewer returns undefined before its summary is written.
 */
async function simulate(
  config: SimConfig,
  logger: Logger,
  exactRecords: number,
  limit: number,
): Promise<SimResult | undefined> {
  const timers = new VirtualTimers();
  const tokens = new FastTokenCache();
  const profile = PROFILES[config.engineInfo.profile]!;
  const cluster = new SimulatedCluster(timers, config.cluster, new StepTimeModel(coefficientsFor(profile)), {
    tokens,
    template: new ChatTemplate(tokens),
    planner: new OutputPlanner(config.engineInfo.seed, config.engineInfo.eosMeanTokens, tokens),
    maxModelLen: config.engineInfo.maxModelLen,
    promptEncoded: (text) => tokens.forget(text),
  });
  const wl = config.workload;
  const workload = buildWorkload(wl);
  if (config.out) prepareOutDir(config.out);
  // The ITL gaps are left out of requests.jsonl: a simulated hour would write millions.
  const outputs = config.out ? new RunOutputs(config.out) : undefined;
  const results = new SummaryAccumulator(1_000_000, wl.seed, true, {
    slo: wl.slo,
    warmupS: wl.warmup,
    cooldownS: wl.cooldown,
    exactRecords,
  });
  let doneAtUs = -1;
  const runner = new LoadRunner(
    {
      timers,
      target: cluster,
      source: workload.source,
      thinkTime: workload.thinkTime,
      synth: new TokenAwareSynthesizer(wl.seed, wl.blockSize, tokens),
    },
    // Deterministic ids: the same seed gives byte-identical requests.jsonl.
    runnerOptions(wl, `sim${wl.seed}`),
    (record) => {
      results.add(record);
      outputs?.writeRequestRecordWithoutItl(record);
    },
    () => {
      doneAtUs = timers.nowUs();
      cluster.stop();
    },
  );

  const t0 = performance.now();
  let events = 0;
  let lastProgress = t0;
  logger.info("simulation started", {
    nodes: config.cluster.nodes,
    policy: config.cluster.routing.policy,
    profile: config.engineInfo.profile,
    workload: wl.workload,
    seed: config.seed,
  });
  cluster.start();
  runner.start();
  while (doneAtUs < 0) {
    events += timers.runUntil(timers.nowUs() + SLICE_US);
    const now = performance.now();
    if (now - lastProgress >= config.progressIntervalS * 1000) {
      lastProgress = now;
      logger.info("progress", {
        virtualS: Math.round(timers.nowUs() / 1e6),
        sent: runner.sent,
        completed: runner.completed,
        failed: runner.failed,
        inFlight: runner.inFlight,
        eventsPerS: Math.round(events / ((now - t0) / 1000)),
      });
      // Let stdout/stderr drain on long runs.
      await new Promise((r) => setImmediate(r));
    }
    if (timers.pendingCount === 0 && doneAtUs < 0) {
      throw new Error("simulation stalled: no events left but the run has not finished (a lost turn)");
    }
  }
  // Whatever is still queued (late advisory calls, node transfers) ends with the periodic timers stopped.
  events += timers.runAll(50_000_000);
  const wallS = (performance.now() - t0) / 1000;
  outputs?.closeRequests();
  const { completed, failed } = results.counts;
  if (exactRecords === 0 && completed + failed <= limit) return undefined;

  const virtualS = doneAtUs / 1e6;
  const sim: SimStats = {
    events_processed: events,
    virtual_duration_s: virtualS,
    wall_time_s: wallS,
    speed_ratio: virtualS / wallS,
    events_per_s: events / wallS,
  };
  const nodeStats = Object.fromEntries(
    cluster.nodes.map((n) => [
      n.nodeId,
      {
        ...n.core.stats,
        engine_steps: n.engine.stats().steps,
        engine_preemptions: n.engine.stats().numPreemptions,
        // Stock-engine figures, only where they exist (directive runs keep their summary).
        ...(n.engine.stats().offload && { engine_offload: n.engine.stats().offload }),
        ...(n.warmupStats && { warmups: n.warmupStats }),
      },
    ]),
  );
  const summary = {
    ...results.summary(virtualS),
    simulated: true as const,
    sim,
    run_id: `sim${wl.seed}`,
    target: {
      kind: "simulated",
      address: `${config.cluster.nodes} simulated nodes, ${config.cluster.routing.policy}`,
    },
    hints: { ...cluster.counters, sent: wl.hints },
    workload_info: workload.info,
    nodes: nodeStats,
    cluster: {
      nodes: config.cluster.nodes,
      policy: config.cluster.routing.policy,
      residency_policy: config.cluster.node.residencyPolicy,
      kv_budget_tokens: config.cluster.node.gpuBudgetTokens,
      engine: { ...config.engineInfo, ...config.cluster.engine },
      network: config.cluster.network,
    },
    config: {
      ...wl,
      duration: Number.isFinite(wl.duration) ? wl.duration : null,
      maxRequests: Number.isFinite(wl.maxRequests) ? wl.maxRequests : null,
    },
  };
  outputs?.writeSummary(
    summary,
    results.chartSource(summary.duration_s),
    "Symphony simulation (simulated run)",
  );
  return { summary };
}
