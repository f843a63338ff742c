import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseWithSchema } from "@symphony/common";
import { type Logger } from "@symphony/runtime";
import { clusterFileSchema, resolveConfig, runSimulation, type ClusterFile } from "@symphony/simulator";
import type { Configuration } from "./configurations";
import {
  figuresOf,
  NO_KV_MOVEMENT,
  type KvMovement,
  type PointResult,
  type RecordLine,
} from "./domain/point-metrics";
import type { Scale } from "./scale";

/** The engine profile of every run (Llama 3.1 8B on one H100, mock-vllm's default profile). */
export const ENGINE_PROFILE = "llama3-8b-h100";
/** vLLM's default KV block size, tokens. */
export const BLOCK_SIZE = 16;

/** Per-node counters of the simulator's summary that this experiment reads (NodeCore stats). */
interface NodeStats {
  offloads: number;
  offloadTokens: number;
  prefetches: number;
  prefetchTokens: number;
  restores: number;
  restoreTokens: number;
  evictions: number;
  evictedTokens: number;
}

export function parseRecords(jsonl: string): RecordLine[] {
  return jsonl
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as RecordLine);
}

/**
 * One simulated point: the simulator's cluster (real Router, NodeCore, EngineCore on virtual time)
 * with this configuration's knobs, `sessions` closed-loop chat users replaying `datasetPath`.
 */
export async function runSimPoint(
  scale: Scale,
  config: Configuration,
  sessions: number,
  datasetPath: string,
  seed: number,
  logger: Logger,
): Promise<PointResult> {
  const workload = {
    type: "closed",
    dataset: datasetPath,
    num_clients: sessions,
    duration: scale.durationS,
    time_scale: scale.thinkTimeScale,
    seed,
  };
  const parsed = parseWithSchema(
    clusterFileSchema,
    {
      nodes: scale.nodes,
      policy: config.routing,
      seed,
      engine: {
        profile: ENGINE_PROFILE,
        block_size: BLOCK_SIZE,
        num_gpu_blocks: Math.ceil(scale.kvTokens / BLOCK_SIZE),
        // The dataset's replies have planned lengths; no sampled early EOS.
        eos_mean_tokens: 0,
        time_scale: scale.engineTimeScale,
      },
      node: {
        kv_budget_tokens: scale.kvTokens,
        cpu_budget_tokens: config.cpuTier ? scale.cpuTokens : 0,
        residency_policy: config.residencyPolicy,
      },
      workload,
    },
    "symphony-effect simulation",
  );
  const file: ClusterFile = parsed;
  const out = mkdtempSync(join(tmpdir(), "symphony-effect-sim-"));
  try {
    const simConfig = resolveConfig(
      file,
      { hints: config.hints },
      { configFile: undefined, out, sweep: [], progressIntervalS: 30, logLevel: "warn" },
    );
    // Guard against the simulator silently falling back to workloadgen's defaults.
    const wl = simConfig.workload;
    if (wl.numClients !== sessions || wl.dataset !== datasetPath || wl.duration !== scale.durationS)
      throw new Error(
        `simulator did not take the experiment's workload (clients ${wl.numClients}, dataset ${wl.dataset}, ` +
          `duration ${wl.duration}); expected ${sessions}, ${datasetPath}, ${scale.durationS}`,
      );
    const t0 = performance.now();
    const { summary } = await runSimulation(simConfig, logger);
    const wallS = (performance.now() - t0) / 1000;
    const records = parseRecords(readFileSync(join(out, "requests.jsonl"), "utf8"));
    const figures = figuresOf(records, scale.warmupS * 1000, scale.durationS * 1000);
    const bytesPerToken = simConfig.cluster.node.bytesPerToken;
    const kv: KvMovement = { ...NO_KV_MOVEMENT };
    for (const n of Object.values(summary.nodes as Record<string, NodeStats>)) {
      kv.offloads += n.offloads;
      kv.offload_bytes += n.offloadTokens * bytesPerToken;
      kv.prefetches += n.prefetches;
      kv.prefetch_bytes += n.prefetchTokens * bytesPerToken;
      kv.restores += n.restores;
      kv.restore_bytes += n.restoreTokens * bytesPerToken;
      kv.evictions += n.evictions;
      kv.evicted_bytes += n.evictedTokens * bytesPerToken;
    }
    return { mode: "sim", config: config.name, sessions, wall_s: wallS, ...figures, ...kv };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
