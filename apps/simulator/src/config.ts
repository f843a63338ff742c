import { Command } from "@commander-js/extra-typings";
import {
  defaultOf,
  fileField,
  flag,
  logLevelOption,
  parseStructuredText,
  parseWithSchema,
  readTextFile,
  UsageError,
} from "@symphony/common";
import { addOptions, parseArg, parseOptions, type LogLevel } from "@symphony/runtime";
import {
  cpuBlocksFor,
  deriveNumGpuBlocks,
  hostLinkBytesPerUs,
  kvBytesPerToken,
  PROFILES,
} from "@symphony/mock-vllm/domain";
import { mockVllmOptions } from "@symphony/mock-vllm";
import {
  nodeSchedulerOptions,
  RESIDENCY_POLICY_NAMES,
  type ResidencyPolicyName,
} from "@symphony/node-scheduler";
import { POLICY_NAMES, schedulerOptions } from "@symphony/scheduler";
import {
  configFileSchema as workloadFileSchema,
  resolveConfig as resolveWorkloadConfig,
  workloadgenOptions,
  type Config as WorkloadConfig,
  type WorkloadgenOptions,
} from "@symphony/workloadgen";
import { z } from "zod";
import type { ClusterSpec } from "./domain";

const pos = z.number().positive();
const posInt = z.number().int().positive();

// The apps' own option fields: their types, bounds and defaults are the cluster file's.
const scheduler = schedulerOptions.shape;
const node = nodeSchedulerOptions.shape;
const engine = mockVllmOptions.shape;
const workload = workloadgenOptions.shape;

const linkSchema = z.strictObject({
  /** One-way latency, µs. */
  latency_us: z.number().min(0).default(100),
  /** Bandwidth, gigabits per second. */
  bandwidth_gbit_s: pos.default(10),
});

/**
 * cluster.yaml: the cluster (nodes, routing, node and engine settings, network) plus the very
 * same `workload:` / `client_profiles:` sections workloadgen's --config accepts, so a workload
 * file alone is a valid cluster file (every cluster key has a default).
 */
export const clusterFileSchema = z.strictObject({
  nodes: posInt.max(4096).optional(),
  policy: scheduler.policy,
  seed: fileField(workload.seed),
  /** Seconds of (virtual) traffic: workloadgen's --duration. */
  duration: fileField(workload.duration),
  policy_params: z
    .strictObject({
      // Left out = the policy's own defaults (the scheduler's flags default to the same).
      queue_weight: fileField(scheduler.queueWeight),
      kv_weight: fileField(scheduler.kvWeight),
      prefix_weight: fileField(scheduler.prefixWeight),
      queue_half_score: fileField(scheduler.queueHalfScore),
    })
    .prefault({}),
  scheduler: z
    .strictObject({
      poll_interval_ms: scheduler.pollIntervalMs,
      heartbeat_timeout_ms: scheduler.heartbeatTimeoutMs,
      rebalance_interval_ms: scheduler.rebalanceIntervalMs,
      overload_kv_fraction: scheduler.overloadKvFraction,
      target_kv_fraction: scheduler.targetKvFraction,
      overload_queue: scheduler.overloadQueue,
      max_moves_per_round: scheduler.maxMovesPerRound,
      session_ttl_ms: scheduler.sessionTtlMs,
      prefix_block_chars: scheduler.prefixBlockChars,
    })
    .prefault({}),
  engine: z
    .strictObject({
      profile: engine.profile,
      max_num_seqs: engine.maxNumSeqs,
      max_num_batched_tokens: engine.maxNumBatchedTokens,
      num_gpu_blocks: engine.numGpuBlocks,
      gpu_memory_utilization: engine.gpuMemoryUtilization,
      block_size: engine.blockSize,
      prefix_caching: engine.enablePrefixCaching,
      max_model_len: engine.maxModelLen,
      /** Modelled engine durations are divided by this (mock-vllm --time-scale). */
      time_scale: engine.timeScale,
      /** Mean generated length before a sampled EOS (mock-vllm --eos-mean-tokens; 0 = never). */
      eos_mean_tokens: engine.eosMeanTokens,
      seed: engine.seed,
      /** vLLM's native CPU offload, GiB of host memory (`--kv-offloading-size`; 0 = off). */
      kv_offloading_size: engine.kvOffloadingSize,
    })
    .prefault({}),
  node: z
    .strictObject({
      kv_budget_tokens: node.kvBudgetTokens,
      cpu_budget_tokens: node.cpuBudgetTokens,
      // Left out = the engine profile's model (the node-scheduler's flag defaults to Llama-3-8B's).
      kv_bytes_per_token: fileField(node.kvBytesPerToken),
      residency_policy: node.residencyPolicy,
      offload_gbps: node.offloadGbps,
      max_running: node.maxRunning,
      max_queue: node.maxQueue,
      prefetch_margin_ms: node.prefetchMarginMs,
      hint_stale_ms: node.hintStaleMs,
      // The simulated engine takes directives by default (node-scheduler's flag defaults to a stock
      // engine's warmup).
      prefetch_mode: node.prefetchMode.unwrap().default("directive"),
      warmup_timing: node.warmupTiming,
      warmup_lead_ms: node.warmupLeadMs,
      warmup_min_gap_ms: node.warmupMinGapMs,
      max_warmups_in_flight: node.maxWarmupsInFlight,
      /** Each hint's ETA × (1 + e·U(−1, 1)): 0 = exact hints. */
      hint_eta_error: z.number().min(0).max(1).default(0),
    })
    .prefault({}),
  network: z
    .strictObject({
      client_scheduler: linkSchema.prefault({}),
      scheduler_node: linkSchema.prefault({}),
      node_engine: linkSchema.prefault({}),
    })
    .prefault({}),
  // Every section workloadgen's --config accepts (workload, client_profiles, agent_profiles, ...),
  // with its own schema: a workload file is a valid cluster file and the tools never disagree.
  ...workloadFileSchema.shape,
});
/** The parsed cluster file. */
export type ClusterFile = z.output<typeof clusterFileSchema>;

