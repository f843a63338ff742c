import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseWithSchema, UsageError } from "@symphony/common";
import type { Logger } from "@symphony/runtime";
import { clusterFileSchema, resolveConfig, runSimulation, type ClusterFile } from "@symphony/simulator";
import type { ChatSynthShape, ThinkTimeKind } from "@symphony/workloadgen/domain";
import { figuresOf, type LatencyFigures, type RecordLine } from "../domain/point-metrics";
import { parseRecords } from "../sim-point";
import type { StockConfiguration } from "./configurations";

/** vLLM's default KV block size, tokens. */
export const BLOCK_SIZE = 16;
/** vLLM's default --gpu-memory-utilization: the KV cache is what is left of 90 % of the GPU. */
export const GPU_MEMORY_UTILIZATION = 0.9;

/** One regime: the model on its GPU, the cluster size, the users. */
export interface Regime {
  /** mock-vllm engine profile (model + GPU). */
  readonly profile: string;
  readonly gpus: number;
  readonly thinkTime: ThinkTimeKind;
  readonly chats: ChatSynthShape;
  /** Host memory for KV per GPU, GiB: vLLM's `--kv-offloading-size` (3, 4), the node's CPU tier (5). */
  readonly cpuOffloadGiB: number;
  /** Warm-up timing and hint error of configuration 4 (and the hint error of 5). */
  readonly warmupTiming: "at-hint" | "just-in-time";
  readonly hintEtaError: number;
  /** Virtual seconds per point, and the first seconds left out of the figures. */
  readonly durationS: number;
  readonly warmupS: number;
}

/** What an engine profile gives: its KV cache, KV bytes per token and context length. */
export interface EngineFacts {
  /** KV cache of one engine, tokens: what vLLM allocates at 0.9 memory utilization. */
  readonly kvTokens: number;
  readonly kvBytesPerToken: number;
  /** The model's context length (vLLM --max-model-len default). */
  readonly maxModelLen: number;
}

const factsCache = new Map<string, EngineFacts>();

/**
 * The facts the simulator derives for `profile` (mock-vllm's profiles: weights, KV layout, GPU
 * memory). Throws UsageError naming the known profiles for an unknown one.
 */
export function engineFacts(profile: string): EngineFacts {
  let f = factsCache.get(profile);
  if (f) return f;
  const parsed = parseWithSchema(
    clusterFileSchema,
    { engine: { profile, block_size: BLOCK_SIZE, gpu_memory_utilization: GPU_MEMORY_UTILIZATION } },
    "--profiles",
  );
  const c = resolveConfig(
    parsed,
    {},
    { configFile: undefined, out: undefined, sweep: [], progressIntervalS: 60, logLevel: "warn" },
  );
  if (c.engineInfo.numGpuBlocks < 1)
    throw new UsageError(`--profiles ${profile}: no KV cache left on its GPU`);
  f = {
    kvTokens: c.engineInfo.numGpuBlocks * BLOCK_SIZE,
    kvBytesPerToken: c.cluster.node.bytesPerToken,
    maxModelLen: c.engineInfo.maxModelLen,
  };
  factsCache.set(profile, f);
  return f;
}

/** Tokens of KV that `gib` GiB of host memory hold for `profile`'s model. */
export function cpuTokensOf(profile: string, gib: number): number {
  return Math.floor((gib * 2 ** 30) / engineFacts(profile).kvBytesPerToken);
}

/**
 * Mean normalized latency of the requests sent in [warmupMs, endMs) that completed: E2EL divided
 * by output tokens, ms per token (the vLLM paper's "normalized latency"; it does not swing with the
 * mix of reply lengths as mean E2EL does).
 */
export function normalizedLatencyMs(records: readonly RecordLine[], warmupMs: number, endMs: number): number {
  let sum = 0;
  let n = 0;
  for (const r of records) {
    if (r.error !== null || r.sent_ms < warmupMs || r.sent_ms >= endMs || r.completion_tokens < 1) continue;
    sum += r.e2el_ms / r.completion_tokens;
    n++;
  }
  return n > 0 ? sum / n : NaN;
}

/** What one point measured: the figures of its window plus the nodes' warm-up and copy counters (whole run). */
export interface RegimePoint extends LatencyFigures {
  /** Mean E2EL per output token, ms (normalizedLatencyMs). */
  readonly normalized_latency_ms: number;
  readonly config: string;
  readonly sessions: number;
  readonly seed: number;
  readonly warmups_sent: number;
  readonly warmups_useful: number;
  readonly warmups_wasted: number;
  /** KV copied CPU -> GPU by vLLM's offload connector (3, 4) or the node's restores + prefetches (5), bytes. */
  readonly cpu_to_gpu_bytes: number;
  readonly wall_s: number;
}

