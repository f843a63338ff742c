import { availableParallelism } from "node:os";
import { Command, InvalidArgumentError } from "@commander-js/extra-typings";
import { flag, logLevelOption, UsageError } from "@symphony/common";
import { addOptions, parseArg, parseOptions, type LogLevel } from "@symphony/runtime";
import { z } from "zod";
import { CONFIG_NAMES, configurationNamed, type Configuration } from "./configurations";
import type { ChatDatasetShape } from "./domain/sharegpt-synth";
import type { Scale } from "./scale";

export const SCALE_NAMES = ["sim", "sim-small", "live"] as const;
export type ScaleName = (typeof SCALE_NAMES)[number];

/** The experiment's validated configuration. */
export interface Config {
  readonly experiment: "symphony-effect";
  readonly outDir: string;
  /** Which scales to run, in the order given. */
  readonly scales: readonly ScaleName[];
  readonly configs: readonly Configuration[];
  readonly sloP99TtftMs: number;
  readonly seed: number;
  readonly dataset: ChatDatasetShape;
  /** The 8-node simulated cluster. */
  readonly sim: Scale;
  /** The live local stack; `sim-small` is the same scale, simulated. */
  readonly live: Scale;
  /** Simulated points run at once, each in a worker thread (1: one after another in this thread). */
  readonly jobs: number;
  readonly logLevel: LogLevel;
}

/** `4,8,16`: ascending distinct positive integers. */
function sessionList(value: string): number[] {
  const items = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  const out = items.map((s) => parseArg.int(1, 100_000)(s));
  if (out.length === 0) throw new InvalidArgumentError(`expected a list like 4,8,16, got "${value}"`);
  for (let i = 1; i < out.length; i++)
    if (out[i]! <= out[i - 1]!)
      throw new InvalidArgumentError(`expected ascending session counts, got "${value}"`);
  return out;
}

function nameList<T extends string>(choices: readonly T[]) {
  return (value: string): T[] => {
    const items = value
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    if (items.length === 0) throw new InvalidArgumentError(`expected one or more of ${choices.join(", ")}`);
    for (const item of items)
      if (!choices.includes(item as T))
        throw new InvalidArgumentError(`expected one or more of ${choices.join(", ")}, got "${item}"`);
    return [...new Set(items)] as T[];
  };
}

/** `--jobs`, the same in both experiments: how many simulated points run at once. */
export const jobsOption = () => {
  const cores = availableParallelism();
  return flag(
    z.int().min(1).max(1024).default(cores),
    "--jobs <n>",
    "simulated points run at once, each in a worker thread (1 = one after another in this process); results do not depend on it",
    { defaultHelp: `${cores}, this machine's cores` },
  );
};

const pos = () => z.number().min(1e-6);
const sessions = (flags: string, help: string, value: number[]) =>
  flag(z.array(z.int()).default(value), flags, help, { parse: sessionList });

/** The symphony-effect experiment's options: types, bounds, defaults and help, from which its flags are derived. */
export const experimentOptions = z.object({
  outDir: flag(z.string().default("results"), "--out-dir <dir>", "parent folder of the results folder"),
  scales: flag(
    z.array(z.enum(SCALE_NAMES)).default([...SCALE_NAMES]),
    "--scales <list>",
    `scales to run: ${SCALE_NAMES.join(", ")}`,
    { parse: nameList(SCALE_NAMES) },
  ),
  configs: flag(
    z.array(z.enum(CONFIG_NAMES)).default([...CONFIG_NAMES]),
    "--configs <list>",
    `configurations to run: ${CONFIG_NAMES.join(", ")}`,
    { parse: nameList(CONFIG_NAMES) },
  ),
  sloP99TtftMs: flag(pos().default(500), "--slo-p99-ttft-ms <ms>", "SLO: p99 time to first token, ms"),
  seed: flag(
    z
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(1),
    "--seed <n>",
    "seed of the dataset, workload and routing",
  ),
  // Dataset (synthetic ShareGPT-like chats; both scales replay the same file)
  conversations: flag(
    z.int().min(1).max(100_000).default(400),
    "--conversations <n>",
    "conversations in the synthetic dataset",
  ),
  minTurns: flag(
    z.int().min(1).max(100).default(4),
    "--min-turns <n>",
    "fewest user/assistant pairs per conversation",
  ),
  maxTurns: flag(
    z.int().min(1).max(100).default(10),
    "--max-turns <n>",
    "most user/assistant pairs per conversation",
  ),
  meanPromptTokens: flag(
    z.int().min(8).max(8192).default(200),
    "--mean-prompt-tokens <n>",
    "mean user prompt length, tokens",
  ),
  meanReplyTokens: flag(
    z.int().min(8).max(8192).default(200),
    "--mean-reply-tokens <n>",
    "mean assistant reply length, tokens",
  ),
  // Simulated scale
  simNodes: flag(z.int().min(1).max(256).default(8), "--sim-nodes <n>", "simulated nodes"),
  simKvTokens: flag(
    z.int().min(1024).default(65_536),
    "--sim-kv-tokens <n>",
    "engine KV cache = node GPU budget per simulated node, tokens",
  ),
  simCpuTokens: flag(
    z.int().min(0).default(262_144),
    "--sim-cpu-tokens <n>",
    "CPU offload tier per simulated node, tokens (configs 3, 4)",
  ),
  simSessions: sessions(
    "--sim-sessions <list>",
    "simulated session counts, ascending",
    [500, 1000, 1500, 2000, 2500, 3000],
  ),
  simDuration: flag(
    pos().default(150),
    "--sim-duration <s>",
    "virtual seconds of traffic per simulated point",
  ),
  simWarmup: flag(
    z.number().min(0).default(30),
    "--sim-warmup <s>",
    "virtual seconds at the start of each point left out of the figures",
  ),
  simThinkScale: flag(
    pos().default(10),
    "--sim-think-scale <x>",
    "simulated user think times are divided by this",
  ),
  // Live scale (and sim-small, its simulated twin)
  liveNodes: flag(
    z.int().min(1).max(8).default(2),
    "--live-nodes <n>",
    "mock engines + node-schedulers on loopback",
  ),
  liveKvTokens: flag(
    z.int().min(1024).default(8192),
    "--live-kv-tokens <n>",
    "engine KV cache = node GPU budget per live node, tokens",
  ),
  liveCpuTokens: flag(
    z.int().min(0).default(65_536),
    "--live-cpu-tokens <n>",
    "CPU offload tier per live node, tokens (configs 3, 4)",
  ),
  liveSessions: sessions("--live-sessions <list>", "live session counts, ascending", [16, 48]),
  liveDuration: flag(pos().default(25), "--live-duration <s>", "wall seconds of traffic per live point"),
  liveWarmup: flag(
    z.number().min(0).default(5),
    "--live-warmup <s>",
    "seconds at the start of each live point left out of the figures",
  ),
  liveThinkScale: flag(
    pos().default(50),
    "--live-think-scale <x>",
    "live user think times are divided by this",
  ),
  liveEngineTimeScale: flag(
    pos().default(1),
    "--live-engine-time-scale <x>",
    "mock-vllm --time-scale of the live engines",
  ),
  jobs: jobsOption(),
  logLevel: logLevelOption(),
});

