import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createLogger, type Logger } from "@symphony/runtime";
import { bundlePath, runCli, startLocalStack, type LocalStack } from "@symphony/testkit";
import { figuresOf, type LatencyFigures, type RecordLine } from "../domain/point-metrics";
import { returningTurns, type NodeRecordLine, type ReturningTurns } from "../domain/returning-turns";
import { sumMetric } from "../live-point";
import { parseRecords } from "../sim-point";
import type { RegimeConfig } from "./config";
import { STOCK_CONFIGURATIONS, type StockConfiguration } from "./configurations";
import { regimeOf } from "./run";
import { BLOCK_SIZE, clusterFileFor, runRegimePoint, type Regime, type RegimePoint } from "./sim-point";

/** The live point's configurations: 1 (round-robin, no offload, no warm-ups) and 4 (affinity, offload, warm-ups). */
export const LIVE_CONFIGS = ["round-robin", "warmup"] as const;

/** The live point: its size and how much faster than real time it runs. */
export interface LiveShape {
  readonly sessionsPerGpu: number;
  /** Virtual seconds of traffic (the simulated point's duration); the live run lasts this / timeScale. */
  readonly durationS: number;
  /** Engine durations and think times are both divided by this. */
  readonly timeScale: number;
}

/** One configuration measured live and simulated, live times converted to virtual ms (× timeScale). */
export interface LiveComparison {
  readonly config: string;
  readonly live: RegimePoint;
  readonly sim: RegimePoint;
  /** How returning turns found their context and where TTFT went, counted alike in both runs. */
  readonly liveTurns: ReturningTurns;
  readonly simTurns: ReturningTurns;
}

const WARMUP_OUTCOMES = ["sent", "useful", "wasted"] as const;

/** symphony_node_warmups_total{outcome} summed over the nodes. */
async function scrapeWarmups(stack: LocalStack): Promise<Record<(typeof WARMUP_OUTCOMES)[number], number>> {
  const out = { sent: 0, useful: 0, wasted: 0 };
  for (const node of stack.nodes) {
    const text = await (await fetch(`http://127.0.0.1:${node.ports.metrics}/metrics`)).text();
    for (const o of WARMUP_OUTCOMES) out[o] += sumMetric(text, `symphony_node_warmups_total{outcome="${o}"}`);
  }
  return out;
}

/** Node timers that the simulator reads in virtual time, divided by `timeScale` for the live run. */
function scaledNodeTimers(timeScale: number): string[] {
  const ms = (v: number) => String(Math.max(0, Math.round(v / timeScale)));
  return ["--warmup-lead-ms", ms(500), "--warmup-min-gap-ms", ms(1000), "--hint-stale-ms", ms(10_000)];
}

/** The stock stack of `config`: mock-vllm with KV events, offload only in 4; nodes off (1) or warmup (4). */
export function startStockStack(
  regime: Regime,
  config: StockConfiguration,
  timeScale: number,
  seed: number,
): Promise<LocalStack> {
  return startLocalStack({
    nodes: regime.gpus,
    timeScale,
    engine: "stock",
    mockArgs: [
      ...["--profile", regime.profile, "--block-size", String(BLOCK_SIZE)],
      ...["--eos-mean-tokens", "0", "--seed", String(seed)],
      // Later flags win: local-stack's stock engines offload 8 GiB by default.
      ...["--kv-offloading-size", String(config.engineOffload ? regime.cpuOffloadGiB : 0)],
    ],
    nodeArgs: [
      ...["--prefetch-mode", config.prefetchMode, "--warmup-timing", regime.warmupTiming],
      ...["--residency-policy", config.residencyPolicy],
      ...scaledNodeTimers(timeScale),
    ],
    schedulerArgs: ["--policy", config.routing],
  });
}

/** Latency figures in virtual ms: live wall times × timeScale. */
function toVirtual(f: LatencyFigures, timeScale: number): LatencyFigures {
  return {
    ...f,
    request_throughput: f.request_throughput / timeScale,
    output_token_throughput: f.output_token_throughput / timeScale,
    ttft_mean_ms: f.ttft_mean_ms * timeScale,
    ttft_p50_ms: f.ttft_p50_ms * timeScale,
    ttft_p99_ms: f.ttft_p99_ms * timeScale,
    e2el_mean_ms: f.e2el_mean_ms * timeScale,
    e2el_p99_ms: f.e2el_p99_ms * timeScale,
  };
}

