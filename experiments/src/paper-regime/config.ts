import { Command, InvalidArgumentError, Option } from "commander";
import { UsageError } from "@symphony/common";
import { parseArg, type LogLevel } from "@symphony/runtime";
import {
  chatShapeProblem,
  SHAREGPT_CHAT_SHAPE,
  type ChatSynthShape,
  type ThinkTimeKind,
} from "@symphony/workloadgen/domain";
import { STOCK_CONFIG_NAMES, STOCK_CONFIGURATIONS, type StockConfiguration } from "./configurations";
import { engineFacts } from "./sim-point";

export const THINK_TIMES = ["chat-gaps", "typing"] as const;

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
  readonly durationS: number;
  readonly warmupS: number;
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
    if (!choices.includes(s as T))
      throw new InvalidArgumentError(`expected one of ${choices.join(", ")}, got "${s}"`);
    return s as T;
  };
}

export function buildRegimeProgram(): Command {
  const pos = parseArg.number(1e-6);
  const d = SHAREGPT_CHAT_SHAPE;
  return (
    new Command("experiments paper-regime")
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
      .option("--out-dir <dir>", "parent folder of the results folder", "results")
      .option(
        "--profiles <list>",
        "engine profiles (mock-vllm: model on GPU), one regime point each (the paper's Llama-2-13B on A100; add llama3-8b-h100 for Llama 3.1 8B on H100)",
        list((s) => s, "profile names"),
        ["llama2-13b-a100"],
      )
      .option(
        "--gpus <n>",
        "GPUs (vLLM engines, one node-scheduler each) per cluster (the paper's 8: see the full-size command)",
        parseArg.int(1, 256),
        2,
      )
      .option(
        "--think-time <list>",
        `user think-time models: ${THINK_TIMES.join(", ")} (workloadgen --think-time), one regime point each`,
        list(choice(THINK_TIMES), "think-time models"),
        ["chat-gaps"],
      )
      .option(
        "--configs <list>",
        `configurations: ${STOCK_CONFIG_NAMES.join(", ")} (always run in 1-5 order)`,
        list(choice(STOCK_CONFIG_NAMES), "configuration names"),
        [...STOCK_CONFIG_NAMES],
      )
      .option(
        "--seeds <list>",
        "seeds (workload, routing, hint errors)",
        list(parseArg.int(0, 2 ** 31 - 1), "seeds"),
        [1, 2, 3],
      )
      .option(
        "--fixed-sessions-per-gpu <n>",
        "the fixed load every configuration is measured at, sessions per GPU (the paper's 256 users on 8 GPUs = 32; 0 = none)",
        parseArg.int(0, 10_000),
        32,
      )
      .option("--slo-p99-ttft-ms <ms>", "capacity criterion: p99 time to first token, ms", pos, 1000)
      .option(
        "--latency-tolerance-pct <pct>",
        "capacity criterion: mean normalized latency (E2EL per output token) at most this % above unloaded vLLM's (configuration 1 at --unloaded-sessions-per-gpu)",
        parseArg.number(0.1, 1000),
        25,
      )
      .option(
        "--unloaded-sessions-per-gpu <n>",
        "sessions per GPU of the unloaded reference point",
        parseArg.int(1, 64),
        1,
      )
      .option(
        "--search-start-per-gpu <n>",
        "sessions per GPU of the first capacity search's first point (later searches start where the previous one ended)",
        parseArg.int(1, 10_000),
        32,
      )
      .option("--search-max <n>", "largest session count a search measures", parseArg.int(1, 100_000), 16_384)
      .option(
        "--search-tolerance-pct <pct>",
        "stop a search when its bracket is this narrow, %",
        parseArg.number(0.1, 100),
        15,
      )
      // Generated ShareGPT-like chats (workloadgen's sharegpt_synth)
      .option(
        "--turns-p <p>",
        "turns per chat = 1 + Geometric(p)",
        parseArg.number(1e-6, 1),
        d.turnsGeometricP,
      )
      .option("--max-turns <n>", "cap on turns per chat", parseArg.int(1, 1000), d.maxTurns)
      .option("--prompt-median <tokens>", "user prompt: LogNormal median", pos, d.promptMedianTokens)
      .option("--prompt-sigma <s>", "user prompt: LogNormal σ", parseArg.number(0, 10), d.promptSigma)
      .option("--prompt-min <tokens>", "user prompt: clamp low", parseArg.int(1), d.promptMinTokens)
      .option("--prompt-max <tokens>", "user prompt: clamp high", parseArg.int(1), d.promptMaxTokens)
      .option("--reply-median <tokens>", "reply: LogNormal median", pos, d.replyMedianTokens)
      .option("--reply-sigma <s>", "reply: LogNormal σ", parseArg.number(0, 10), d.replySigma)
      .option("--reply-min <tokens>", "reply: clamp low", parseArg.int(1), d.replyMinTokens)
      .option("--reply-max <tokens>", "reply: clamp high", parseArg.int(1), d.replyMaxTokens)
      .option(
        "--max-context-tokens <n>",
        "a chat ends before a turn that would take its text past this (0 = 85 % of the profile's context length)",
        parseArg.int(0),
        0,
      )
      // Stock vLLM and Symphony knobs
      .option(
        "--cpu-offload-gib <gib>",
        "host memory for KV per GPU: --kv-offloading-size (3, 4), the node's CPU tier (5)",
        parseArg.number(0),
        64,
      )
      .addOption(
        new Option(
          "--warmup-timing <when>",
          "configuration 4: warm-up at the hint or just in time (node --warmup-timing)",
        )
          .choices(["at-hint", "just-in-time"])
          .default("at-hint"),
      )
      .option(
        "--hint-eta-error <e>",
        "hints' ETA × (1 + e·U(−1, 1)) in configurations 4-5",
        parseArg.number(0, 1),
        0,
      )
      .option("--no-capacity", "skip the capacity searches: measure the fixed load only")
      .option("--no-hint-variants", "skip configuration 4's timing × hint-error variants at the fixed load")
      .option("--duration <s>", "virtual seconds of traffic per point", pos, 150)
      .option(
        "--warmup <s>",
        "first virtual seconds of each point left out of the figures",
        parseArg.number(0),
        50,
      )
      .addOption(
        new Option("--log-level <level>", "log level")
          .choices(["error", "warn", "info", "debug"])
          .default("info"),
      )
      .allowExcessArguments(false)
  );
}

