import { Command, InvalidArgumentError, Option } from "commander";
import { UsageError } from "@symphony/common";
import { parseArg, type LogLevel } from "@symphony/runtime";
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

export function buildProgram(): Command {
  const pos = parseArg.number(1e-6);
  return (
    new Command("experiments")
      .description(
        "symphony-effect (issue #11): how many concurrent multi-turn sessions meet a p99 TTFT SLO under four " +
          "configurations (1 round-robin, 2 session affinity, 3 affinity + node residency, 4 affinity + residency + " +
          "advisory hints), simulated (8 nodes) and live (local stack). Writes results/symphony-effect-<timestamp>/.",
      )
      .exitOverride()
      .showHelpAfterError(false)
      .addArgument(
        new Command()
          .createArgument("[experiment]", "experiment name (only symphony-effect)")
          .default("symphony-effect"),
      )
      .option("--out-dir <dir>", "parent folder of the results folder", "results")
      .option("--scales <list>", `scales to run: ${SCALE_NAMES.join(", ")}`, nameList(SCALE_NAMES), [
        ...SCALE_NAMES,
      ])
      .option(
        "--configs <list>",
        `configurations to run: ${CONFIG_NAMES.join(", ")}`,
        nameList(CONFIG_NAMES),
        [...CONFIG_NAMES],
      )
      .option("--slo-p99-ttft-ms <ms>", "SLO: p99 time to first token, ms", pos, 500)
      .option("--seed <n>", "seed of the dataset, workload and routing", parseArg.int(0, 2 ** 31 - 1), 1)
      // Dataset (synthetic ShareGPT-like chats; both scales replay the same file)
      .option("--conversations <n>", "conversations in the synthetic dataset", parseArg.int(1, 100_000), 400)
      .option("--min-turns <n>", "fewest user/assistant pairs per conversation", parseArg.int(1, 100), 4)
      .option("--max-turns <n>", "most user/assistant pairs per conversation", parseArg.int(1, 100), 10)
      .option("--mean-prompt-tokens <n>", "mean user prompt length, tokens", parseArg.int(8, 8192), 200)
      .option("--mean-reply-tokens <n>", "mean assistant reply length, tokens", parseArg.int(8, 8192), 200)
      // Simulated scale
      .option("--sim-nodes <n>", "simulated nodes", parseArg.int(1, 256), 8)
      .option(
        "--sim-kv-tokens <n>",
        "engine KV cache = node GPU budget per simulated node, tokens",
        parseArg.int(1024),
        65_536,
      )
      .option(
        "--sim-cpu-tokens <n>",
        "CPU offload tier per simulated node, tokens (configs 3, 4)",
        parseArg.int(0),
        262_144,
      )
      .option(
        "--sim-sessions <list>",
        "simulated session counts, ascending",
        sessionList,
        [500, 1000, 1500, 2000, 2500, 3000],
      )
      .option("--sim-duration <s>", "virtual seconds of traffic per simulated point", pos, 150)
      .option(
        "--sim-warmup <s>",
        "virtual seconds at the start of each point left out of the figures",
        parseArg.number(0),
        30,
      )
      .option("--sim-think-scale <x>", "simulated user think times are divided by this", pos, 10)
      // Live scale (and sim-small, its simulated twin)
      .option("--live-nodes <n>", "mock engines + node-schedulers on loopback", parseArg.int(1, 8), 2)
      .option(
        "--live-kv-tokens <n>",
        "engine KV cache = node GPU budget per live node, tokens",
        parseArg.int(1024),
        8192,
      )
      .option(
        "--live-cpu-tokens <n>",
        "CPU offload tier per live node, tokens (configs 3, 4)",
        parseArg.int(0),
        65_536,
      )
      .option("--live-sessions <list>", "live session counts, ascending", sessionList, [16, 48])
      .option("--live-duration <s>", "wall seconds of traffic per live point", pos, 25)
      .option(
        "--live-warmup <s>",
        "seconds at the start of each live point left out of the figures",
        parseArg.number(0),
        5,
      )
      .option("--live-think-scale <x>", "live user think times are divided by this", pos, 50)
      .option("--live-engine-time-scale <x>", "mock-vllm --time-scale of the live engines", pos, 1)
      .addOption(
        new Option("--log-level <level>", "log level")
          .choices(["error", "warn", "info", "debug"])
          .default("info"),
      )
      .allowExcessArguments(false)
  );
}

/** Parses argv (without node and script). Bad flags -> UsageError / CommanderError (exit 2). */
export function parseConfig(argv: readonly string[]): Readonly<Config> {
  const program = buildProgram();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.parse([...argv], { from: "user" });
  const experiment = program.processedArgs[0] as string;
  if (experiment !== "symphony-effect")
    throw new UsageError(`unknown experiment "${experiment}"; the only one is symphony-effect`);
  const o = program.opts<Record<string, unknown>>();
  const num = (k: string) => o[k] as number;
  if (num("minTurns") > num("maxTurns"))
    throw new UsageError(`--min-turns ${num("minTurns")} is above --max-turns ${num("maxTurns")}`);
  for (const s of ["sim", "live"] as const) {
    if (num(`${s}Warmup`) >= num(`${s}Duration`))
      throw new UsageError(
        `--${s}-warmup ${num(`${s}Warmup`)} must be below --${s}-duration ${num(`${s}Duration`)}`,
      );
  }
  const scale = (s: "sim" | "live"): Scale => ({
    mode: s,
    nodes: num(`${s}Nodes`),
    kvTokens: num(`${s}KvTokens`),
    cpuTokens: num(`${s}CpuTokens`),
    sessions: o[`${s}Sessions`] as number[],
    durationS: num(`${s}Duration`),
    warmupS: num(`${s}Warmup`),
    thinkTimeScale: num(`${s}ThinkScale`),
    engineTimeScale: s === "live" ? num("liveEngineTimeScale") : 1,
  });
  return Object.freeze({
    experiment: "symphony-effect" as const,
    outDir: o.outDir as string,
    scales: o.scales as ScaleName[],
    configs: (o.configs as string[])
      .map(configurationNamed)
      .sort((a, b) => CONFIG_NAMES.indexOf(a.name) - CONFIG_NAMES.indexOf(b.name)),
    sloP99TtftMs: num("sloP99TtftMs"),
    seed: num("seed"),
    dataset: {
      conversations: num("conversations"),
      minTurns: num("minTurns"),
      maxTurns: num("maxTurns"),
      meanPromptTokens: num("meanPromptTokens"),
      meanReplyTokens: num("meanReplyTokens"),
    },
    sim: scale("sim"),
    live: scale("live"),
    logLevel: o.logLevel as LogLevel,
  });
}