interface NodeSummary {
  /** node-scheduler's WarmupStats (warm-up mode only). */
  warmups?: { sent: number; useful: number; wasted: Record<string, number> };
  engine_offload?: { cpuToGpuBytes: number } | null;
  prefetchTokens: number;
  restoreTokens: number;
}

/** The simulator's cluster file for one configuration at `sessions` users. */
export function clusterFileFor(regime: Regime, config: StockConfiguration, sessions: number, seed: number) {
  const facts = engineFacts(regime.profile);
  const c = regime.chats;
  const workload = {
    type: "closed",
    num_clients: sessions,
    duration: regime.durationS,
    seed,
    think_time: regime.thinkTime,
    sharegpt_synth: {
      turns_geometric_p: c.turnsGeometricP,
      max_turns: c.maxTurns,
      prompt_median_tokens: c.promptMedianTokens,
      prompt_sigma: c.promptSigma,
      prompt_min_tokens: c.promptMinTokens,
      prompt_max_tokens: c.promptMaxTokens,
      reply_median_tokens: c.replyMedianTokens,
      reply_sigma: c.replySigma,
      reply_min_tokens: c.replyMinTokens,
      reply_max_tokens: c.replyMaxTokens,
      max_context_tokens: c.maxContextTokens,
    },
  };
  return {
    raw: {
      nodes: regime.gpus,
      policy: config.routing,
      seed,
      engine: {
        profile: regime.profile,
        block_size: BLOCK_SIZE,
        gpu_memory_utilization: GPU_MEMORY_UTILIZATION,
        max_model_len: facts.maxModelLen,
        // Replies are replayed at their drawn lengths: no sampled early EOS.
        eos_mean_tokens: 0,
        kv_offloading_size: config.engineOffload ? regime.cpuOffloadGiB : 0,
      },
      node: {
        kv_budget_tokens: facts.kvTokens,
        cpu_budget_tokens: config.nodeCpuTier ? cpuTokensOf(regime.profile, regime.cpuOffloadGiB) : 0,
        residency_policy: config.residencyPolicy,
        prefetch_mode: config.prefetchMode,
        warmup_timing: regime.warmupTiming,
        hint_eta_error: config.hints ? regime.hintEtaError : 0,
      },
      workload,
    },
    workload,
  };
}

/**
 * Runs one simulated point: `sessions` closed-loop users of generated chats on the regime's
 * cluster. `onRecords` sees the point's request records before they are dropped.
 */
export async function runRegimePoint(
  regime: Regime,
  config: StockConfiguration,
  sessions: number,
  seed: number,
  logger: Logger,
  onRecords?: (records: readonly RecordLine[]) => void,
): Promise<RegimePoint> {
  const { raw } = clusterFileFor(regime, config, sessions, seed);
  const file: ClusterFile = parseWithSchema(clusterFileSchema, raw, "paper-regime simulation");
  const out = mkdtempSync(join(tmpdir(), "paper-regime-sim-"));
  try {
    const simConfig = resolveConfig(
      file,
      { hints: config.hints },
      { configFile: undefined, out, sweep: [], progressIntervalS: 60, logLevel: "warn" },
    );
    const wl = simConfig.workload;
    if (wl.numClients !== sessions || wl.chatSynth === undefined || wl.thinkTime !== regime.thinkTime)
      throw new Error(`simulator did not take the experiment's workload (clients ${wl.numClients})`);
    const t0 = performance.now();
    const { summary } = await runSimulation(simConfig, logger);
    const wallS = (performance.now() - t0) / 1000;
    const records = parseRecords(readFileSync(join(out, "requests.jsonl"), "utf8"));
    onRecords?.(records);
    const figures = figuresOf(records, regime.warmupS * 1000, regime.durationS * 1000);
    const normalized = normalizedLatencyMs(records, regime.warmupS * 1000, regime.durationS * 1000);
    let sent = 0;
    let useful = 0;
    let wasted = 0;
    let cpuToGpuTokens = 0;
    let cpuToGpuBytes = 0;
    for (const n of Object.values(summary.nodes as Record<string, NodeSummary>)) {
      if (n.warmups) {
        sent += n.warmups.sent;
        useful += n.warmups.useful;
        wasted += Object.values(n.warmups.wasted).reduce((a, b) => a + b, 0);
      }
      cpuToGpuBytes += n.engine_offload?.cpuToGpuBytes ?? 0;
      cpuToGpuTokens += n.prefetchTokens + n.restoreTokens;
    }
    if (config.prefetchMode === "directive")
      cpuToGpuBytes = cpuToGpuTokens * simConfig.cluster.node.bytesPerToken;
    return {
      config: config.name,
      sessions,
      seed,
      ...figures,
      normalized_latency_ms: normalized,
      warmups_sent: sent,
      warmups_useful: useful,
      warmups_wasted: wasted,
      cpu_to_gpu_bytes: cpuToGpuBytes,
      wall_s: wallS,
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