export function buildProgram() {
  const program = new Command("experiments")
    .description(
      "symphony-effect (issue #11): how many concurrent multi-turn sessions meet a p99 TTFT SLO under four " +
        "configurations (1 round-robin, 2 session affinity, 3 affinity + node residency, 4 affinity + residency + " +
        "advisory hints), simulated (8 nodes) and live (local stack). Writes results/symphony-effect-<timestamp>/.",
    )
    .exitOverride()
    .showHelpAfterError(false)
    .argument("[experiment]", "experiment name (only symphony-effect)", "symphony-effect")
    .allowExcessArguments(false);
  return addOptions(program, experimentOptions);
}

/** Parses argv (without node and script). Bad flags -> UsageError / CommanderError (exit 2). */
export function parseConfig(argv: readonly string[]): Readonly<Config> {
  const program = buildProgram();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const { values: o } = parseOptions(program, experimentOptions, argv);
  const experiment = program.processedArgs[0];
  if (experiment !== "symphony-effect")
    throw new UsageError(`unknown experiment "${experiment}"; the only one is symphony-effect`);
  if (o.minTurns > o.maxTurns)
    throw new UsageError(`--min-turns ${o.minTurns} is above --max-turns ${o.maxTurns}`);
  const scales = {
    sim: {
      nodes: o.simNodes,
      kvTokens: o.simKvTokens,
      cpuTokens: o.simCpuTokens,
      sessions: o.simSessions,
      durationS: o.simDuration,
      warmupS: o.simWarmup,
      thinkTimeScale: o.simThinkScale,
      engineTimeScale: 1,
    },
    live: {
      nodes: o.liveNodes,
      kvTokens: o.liveKvTokens,
      cpuTokens: o.liveCpuTokens,
      sessions: o.liveSessions,
      durationS: o.liveDuration,
      warmupS: o.liveWarmup,
      thinkTimeScale: o.liveThinkScale,
      engineTimeScale: o.liveEngineTimeScale,
    },
  };
  for (const mode of ["sim", "live"] as const) {
    const { warmupS, durationS } = scales[mode];
    if (warmupS >= durationS)
      throw new UsageError(`--${mode}-warmup ${warmupS} must be below --${mode}-duration ${durationS}`);
  }
  const scale = (mode: "sim" | "live"): Scale => ({ mode, ...scales[mode] });
  return Object.freeze({
    experiment: "symphony-effect" as const,
    outDir: o.outDir,
    scales: o.scales,
    configs: o.configs
      .map(configurationNamed)
      .sort((a, b) => CONFIG_NAMES.indexOf(a.name) - CONFIG_NAMES.indexOf(b.name)),
    sloP99TtftMs: o.sloP99TtftMs,
    seed: o.seed,
    dataset: {
      conversations: o.conversations,
      minTurns: o.minTurns,
      maxTurns: o.maxTurns,
      meanPromptTokens: o.meanPromptTokens,
      meanReplyTokens: o.meanReplyTokens,
    },
    sim: scale("sim"),
    live: scale("live"),
    jobs: o.jobs,
    logLevel: o.logLevel,
  });
}
