/**
 * Speed benchmark: one hour of ~100 requests/s open-loop traffic (360,000 requests) on 8
 * simulated nodes (examples/cluster.yaml) must finish in under 20 s of wall time. The same hour
 * is then run again the old way (every engine step runs every request, one timer event per step
 * delivers its tokens) in the same process, for the ratio, after an untimed minute of each way
 * (tokenizer loaded, JIT warm); both runs must give the same results.
 * Prints the figures as JSON and exits 1 when the target is missed or the results differ.
 *
 *   npm run bench -w @symphony/simulator                     # the full hour, both ways
 *   BENCH_DURATION_S=300 npm run bench -w @symphony/simulator   # a shorter slice
 *   BENCH_PER_STEP=0 npm run bench -w @symphony/simulator    # fast-forward only
 */
import { setFlagsFromString } from "node:v8";
import { join } from "node:path";
import { createLogger } from "@symphony/runtime";
import { parseConfig, type SimConfig } from "../src/config";
import { runSimulation } from "../src/simulate";

setFlagsFromString("--max-semi-space-size=64");

const TARGET_WALL_S = 20;

async function timed(config: SimConfig, fastForward: boolean) {
  const run: SimConfig = {
    ...config,
    cluster: { ...config.cluster, engine: { ...config.cluster.engine, fastForward } },
  };
  const cpu0 = process.cpuUsage();
  const { summary } = await runSimulation(run, createLogger("simulator-bench", "info"));
  const cpu = process.cpuUsage(cpu0);
  const s = summary.sim;
  return {
    summary,
    figures: {
      wall_time_s: s.wall_time_s,
      // User + system CPU of the process (V8's parallel GC threads included).
      cpu_s: (cpu.user + cpu.system) / 1e6,
      speed_ratio: s.speed_ratio,
      events_processed: s.events_processed,
    },
  };
}

/**
 * The summary without what differs between the two ways by construction: wall time and event
 * counts (`sim`), the temporary config file, and the echoed `fastForward` setting itself.
 */
function results(summary: Awaited<ReturnType<typeof timed>>["summary"]): string {
  const { sim: _sim, ...rest } = summary;
  return JSON.stringify(rest, (k, v: unknown) => (k === "configFile" || k === "fastForward" ? undefined : v));
}

async function main(): Promise<void> {
  const durationS = Number(process.env.BENCH_DURATION_S ?? 3600);
  const args = [
    "--config",
    join(__dirname, "..", "..", "..", "apps", "simulator", "examples", "cluster.yaml"),
    "--duration",
    String(durationS),
    "--progress-interval",
    "10",
  ];
  const config = parseConfig(args);
  // A minute of each way first, untimed: loads the tokenizer and warms the JIT for both.
  const warmup = parseConfig([...args.slice(0, 3), "60", "--log-level", "warn"]);
  await timed(warmup, true);
  await timed(warmup, false);
  const fast = await timed(config, true);
  const perStep = process.env.BENCH_PER_STEP === "0" ? null : await timed(config, false);
  // The target scales with the simulated span: 20 s of wall per hour of traffic.
  const targetS = (TARGET_WALL_S * durationS) / 3600;
  const s = fast.summary;
  const result = {
    nodes: config.cluster.nodes,
    virtual_duration_s: s.sim.virtual_duration_s,
    requests: s.completed + s.failed,
    output_tokens: s.total_completion_tokens,
    fast_forward: fast.figures,
    per_step: perStep?.figures ?? null,
    wall_ratio: perStep ? perStep.figures.wall_time_s / fast.figures.wall_time_s : null,
    cpu_ratio: perStep ? perStep.figures.cpu_s / fast.figures.cpu_s : null,
    same_results: perStep ? results(perStep.summary) === results(s) : null,
    target_wall_s: targetS,
    met: fast.figures.wall_time_s < targetS,
  };
  process.stdout.write(JSON.stringify(result, null, 2) + "\n");
  if (!result.met || result.same_results === false) process.exitCode = 1;
}

void main();
