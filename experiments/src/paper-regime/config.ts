import { Command, InvalidArgumentError } from "@commander-js/extra-typings";
import { flag, logLevelOption, UsageError } from "@symphony/common";
import { addOptions, parseArg, parseOptions, type LogLevel } from "@symphony/runtime";
import { z } from "zod";
import {
  chatShapeProblem,
  SHAREGPT_CHAT_SHAPE,
  type ChatSynthShape,
  type ThinkTimeKind,
} from "@symphony/workloadgen/domain";
import { jobsOption } from "../config";
import { STOCK_CONFIG_NAMES, STOCK_CONFIGURATIONS, type StockConfiguration } from "./configurations";
import { engineFacts } from "./sim-point";

export const THINK_TIMES = ["chat-gaps", "typing"] as const;

/** Virtual seconds per point and the first seconds not counted. */
export interface PointWindow {
  readonly durationS: number;
  readonly warmupS: number;
}

/**
 * Each think-time model's default window. Typing users wait minutes per turn (a reply read at
 * 25 chars/s, a prompt typed at 6: median 2.1 min, mean 2.8), so a 150-s point would see little
 * beyond their first turn: typing points run 600 s and count the last 300.
 */
export const DEFAULT_WINDOWS: Readonly<Record<ThinkTimeKind, PointWindow>> = {
  "chat-gaps": { durationS: 150, warmupS: 50 },
  typing: { durationS: 600, warmupS: 300 },
};

/** The paper-regime experiment's validated configuration. */
export interface RegimeConfig {
  readonly experiment: "paper-regime";
  readonly outDir: string;
  /** Engine profiles (model on GPU), one regime point each (× think-time models). */
  readonly profiles: readonly string[];
  readonly gpus: number;
  readonly thinkTimes: readonly ThinkTimeKind[];
  readonly configs: readonly StockConfiguration[];
  readonly seeds: readonly number[];
  /** The fixed load every configuration is measured at, sessions per GPU (the paper's 256 users on 8 GPUs = 32); 0 = none. */
  readonly fixedSessionsPerGpu: number;
  /** Capacity criterion 1: p99 TTFT at most this, ms. */
  readonly sloP99TtftMs: number;
  /** Capacity criterion 2: mean normalized latency (E2EL per output token) within this fraction above unloaded vLLM's (0.1 = 10 %). */
  readonly latencyTolerance: number;
  /** Search every configuration's capacity (false: only the unloaded reference and the fixed load). */
  readonly capacity: boolean;
  /** Sessions of the "unloaded" reference point (per GPU). */
  readonly unloadedSessionsPerGpu: number;
  /** Sessions of the first search's first point (per GPU × GPUs). */
  readonly searchStart: number;
  readonly searchMax: number;
  readonly searchTolerance: number;
  /** Generated chats; `maxContextTokens` 0 = 85 % of each profile's context length. */
  readonly chats: ChatSynthShape;
  readonly cpuOffloadGiB: number;
  readonly warmupTiming: "at-hint" | "just-in-time";
  readonly hintEtaError: number;
  /** Also measure configuration 4 at the fixed load with each timing and with/without a hint error. */
  readonly hintVariants: boolean;
  /** Each think-time model's window (`--duration`/`--warmup` override every model's). */
  readonly windows: Readonly<Record<ThinkTimeKind, PointWindow>>;
  /** Run the live point instead of the simulated regimes. */
  readonly live: false | { sessionsPerGpu: number; durationS: number; timeScale: number };
  /** Simulated points run at once, each in a worker thread (1: one after another in this thread). */
  readonly jobs: number;
  readonly logLevel: LogLevel;
}

function list<T>(parse: (s: string) => T, what: string) {
  return (value: string): T[] => {
    const items = value
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    if (items.length === 0) throw new InvalidArgumentError(`expected ${what}, got "${value}"`);
    const out = items.map(parse);
    return [...new Set(out)];
  };
}

function choice<T extends string>(choices: readonly T[]) {
  return (s: string): T => {
    const found = choices.find((c) => c === s);
    if (found === undefined)
      throw new InvalidArgumentError(`expected one of ${choices.join(", ")}, got "${s}"`);
    return found;
  };
}