/** A simulation run, fully resolved. */
export interface SimConfig {
  readonly configFile: string | undefined;
  readonly cluster: ClusterSpec;
  /** Derived engine facts, for the summary. */
  readonly engineInfo: {
    profile: string;
    numGpuBlocks: number;
    maxModelLen: number;
    eosMeanTokens: number;
    seed: number;
  };
  readonly workload: WorkloadConfig;
  readonly seed: number;
  readonly out: string | undefined;
  /** `key=v1,v2` assignments; empty = one run. */
  readonly sweep: readonly SweepAxis[];
  readonly progressIntervalS: number;
  readonly logLevel: LogLevel;
  /** The file as parsed (after flag overrides), for sweeps to re-derive variants. */
  readonly file: ClusterFile;
  /** Command-line overrides, kept so a sweep applies its axes on top of them. */
  readonly overrides: Overrides;
}

export interface SweepAxis {
  readonly key: SweepKey;
  readonly values: readonly string[];
}

/** Flag overrides; undefined = not given. */
export interface Overrides {
  nodes?: number;
  policy?: string;
  profile?: string;
  kvBudgetTokens?: number;
  duration?: number;
  seed?: number;
  numClients?: number;
  maxRequests?: number;
  timeScale?: number;
  residencyPolicy?: ResidencyPolicyName;
  hints?: boolean;
}

/** What `--sweep` may vary, and which override each sets. */
export const SWEEP_KEYS = {
  nodes: "nodes",
  policy: "policy",
  profile: "profile",
  kv_budget_tokens: "kvBudgetTokens",
  residency_policy: "residencyPolicy",
  num_clients: "numClients",
  seed: "seed",
  duration: "duration",
} as const satisfies Record<string, keyof Overrides>;
export type SweepKey = keyof typeof SWEEP_KEYS;

/**
 * The simulator's options. Those left out come from the cluster file (`--config`), else from the
 * apps' own defaults; a sweep applies its axes over them.
 */
