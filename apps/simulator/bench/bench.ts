/**
 * Speed benchmark: one hour of ~100 requests/s open-loop traffic (360,000 requests)
 * on 8 simulated nodes (examples/cluster.yaml) must finish in under 60 s of wall time.
 * Prints the figures as JSON and exits 1 when the target is missed.
 *
 *   npm run bench -w @symphony/simulator            # the full hour
 *   BENCH_DURATION_S=300 npm run bench -w @symphony/simulator   # a shorter slice
 */
import { setFlagsFromString } from "node:v8";
import { join } from "node:path";
import { createLogger } from "@symphony/runtime";
import { parseConfig } from "../src/config";
import { runSimulation } from "../src/simulate";

setFlagsFromString("--max-semi-space-size=64");

const TARGET_WALL_S = 60;

async function main(): Promise<void> {
  const durationS = Number(process.env.BENCH_DURATION_S ?? 3600);
  const config = parseConfig([
    "--config",
    join(__dirname, "..", "..", "..", "apps", "simulator", "examples", "cluster.yaml"),
    "--duration",
    String(durationS),
    "--progress-interval",
    "10",
  ]);
  const { summary } = await runSimulation(config, createLogger("simulator-bench", "info"));
  const s = summary.sim;
  // The target scales with the simulated span: 60 s of wall per hour of traffic.
  const targetS = (TARGET_WALL_S * durationS) / 3600;
  const result = {
    nodes: config.cluster.nodes,
    virtual_duration_s: s.virtual_duration_s,
    requests: summary.completed + summary.failed,
    output_tokens: summary.total_completion_tokens,
    events_processed: s.events_processed,
    wall_time_s: s.wall_time_s,
    speed_ratio: s.speed_ratio,
    events_per_s: s.events_per_s,
    target_wall_s: targetS,
    met: s.wall_time_s < targetS,
  };
  process.stdout.write(JSON.stringify(result, null, 2) + "\n");
  if (!result.met) process.exitCode = 1;
}

void main();