const pos = () => z.number().min(1e-6);
const d = SHAREGPT_CHAT_SHAPE;

/** The paper-regime experiment's options: types, bounds, defaults and help, from which its flags are derived. */
export const paperRegimeOptions = z.object({
  outDir: flag(z.string().default("results"), "--out-dir <dir>", "parent folder of the results folder"),
  profiles: flag(
    z.array(z.string()).default(["llama2-13b-a100"]),
    "--profiles <list>",
    "engine profiles (mock-vllm: model on GPU), one regime point each (the paper's Llama-2-13B on A100; add llama3-8b-h100 for Llama 3.1 8B on H100)",
    { parse: list((s) => s, "profile names") },
  ),
  gpus: flag(
    z.int().min(1).max(256).default(2),
    "--gpus <n>",
    "GPUs (vLLM engines, one node-scheduler each) per cluster (the paper's 8: see the full-size command)",
  ),
  thinkTime: flag(
    z.array(z.enum(THINK_TIMES)).default(["chat-gaps", "typing"]),
    "--think-time <list>",
    `user think-time models: ${THINK_TIMES.join(", ")} (workloadgen --think-time), one regime point each`,
    { parse: list(choice(THINK_TIMES), "think-time models") },
  ),
  configs: flag(
    z.array(z.enum(STOCK_CONFIG_NAMES)).default([...STOCK_CONFIG_NAMES]),
    "--configs <list>",
    `configurations: ${STOCK_CONFIG_NAMES.join(", ")} (always run in 1-5 order)`,
    { parse: list(choice(STOCK_CONFIG_NAMES), "configuration names") },
  ),
  seeds: flag(
    z.array(z.int()).default([1, 2, 3]),
    "--seeds <list>",
    "seeds (workload, routing, hint errors)",
    { parse: list(parseArg.int(0, 2 ** 31 - 1), "seeds") },
  ),
  fixedSessionsPerGpu: flag(
    z.int().min(0).max(10_000).default(32),
    "--fixed-sessions-per-gpu <n>",
    "the fixed load every configuration is measured at, sessions per GPU (the paper's 256 users on 8 GPUs = 32; 0 = none)",
  ),
  sloP99TtftMs: flag(
    pos().default(1000),
    "--slo-p99-ttft-ms <ms>",
    "capacity criterion: p99 time to first token, ms",
  ),
  latencyTolerancePct: flag(
    z.number().min(0.1).max(1000).default(25),
    "--latency-tolerance-pct <pct>",
    "capacity criterion: mean normalized latency (E2EL per output token) at most this % above unloaded vLLM's (configuration 1 at --unloaded-sessions-per-gpu)",
  ),
  unloadedSessionsPerGpu: flag(
    z.int().min(1).max(64).default(1),
    "--unloaded-sessions-per-gpu <n>",
    "sessions per GPU of the unloaded reference point",
  ),
  searchStartPerGpu: flag(
    z.int().min(1).max(10_000).default(32),
    "--search-start-per-gpu <n>",
    "sessions per GPU of the first capacity search's first point (later searches start where the previous one ended)",
  ),
  searchMax: flag(
    z.int().min(1).max(100_000).default(16_384),
    "--search-max <n>",
    "largest session count a search measures",
  ),
  searchTolerancePct: flag(
    z.number().min(0.1).max(100).default(15),
    "--search-tolerance-pct <pct>",
    "stop a search when its bracket is this narrow, %",
  ),
  // Generated ShareGPT-like chats (workloadgen's sharegpt_synth)
  turnsP: flag(
    z.number().min(1e-6).max(1).default(d.turnsGeometricP),
    "--turns-p <p>",
    "turns per chat = 1 + Geometric(p)",
  ),
  maxTurns: flag(z.int().min(1).max(1000).default(d.maxTurns), "--max-turns <n>", "cap on turns per chat"),
  promptMedian: flag(
    pos().default(d.promptMedianTokens),
    "--prompt-median <tokens>",
    "user prompt: LogNormal median",
  ),
  promptSigma: flag(
    z.number().min(0).max(10).default(d.promptSigma),
    "--prompt-sigma <s>",
    "user prompt: LogNormal σ",
  ),
  promptMin: flag(
    z.int().min(1).default(d.promptMinTokens),
    "--prompt-min <tokens>",
    "user prompt: clamp low",
  ),
  promptMax: flag(
    z.int().min(1).default(d.promptMaxTokens),
    "--prompt-max <tokens>",
    "user prompt: clamp high",
  ),
  replyMedian: flag(pos().default(d.replyMedianTokens), "--reply-median <tokens>", "reply: LogNormal median"),
  replySigma: flag(
    z.number().min(0).max(10).default(d.replySigma),
    "--reply-sigma <s>",
    "reply: LogNormal σ",
  ),
  replyMin: flag(z.int().min(1).default(d.replyMinTokens), "--reply-min <tokens>", "reply: clamp low"),
  replyMax: flag(z.int().min(1).default(d.replyMaxTokens), "--reply-max <tokens>", "reply: clamp high"),
  maxContextTokens: flag(
    z.int().min(0).default(0),
    "--max-context-tokens <n>",
    "a chat ends before a turn that would take its text past this (0 = 85 % of the profile's context length)",
  ),
  // Stock vLLM and Symphony knobs
  cpuOffloadGib: flag(
    z.number().min(0).default(64),
    "--cpu-offload-gib <gib>",
    "host memory for KV per GPU: --kv-offloading-size (3, 4), the node's CPU tier (5)",
  ),
  warmupTiming: flag(
    z.enum(["at-hint", "just-in-time"]).default("at-hint"),
    "--warmup-timing <when>",
    "configuration 4: warm-up at the hint or just in time (node --warmup-timing)",
  ),
  hintEtaError: flag(
    z.number().min(0).max(1).default(0),
    "--hint-eta-error <e>",
    "hints' ETA × (1 + e·U(−1, 1)) in configurations 4-5",
  ),
  capacity: flag(
    z.boolean().default(true),
    "--no-capacity",
    "skip the capacity searches: measure the fixed load only",
  ),
  hintVariants: flag(
    z.boolean().default(true),
    "--no-hint-variants",
    "skip configuration 4's timing × hint-error variants at the fixed load",
  ),
  duration: flag(
    pos().optional(),
    "--duration <s>",
    `virtual seconds of traffic per point, every think-time model (default ${DEFAULT_WINDOWS["chat-gaps"].durationS} with chat-gaps, ${DEFAULT_WINDOWS.typing.durationS} with typing)`,
  ),
  warmup: flag(
    z.number().min(0).optional(),
    "--warmup <s>",
    `first virtual seconds of each point left out of the figures (default ${DEFAULT_WINDOWS["chat-gaps"].warmupS} with chat-gaps, ${DEFAULT_WINDOWS.typing.warmupS} with typing)`,
  ),
  // The live point (--live): configurations 1 and 4 on the real processes beside their simulation
  live: flag(
    z.boolean().default(false),
    "--live",
    "instead of the simulated regimes: run configurations 1 and 4 live (mock-vllm stock engines, node-schedulers, scheduler, workloadgen) at one small point, beside the same point simulated (first profile, think-time model and seed)",
  ),
  liveSessionsPerGpu: flag(
    z.int().min(1).max(64).default(4),
    "--live-sessions-per-gpu <n>",
    "--live: sessions per GPU",
  ),
  liveDuration: flag(
    pos().default(600),
    "--live-duration <s>",
    "--live: virtual seconds of traffic (the live run lasts this / --live-time-scale)",
  ),
  liveTimeScale: flag(
    z.number().min(1).max(100).default(10),
    "--live-time-scale <x>",
    "--live: engine durations (mock-vllm --time-scale) and think times (workloadgen --time-scale) divided by this",
  ),
  jobs: jobsOption(),
  logLevel: logLevelOption(),
});