/** Parses argv (without node and script; argv[0] is "paper-regime"). Bad values -> UsageError / CommanderError. */
export function parseRegimeConfig(argv: readonly string[]): Readonly<RegimeConfig> {
  const program = buildRegimeProgram();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.parse([...argv], { from: "user" });
  const o = program.opts<Record<string, unknown>>();
  const num = (k: string) => o[k] as number;
  if (num("warmup") >= num("duration"))
    throw new UsageError(`--warmup ${num("warmup")} must be below --duration ${num("duration")}`);
  if (num("searchStartPerGpu") * num("gpus") > num("searchMax"))
    throw new UsageError(
      `--search-start-per-gpu ${num("searchStartPerGpu")} × --gpus ${num("gpus")} is above --search-max ${num("searchMax")}`,
    );
  const profiles = o.profiles as string[];
  for (const p of profiles) {
    try {
      engineFacts(p);
    } catch (err) {
      throw new UsageError(`--profiles: ${(err as Error).message.replace(/^--profiles: /, "")}`);
    }
  }
  const chats: ChatSynthShape = {
    turnsGeometricP: num("turnsP"),
    maxTurns: num("maxTurns"),
    promptMedianTokens: num("promptMedian"),
    promptSigma: num("promptSigma"),
    promptMinTokens: num("promptMin"),
    promptMaxTokens: num("promptMax"),
    replyMedianTokens: num("replyMedian"),
    replySigma: num("replySigma"),
    replyMinTokens: num("replyMin"),
    replyMaxTokens: num("replyMax"),
    maxContextTokens: num("maxContextTokens"),
  };
  const problem = chatShapeProblem(chats);
  if (problem)
    throw new UsageError(
      `chat generator: ${problem} (see --turns-p, --prompt-*, --reply-*, --max-context-tokens)`,
    );
  const names = o.configs as string[];
  return Object.freeze({
    experiment: "paper-regime" as const,
    outDir: o.outDir as string,
    profiles,
    gpus: num("gpus"),
    thinkTimes: o.thinkTime as ThinkTimeKind[],
    configs: STOCK_CONFIGURATIONS.filter((c) => names.includes(c.name)),
    seeds: o.seeds as number[],
    fixedSessionsPerGpu: num("fixedSessionsPerGpu"),
    sloP99TtftMs: num("sloP99TtftMs"),
    latencyTolerance: num("latencyTolerancePct") / 100,
    capacity: o.capacity as boolean,
    unloadedSessionsPerGpu: num("unloadedSessionsPerGpu"),
    searchStart: num("searchStartPerGpu") * num("gpus"),
    searchMax: num("searchMax"),
    searchTolerance: num("searchTolerancePct") / 100,
    chats,
    cpuOffloadGiB: num("cpuOffloadGib"),
    warmupTiming: o.warmupTiming as "at-hint" | "just-in-time",
    hintEtaError: num("hintEtaError"),
    hintVariants: o.hintVariants as boolean,
    durationS: num("duration"),
    warmupS: num("warmup"),
    logLevel: o.logLevel as LogLevel,
  });
}