/** Runs `config` live at the regime's point: workloadgen's generated chats against the stock stack. */
export async function runLiveRegimePoint(
  regime: Regime,
  config: StockConfiguration,
  sessions: number,
  timeScale: number,
  seed: number,
  logger: Logger,
): Promise<{ point: RegimePoint; turns: ReturningTurns }> {
  const out = mkdtempSync(join(tmpdir(), "paper-regime-live-"));
  const stack = await startStockStack(regime, config, timeScale, seed);
  try {
    const { workload } = clusterFileFor(regime, config, sessions, seed);
    const configFile = join(out, "workload.json");
    writeFileSync(
      configFile,
      JSON.stringify({ workload: { ...workload, duration: regime.durationS / timeScale } }),
    );
    const wallDurationS = regime.durationS / timeScale;
    const t0 = performance.now();
    const run = await runCli(
      bundlePath("workloadgen"),
      [
        ...["--config", configFile, "--target", `grpc://${stack.schedulerAddress}`],
        ...["--time-scale", String(timeScale), "--out", out, "--log-level", "warn"],
        ...(config.hints ? [] : ["--no-hints"]),
      ],
      (wallDurationS + 120) * 1000,
    );
    if (run.code !== 0)
      throw new Error(
        `workloadgen exited with ${run.code} (${config.name} live): ${run.stderr.slice(-2000)}`,
      );
    const wallS = (performance.now() - t0) / 1000;
    const warmups = await scrapeWarmups(stack);
    const records = parseRecords(readFileSync(join(out, "requests.jsonl"), "utf8"));
    const windowMs = (s: number) => (s * 1000) / timeScale;
    const figures = toVirtual(
      figuresOf(records, windowMs(regime.warmupS), windowMs(regime.durationS)),
      timeScale,
    );
    let normSum = 0;
    let normN = 0;
    for (const r of records) {
      if (r.error !== null || r.sent_ms < windowMs(regime.warmupS) || r.sent_ms >= windowMs(regime.durationS))
        continue;
      if (r.completion_tokens < 1) continue;
      normSum += (r.e2el_ms * timeScale) / r.completion_tokens;
      normN++;
    }
    const errors = new Map<string, number>();
    for (const r of records) if (r.error !== null) errors.set(r.error, (errors.get(r.error) ?? 0) + 1);
    logger.debug("live point done", { config: config.name, sessions, records: records.length });
    if (errors.size > 0)
      logger.info("live point errors", { config: config.name, errors: Object.fromEntries(errors) });
    const turns = returningTurns(
      records as NodeRecordLine[],
      windowMs(regime.warmupS),
      windowMs(regime.durationS),
      BLOCK_SIZE,
    );
    const point: RegimePoint = {
      config: config.name,
      sessions,
      seed,
      ...figures,
      normalized_latency_ms: normN > 0 ? normSum / normN : NaN,
      warmups_sent: warmups.sent,
      warmups_useful: warmups.useful,
      warmups_wasted: warmups.wasted,
      cpu_to_gpu_bytes: 0,
      wall_s: wallS,
    };
    return {
      point,
      turns: {
        ...turns,
        queue_mean_ms: turns.queue_mean_ms * timeScale,
        ttft_after_queue_mean_ms: turns.ttft_after_queue_mean_ms * timeScale,
      },
    };
  } finally {
    await stack.stop();
    rmSync(out, { recursive: true, force: true });
  }
}

const f0 = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "-");
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "-");