export const simulatorOptions = z.object({
  config: flag(
    z.string().optional(),
    "--config <file>",
    "cluster.yaml (cluster + workload sections) or a plain workloadgen workload file",
  ),
  nodes: flag(
    z.int().min(1).max(4096).optional(),
    "--nodes <n>",
    "simulated nodes (default: config nodes, else 2)",
  ),
  policy: flag(
    fileField(scheduler.policy),
    "--policy <name>",
    `routing policy (default: config policy, else ${String(defaultOf(scheduler.policy))})`,
  ),
  profile: flag(
    fileField(engine.profile),
    "--profile <name>",
    `engine profile (default: config engine.profile, else ${String(defaultOf(engine.profile))})`,
  ),
  kvBudgetTokens: flag(
    fileField(node.kvBudgetTokens),
    "--kv-budget-tokens <n>",
    `node GPU KV budget, tokens (default: config, else ${String(defaultOf(node.kvBudgetTokens))})`,
  ),
  residencyPolicy: flag(
    fileField(node.residencyPolicy),
    "--residency-policy <name>",
    `node residency policy (default: config, else ${String(defaultOf(node.residencyPolicy))})`,
  ),
  duration: flag(
    fileField(workload.duration),
    "--duration <s>",
    "seconds of traffic (default: config duration / workload.duration, else workloadgen's)",
  ),
  seed: flag(
    z
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .optional(),
    "--seed <n>",
    "seed of the workload and routing (default: config seed, else 0)",
  ),
  numClients: flag(
    fileField(workload.numClients),
    "--num-clients <n>",
    "closed loop: concurrent sessions (default: workload's)",
  ),
  maxRequests: flag(
    fileField(workload.maxRequests),
    "--max-requests <n>",
    "stop after this many requests (default: workload's)",
  ),
  timeScale: flag(
    fileField(workload.timeScale),
    "--time-scale <x>",
    "divide think times AND engine durations by x (default: workload's / engine's)",
  ),
  hints: flag(z.boolean().default(true), "--no-hints", "do not send Advise hints"),
  out: flag(
    z.string().optional(),
    "--out <dir>",
    "write summary.json and requests.jsonl here (sweep: one folder per run + sweep.csv/json/svg)",
  ),
  sweep: flag(
    z.array(z.string()).optional(),
    "--sweep <key=v1,v2...>",
    `vary parameters, one run per combination; keys: ${Object.keys(SWEEP_KEYS).join(", ")}`,
    { parse: (value, previous) => [...((previous as string[] | undefined) ?? []), value] },
  ),
  progressInterval: flag(
    z.number().min(0.1).default(2),
    "--progress-interval <s>",
    "seconds of wall time between progress lines on stderr",
  ),
  logLevel: logLevelOption(),
});

export function buildProgram() {
  const program = new Command("simulator")
    .description(
      "Runs a Symphony workload against a simulated cluster in virtual time: the real routing policies, node " +
        "admission/residency code and mock-vllm engine model on a discrete-event clock, no servers or sleeps.",
    )
    .exitOverride()
    .allowExcessArguments(true);
  return addOptions(program, simulatorOptions);
}

/** Parses `--sweep` assignments into axes; every key and value is checked. */
export function parseSweep(items: readonly string[]): SweepAxis[] {
  const axes: SweepAxis[] = [];
  for (const item of items) {
    for (const assignment of item.split(/\s+/).filter(Boolean)) {
      const m = /^([a-z_-]+)=(.+)$/.exec(assignment);
      if (!m) throw new UsageError(`--sweep: expected key=v1,v2,..., got "${assignment}"`);
      const key = m[1]!.replaceAll("-", "_");
      if (!(key in SWEEP_KEYS))
        throw new UsageError(
          `--sweep: unknown key "${m[1]}"; valid keys: ${Object.keys(SWEEP_KEYS).join(", ")}`,
        );
      if (axes.some((a) => a.key === key)) throw new UsageError(`--sweep: key "${key}" given twice`);
      const values = m[2]!
        .split(",")
        .map((v) => v.trim())
        .filter(Boolean);
      if (values.length === 0) throw new UsageError(`--sweep ${key}: no values`);
      axes.push({ key: key as SweepKey, values });
    }
  }
  return axes;
}