export function buildRegimeProgram() {
  const program = new Command("experiments paper-regime")
    .description(
      "paper-regime: the Symphony effect in the paper's regime with what stock vLLM can do today. Five " +
        "configurations (1 round-robin, 2 session affinity, 3 affinity + native CPU offload, 4 as 3 + Symphony " +
        "warm-ups on Advise, 5 Symphony's directive engine) on simulated 8-GPU clusters of real model/GPU " +
        "profiles, ShareGPT-like chats at human think times; capacity by search against a p99 TTFT SLO and " +
        "against mean latency within a tolerance of unloaded vLLM. Writes results/paper-regime-<timestamp>/.",
    )
    .exitOverride()
    .showHelpAfterError(false)
    .argument("<experiment>", "paper-regime")
    .allowExcessArguments(false);
  return addOptions(program, paperRegimeOptions);
}

/** Parses argv (without node and script; argv[0] is "paper-regime"). Bad values -> UsageError / CommanderError. */
export function parseRegimeConfig(argv: readonly string[]): Readonly<RegimeConfig> {
  const program = buildRegimeProgram();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const { values: o } = parseOptions(program, paperRegimeOptions, argv);
  const windowOf = (t: ThinkTimeKind): PointWindow => ({
    durationS: o.duration ?? DEFAULT_WINDOWS[t].durationS,
    warmupS: o.warmup ?? DEFAULT_WINDOWS[t].warmupS,
  });
  const windows = { "chat-gaps": windowOf("chat-gaps"), typing: windowOf("typing") };
  for (const t of o.live ? [] : o.thinkTime) {
    const w = windows[t];
    if (w.warmupS >= w.durationS)
      throw new UsageError(`--warmup ${w.warmupS} must be below --duration ${w.durationS} (think time ${t})`);
  }
  const liveWarmupS = windows[o.thinkTime[0]!].warmupS;
  if (o.live && liveWarmupS >= o.liveDuration)
    throw new UsageError(
      `--warmup ${liveWarmupS} (think time ${o.thinkTime[0]}) must be below --live-duration ${o.liveDuration}`,
    );
  if (o.searchStartPerGpu * o.gpus > o.searchMax)
    throw new UsageError(
      `--search-start-per-gpu ${o.searchStartPerGpu} × --gpus ${o.gpus} is above --search-max ${o.searchMax}`,
    );
  for (const p of o.profiles) {
    try {
      engineFacts(p);
    } catch (err) {
      throw new UsageError(`--profiles: ${(err as Error).message.replace(/^--profiles: /, "")}`);
    }
  }
  const chats: ChatSynthShape = {
    turnsGeometricP: o.turnsP,
    maxTurns: o.maxTurns,
    promptMedianTokens: o.promptMedian,
    promptSigma: o.promptSigma,
    promptMinTokens: o.promptMin,
    promptMaxTokens: o.promptMax,
    replyMedianTokens: o.replyMedian,
    replySigma: o.replySigma,
    replyMinTokens: o.replyMin,
    replyMaxTokens: o.replyMax,
    maxContextTokens: o.maxContextTokens,
  };
  const problem = chatShapeProblem(chats);
  if (problem)
    throw new UsageError(
      `chat generator: ${problem} (see --turns-p, --prompt-*, --reply-*, --max-context-tokens)`,
    );
  return Object.freeze({
    experiment: "paper-regime" as const,
    outDir: o.outDir,
    profiles: o.profiles,
    gpus: o.gpus,
    thinkTimes: o.thinkTime,
    configs: STOCK_CONFIGURATIONS.filter((c) => o.configs.includes(c.name)),
    seeds: o.seeds,
    fixedSessionsPerGpu: o.fixedSessionsPerGpu,
    sloP99TtftMs: o.sloP99TtftMs,
    latencyTolerance: o.latencyTolerancePct / 100,
    capacity: o.capacity,
    unloadedSessionsPerGpu: o.unloadedSessionsPerGpu,
    searchStart: o.searchStartPerGpu * o.gpus,
    searchMax: o.searchMax,
    searchTolerance: o.searchTolerancePct / 100,
    chats,
    cpuOffloadGiB: o.cpuOffloadGib,
    warmupTiming: o.warmupTiming,
    hintEtaError: o.hintEtaError,
    hintVariants: o.hintVariants,
    windows,
    live: o.live
      ? { sessionsPerGpu: o.liveSessionsPerGpu, durationS: o.liveDuration, timeScale: o.liveTimeScale }
      : (false as const),
    jobs: o.jobs,
    logLevel: o.logLevel,
  });
}