/** The side-by-side table: live, simulated and live/sim per figure. */
export function liveMarkdown(regime: Regime, shape: LiveShape, rows: readonly LiveComparison[]): string {
  const lines = [
    `# paper-regime, live point beside its simulation`,
    "",
    `${regime.profile}, ${regime.gpus} GPUs (mock-vllm stock engines with KV events), ${shape.sessionsPerGpu * regime.gpus} sessions, ` +
      `${regime.thinkTime} think times, ShareGPT-like chats; ${shape.durationS} virtual s (figures after ${regime.warmupS} s). ` +
      `Live runs ${shape.timeScale}× faster than real time (mock-vllm --time-scale and workloadgen --time-scale ${shape.timeScale}: ` +
      `${(shape.durationS / shape.timeScale).toFixed(0)} s wall); its times are shown × ${shape.timeScale}, so process and loopback overheads are inflated ${shape.timeScale}×.`,
    "",
    "| config | mode | completed | failed | TTFT p50 ms | TTFT mean ms | TTFT p99 ms | E2EL mean ms | context cached (returning) | warm-ups sent | useful | wasted |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  const row = (c: string, mode: string, p: RegimePoint, t: ReturningTurns) =>
    `| ${c} | ${mode} | ${p.completed} | ${p.failed} | ${f0(p.ttft_p50_ms)} | ${f0(p.ttft_mean_ms)} | ${f0(p.ttft_p99_ms)} | ${f0(p.e2el_mean_ms)} | ${f2(t.context_cached)} | ${p.warmups_sent} | ${p.warmups_useful} | ${p.warmups_wasted} |`;
  for (const r of rows) {
    const { live, sim } = r;
    lines.push(row(r.config, "live", live, r.liveTurns), row(r.config, "sim", sim, r.simTurns));
    lines.push(
      `| ${r.config} | live/sim | ${f2(live.completed / sim.completed)} | | ${f2(live.ttft_p50_ms / sim.ttft_p50_ms)} | ${f2(live.ttft_mean_ms / sim.ttft_mean_ms)} | ${f2(live.ttft_p99_ms / sim.ttft_p99_ms)} | ${f2(live.e2el_mean_ms / sim.e2el_mean_ms)} | ${f2(r.liveTurns.context_cached / r.simTurns.context_cached)} | | | |`,
    );
  }
  lines.push(
    "",
    'Returning turns and TTFT, counted alike from both runs\' records. "Context cached" is what the engine served: ' +
      "`cached_tokens` covering every full block of the previous turn's context (GPU prefix cache, or a CPU-tier load " +
      "where the engine offloads). The record's `kv_tier` is not alike: a simulated stock engine reports where its " +
      "prefix cache found the context as the turn ends, a live node its own accounting as the turn starts (a session " +
      'it has served before counts as on its GPU), so under round-robin it follows "node served the session before". ' +
      "TTFT splits into node queue time and the rest (routing, engine prefill and its wait for a batch slot, " +
      "streaming); the live run's excess over the simulation at p50, in wall ms, is the stack's per-request overhead " +
      `that the live times multiply by ${shape.timeScale}.`,
    "",
    "| config | mode | returning turns | kv_tier gpu | context cached | previous turn on same node | node served the session before | node queue mean ms | TTFT − queue mean ms | TTFT p50 live − sim, wall ms |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  );
  const turnRow = (c: string, mode: string, t: ReturningTurns, excessWallMs: string) =>
    `| ${c} | ${mode} | ${t.returning} | ${f2(t.tier_gpu)} | ${f2(t.context_cached)} | ${f2(t.same_node_as_previous)} | ${f2(t.node_saw_session)} | ${f0(t.queue_mean_ms)} | ${f0(t.ttft_after_queue_mean_ms)} | ${excessWallMs} |`;
  for (const r of rows)
    lines.push(
      turnRow(r.config, "live", r.liveTurns, f1((r.live.ttft_p50_ms - r.sim.ttft_p50_ms) / shape.timeScale)),
      turnRow(r.config, "sim", r.simTurns, ""),
    );
  return lines.join("\n") + "\n";
}

/** Runs configurations 1 and 4 live and simulated at one small point; writes results/paper-regime-live-<timestamp>/. */
export async function runPaperRegimeLive(
  c: RegimeConfig,
  shape: LiveShape,
  logger: Logger,
  write: (s: string) => void,
): Promise<LiveComparison[]> {
  const profile = c.profiles[0]!;
  const thinkTime = c.thinkTimes[0]!;
  const regime: Regime = { ...regimeOf(c, profile, thinkTime), durationS: shape.durationS };
  const seed = c.seeds[0]!;
  const sessions = shape.sessionsPerGpu * c.gpus;
  const simLogger = createLogger("simulator", "warn");
  const rows: LiveComparison[] = [];
  for (const name of LIVE_CONFIGS) {
    const config = STOCK_CONFIGURATIONS.find((x) => x.name === name)!;
    const { point: live, turns: liveTurns } = await runLiveRegimePoint(
      regime,
      config,
      sessions,
      shape.timeScale,
      seed,
      logger,
    );
    let simRecords: readonly RecordLine[] = [];
    const sim = await runRegimePoint(regime, config, sessions, seed, simLogger, (r) => (simRecords = r));
    const simTurns = returningTurns(
      simRecords as NodeRecordLine[],
      regime.warmupS * 1000,
      regime.durationS * 1000,
      BLOCK_SIZE,
    );
    logger.info("live point", {
      config: name,
      sessions,
      liveCompleted: live.completed,
      liveFailed: live.failed,
    });
    rows.push({ config: name, live, sim, liveTurns, simTurns });
  }
  const startedAt = new Date().toISOString();
  const dir = resolve(
    c.outDir,
    `paper-regime-live-${startedAt.replaceAll(":", "-").replace(/\.\d+Z$/, "Z")}`,
  );
  mkdirSync(dir, { recursive: true });
  const md = liveMarkdown(regime, shape, rows);
  writeFileSync(join(dir, "live.md"), md);
  writeFileSync(
    join(dir, "live.json"),
    JSON.stringify(
      { experiment: "paper-regime-live", started_at: startedAt, regime, shape, seed, sessions, points: rows },
      null,
      2,
    ) + "\n",
  );
  write(md);
  write(`\nwrote ${dir}/{live.md,live.json}\n`);
  return rows;
}