/** Applies one sweep value as an override, validating it like the matching flag. */
export function applySweepValue(overrides: Overrides, key: SweepKey, value: string): Overrides {
  const flag = `--sweep ${key}`;
  const int = (min: number, max = Number.MAX_SAFE_INTEGER) => {
    try {
      return parseArg.int(min, max)(value);
    } catch (err) {
      throw new UsageError(`${flag}: ${(err as Error).message}`);
    }
  };
  const oneOf = <T extends string>(choices: readonly T[]): T => {
    const choice = choices.find((c) => c === value);
    if (choice === undefined)
      throw new UsageError(`${flag}: expected one of ${choices.join(", ")}, got "${value}"`);
    return choice;
  };
  const next = { ...overrides };
  switch (key) {
    case "nodes":
      next.nodes = int(1, 4096);
      break;
    case "policy":
      next.policy = oneOf(POLICY_NAMES);
      break;
    case "profile":
      next.profile = oneOf(Object.keys(PROFILES));
      break;
    case "kv_budget_tokens":
      next.kvBudgetTokens = int(1);
      break;
    case "residency_policy":
      next.residencyPolicy = oneOf(RESIDENCY_POLICY_NAMES);
      break;
    case "num_clients":
      next.numClients = int(1, 100_000);
      break;
    case "seed":
      next.seed = int(0, 2 ** 31 - 1);
      break;
    case "duration": {
      const n = Number(value);
      if (!(n >= 0)) throw new UsageError(`${flag}: expected a number >= 0, got "${value}"`);
      next.duration = n;
      break;
    }
  }
  return next;
}

/** Parses argv (without node and script). Bad flags or files -> UsageError (exit 2). */
export function parseConfig(argv: readonly string[]): Readonly<SimConfig> {
  const program = buildProgram();
  const { values: o } = parseOptions(program, simulatorOptions, argv);
  if (program.args.length > 0)
    throw new UsageError(`unexpected argument "${program.args[0]}" (flags start with --)`);
  const configFile = o.config;
  const raw: unknown = configFile ? parseStructuredText(readTextFile(configFile, "config"), configFile) : {};
  const parsed = parseWithSchema(clusterFileSchema, raw, configFile ?? "(defaults)");
  const file: ClusterFile = parsed;
  const overrides: Overrides = {
    nodes: o.nodes,
    policy: o.policy,
    profile: o.profile,
    kvBudgetTokens: o.kvBudgetTokens,
    residencyPolicy: o.residencyPolicy,
    duration: o.duration,
    seed: o.seed,
    numClients: o.numClients,
    maxRequests: o.maxRequests,
    timeScale: o.timeScale,
    hints: o.hints,
  };
  return resolveConfig(file, overrides, {
    configFile,
    out: o.out,
    sweep: parseSweep(o.sweep ?? []),
    progressIntervalS: o.progressInterval,
    logLevel: o.logLevel,
  });
}

