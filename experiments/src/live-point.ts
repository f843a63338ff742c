import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "@symphony/runtime";
import { bundlePath, runCli, startLocalStack, type LocalStack } from "@symphony/testkit";
import type { Configuration } from "./configurations";
import { figuresOf, type KvMovement, type PointResult } from "./domain/point-metrics";
import type { Scale } from "./scale";
import { BLOCK_SIZE, ENGINE_PROFILE, parseRecords } from "./sim-point";

/** The node-scheduler counters summed into a `KvMovement`, by Prometheus metric name. */
const KV_COUNTERS: Record<keyof KvMovement, string> = {
  offloads: "symphony_node_offloads_total",
  offload_bytes: "symphony_node_offload_bytes_total",
  prefetches: "symphony_node_prefetches_total",
  prefetch_bytes: "symphony_node_prefetch_bytes_total",
  restores: "symphony_node_restores_total",
  restore_bytes: "symphony_node_restore_bytes_total",
  evictions: "symphony_node_evictions_total",
  evicted_bytes: "symphony_node_evicted_bytes_total",
};

/** Sum of every sample of `name` (any labels) in a Prometheus text exposition. */
export function sumMetric(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== " " && rest[0] !== "{") continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

async function scrapeKv(stack: LocalStack): Promise<KvMovement> {
  const kv = Object.fromEntries(Object.keys(KV_COUNTERS).map((k) => [k, 0])) as unknown as KvMovement;
  for (const node of stack.nodes) {
    const res = await fetch(`http://127.0.0.1:${node.ports.metrics}/metrics`);
    const text = await res.text();
    for (const [key, metric] of Object.entries(KV_COUNTERS))
      kv[key as keyof KvMovement] += sumMetric(text, metric);
  }
  return kv;
}

/** Starts the local stack (N mock engines + node-schedulers + scheduler) with this configuration's knobs. */
export function startStackFor(scale: Scale, config: Configuration, seed: number): Promise<LocalStack> {
  return startLocalStack({
    nodes: scale.nodes,
    timeScale: scale.engineTimeScale,
    // The simulator models a directive engine (node-directed residency): so does the live point.
    engine: "directive",
    mockArgs: [
      "--profile",
      ENGINE_PROFILE,
      "--block-size",
      String(BLOCK_SIZE),
      "--num-gpu-blocks",
      String(Math.ceil(scale.kvTokens / BLOCK_SIZE)),
      // The engine refuses to start unless one max-length sequence fits its KV cache.
      "--max-model-len",
      String(scale.kvTokens),
      "--eos-mean-tokens",
      "0",
      "--seed",
      String(seed),
    ],
    nodeArgs: [
      "--kv-budget-tokens",
      String(scale.kvTokens),
      "--cpu-budget-tokens",
      String(config.cpuTier ? scale.cpuTokens : 0),
      "--residency-policy",
      config.residencyPolicy,
    ],
    // No --log-level warn: testkit waits for each service's info-level "listening" line.
    schedulerArgs: ["--policy", config.routing],
  });
}

/**
 * One live point on a running stack: the built workloadgen bundle plays `sessions` closed-loop
 * users for `scale.durationS` s; figures come from its requests.jsonl, KV movement from the
 * node-schedulers' /metrics (difference before/after).
 */
export async function runLivePoint(
  stack: LocalStack,
  scale: Scale,
  config: Configuration,
  sessions: number,
  datasetPath: string,
  seed: number,
  logger: Logger,
): Promise<PointResult> {
  const out = mkdtempSync(join(tmpdir(), "symphony-effect-live-"));
  try {
    const before = await scrapeKv(stack);
    const t0 = performance.now();
    const args = [
      "--target",
      `grpc://${stack.schedulerAddress}`,
      "--workload",
      "closed",
      "--dataset",
      datasetPath,
      "--num-clients",
      String(sessions),
      "--duration",
      String(scale.durationS),
      "--time-scale",
      String(scale.thinkTimeScale),
      "--seed",
      String(seed),
      "--out",
      out,
      "--log-level",
      "warn",
      ...(config.hints ? [] : ["--no-hints"]),
    ];
    const run = await runCli(bundlePath("workloadgen"), args, (scale.durationS + 120) * 1000);
    if (run.code !== 0)
      throw new Error(
        `workloadgen exited with ${run.code} (${config.name}, ${sessions} sessions): ${run.stderr.slice(-2000)}`,
      );
    const wallS = (performance.now() - t0) / 1000;
    const after = await scrapeKv(stack);
    const kv = Object.fromEntries(
      Object.keys(KV_COUNTERS).map((k) => [k, after[k as keyof KvMovement] - before[k as keyof KvMovement]]),
    ) as unknown as KvMovement;
    const records = parseRecords(readFileSync(join(out, "requests.jsonl"), "utf8"));
    const figures = figuresOf(records, scale.warmupS * 1000, scale.durationS * 1000);
    logger.debug("live point done", { config: config.name, sessions, records: records.length });
    return { mode: "live", config: config.name, sessions, wall_s: wallS, ...figures, ...kv };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