/** Builds the run's configuration from the file and overrides (also used for each sweep point). */
export function resolveConfig(
  file: ClusterFile,
  ov: Overrides,
  rest: Pick<SimConfig, "configFile" | "out" | "sweep" | "progressIntervalS" | "logLevel">,
): Readonly<SimConfig> {
  const seed = ov.seed ?? file.seed ?? file.workload?.seed ?? 0;
  const e = file.engine;
  const profileName = ov.profile ?? e.profile;
  const profile = PROFILES[profileName]!;
  const blockSize = e.block_size;
  const numGpuBlocks = e.num_gpu_blocks ?? deriveNumGpuBlocks(profile, blockSize, e.gpu_memory_utilization);
  if (numGpuBlocks < 1)
    throw new UsageError(
      `engine.gpu_memory_utilization ${e.gpu_memory_utilization}: leaves no KV-cache blocks for ${profileName}`,
    );
  const maxModelLen = e.max_model_len ?? profile.model.maxModelLen;
  const engineTimeScale = ov.timeScale ?? e.time_scale;
  const n = file.node;
  const s = file.scheduler;
  if (s.target_kv_fraction >= s.overload_kv_fraction)
    throw new UsageError(
      `scheduler.target_kv_fraction (${s.target_kv_fraction}) must be below scheduler.overload_kv_fraction (${s.overload_kv_fraction})`,
    );
  const link = (l: { latency_us: number; bandwidth_gbit_s: number }) => ({
    latencyUs: l.latency_us,
    bandwidthBytesPerSec: (l.bandwidth_gbit_s * 1e9) / 8,
  });
  const cluster: ClusterSpec = {
    nodes: ov.nodes ?? file.nodes ?? 2,
    routing: {
      policy: ov.policy ?? file.policy,
      params: {
        ...(file.policy_params.queue_weight !== undefined && {
          queueWeight: file.policy_params.queue_weight,
        }),
        ...(file.policy_params.kv_weight !== undefined && { kvWeight: file.policy_params.kv_weight }),
        ...(file.policy_params.prefix_weight !== undefined && {
          prefixWeight: file.policy_params.prefix_weight,
        }),
        ...(file.policy_params.queue_half_score !== undefined && {
          queueHalfScoreRequests: file.policy_params.queue_half_score,
        }),
      },
      router: {
        heartbeatTimeoutUs: s.heartbeat_timeout_ms * 1000,
        rebalanceIntervalUs: s.rebalance_interval_ms * 1000,
        rebalance: {
          overloadKvFraction: s.overload_kv_fraction,
          targetKvFraction: s.target_kv_fraction,
          overloadOutstanding: s.overload_queue,
          maxMovesPerRound: s.max_moves_per_round,
        },
        sessionTtlUs: s.session_ttl_ms * 1000,
        prefixBlockChars: s.prefix_block_chars,
        prefixCapacityBlocksPerNode: 200_000,
      },
      pollIntervalUs: s.poll_interval_ms * 1000,
      seed,
    },
    node: {
      gpuBudgetTokens: ov.kvBudgetTokens ?? n.kv_budget_tokens,
      cpuBudgetTokens: n.cpu_budget_tokens,
      bytesPerToken: n.kv_bytes_per_token ?? kvBytesPerToken(profile.model),
      offloadGBps: n.offload_gbps,
      maxRunning: n.max_running,
      maxQueue: n.max_queue,
      prefetchMarginUs: n.prefetch_margin_ms * 1000,
      residencyPolicy: ov.residencyPolicy ?? n.residency_policy,
      hintStaleAfterUs: n.hint_stale_ms * 1000,
      drive: {
        prefetchMode: n.prefetch_mode,
        warmupTiming: n.warmup_timing,
        warmupLeadUs: n.warmup_lead_ms * 1000,
        warmupMinGapUs: n.warmup_min_gap_ms * 1000,
        maxWarmupsInFlight: n.max_warmups_in_flight,
        hintEtaError: n.hint_eta_error,
        seed,
      },
    },
    engine: {
      maxNumSeqs: e.max_num_seqs ?? profile.defaultMaxNumSeqs,
      maxNumBatchedTokens: e.max_num_batched_tokens ?? profile.defaultMaxNumBatchedTokens,
      numGpuBlocks,
      blockSize,
      enablePrefixCaching: e.prefix_caching,
      timeScale: engineTimeScale,
      ...(e.kv_offloading_size > 0 && {
        cpuOffload: {
          numCpuBlocks: cpuBlocksFor(e.kv_offloading_size, blockSize, kvBytesPerToken(profile.model)),
          bytesPerBlock: blockSize * kvBytesPerToken(profile.model),
          linkBytesPerUs: hostLinkBytesPerUs(profile),
        },
      }),
    },
    network: {
      clientScheduler: link(file.network.client_scheduler),
      schedulerNode: link(file.network.scheduler_node),
      nodeEngine: link(file.network.node_engine),
    },
  };
  return Object.freeze({
    ...rest,
    cluster,
    engineInfo: {
      profile: profileName,
      numGpuBlocks,
      maxModelLen,
      eosMeanTokens: e.eos_mean_tokens,
      seed: e.seed,
    },
    workload: workloadConfigFor(file, ov, seed, rest.configFile),
    seed,
    file,
    overrides: ov,
  });
}

/**
 * The workload as workloadgen itself resolves it: its own resolver gets the file's workload
 * sections and the overriding options, so both tools read a workload file identically.
 */
function workloadConfigFor(
  file: ClusterFile,
  ov: Overrides,
  seed: number,
  source: string | undefined,
): WorkloadConfig {
  // cl100k: the simulation's token cache encodes word by word, which is exact for cl100k (see
  // FastTokenCache); a workload.tokenizer in the file is overridden.
  const given: Partial<WorkloadgenOptions> = {
    seed,
    tokenizer: "cl100k",
    duration: ov.duration ?? file.duration,
    numClients: ov.numClients,
    maxRequests: ov.maxRequests,
    timeScale: ov.timeScale,
    hints: ov.hints,
  };
  for (const key of Object.keys(given) as (keyof WorkloadgenOptions)[])
    if (given[key] === undefined) delete given[key];
  const values = parseWithSchema(workloadgenOptions, { ...given, config: source }, source ?? "workload");
  try {
    return resolveWorkloadConfig({ values, given: (key) => key in given }, file);
  } catch (err) {
    const where = source ?? "workload";
    if (err instanceof UsageError && !err.message.startsWith(`${where}: `))
      throw new UsageError(`${where}: ${err.message}`);
    throw err;
  }
}
