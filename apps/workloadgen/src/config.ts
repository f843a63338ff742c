import { Command, Option } from "commander";
import { checkTokenizerSpec, loadConfigFile, TOKENIZER_FLAG_HELP, UsageError } from "@symphony/common";
import { parseArg, type LogLevel } from "@symphony/runtime";
import { z } from "zod";
import {
  agentProfileSchema,
  chatShapeProblem,
  clientProfileSchema,
  SHAREGPT_CHAT_SHAPE,
  type AgentProfileConfig,
  type ChatSynthShape,
  type ClientProfileConfig,
  type ThinkTimeKind,
} from "./domain";
import { addRunOptions, runOptionsFrom, type RunOptions } from "./run-options";
import { parseShard, runnerShare, type Shard } from "./shard";

export type WorkloadType = "closed" | "open" | "trace" | "agent";

/** Everything one run needs, validated. Times in seconds unless named otherwise. */
export interface Config extends RunOptions {
  workload: WorkloadType;
  /** host:port of the Symphony scheduler (targetKind grpc), or the HTTP base URL (targetKind http). */
  target: string;
  /**
   * The served model's tokenizer (`cl100k`, `llama3`, `llama2` or a tokenizer.json path): counts
   * dataset texts, sizes synthetic prompts ("N tokens" = N tokens of the model) and counts replies
   * when the server sends no usage. Config `workload.tokenizer`.
   */
  tokenizer: string;
  /** Dataset path, or undefined for the embedded sample. */
  dataset: string | undefined;
  /**
   * Closed loop: play generated ShareGPT-like chats (a fresh one per session) instead of a
   * dataset: `--sharegpt-synth` or config `workload.sharegpt_synth` (its keys override the shape).
   */
  chatSynth: ChatSynthShape | undefined;
  /** Closed loop: the think-time model (`--think-time`). */
  thinkTime: ThinkTimeKind;
  numClients: number;
  /** Closed loop: seconds over which the clients start, evenly (0 = all at once). */
  rampUp: number;
  readSpeed: number;
  typeSpeed: number;
  speedJitter: number;
  maxOutputTokens: number;
  minTurns: number;
  /** Seconds; Infinity = until max-requests or the plan ends. */
  duration: number;
  maxRequests: number;
  timeScale: number;
  hints: boolean;
  stream: boolean;
  priority: "high" | "normal" | "low";
  seed: number;
  out: string | undefined;
  dryRun: boolean;
  planSize: number;
  trace: string | undefined;
  traceFormat: "auto" | "azure" | "mooncake";
  blockSize: number;
  /** Open loop: planned length in seconds (config `workload.total_duration`). */
  totalDuration: number;
  clientProfiles: ClientProfileConfig[];
  /** Agent workload: profiles from the config file's `agent_profiles` (issue #12). */
  agentProfiles: AgentProfileConfig[];
  /** Agent workload: a JSONL agent trace to replay instead of profiles. */
  agentTrace: string | undefined;
  requestTimeout: number;
  connectTimeout: number;
  progressInterval: number;
  logLevel: LogLevel;
  /** Prometheus /metrics port while running; undefined = no metrics server. */
  metricsPort: number | undefined;
  metricsHost: string;
  /** The config file, if any. */
  configFile: string | undefined;
  /**
   * Sending threads: 1 = the main thread's event loop; N > 1 = N worker threads, each playing
   * every Nth session with its own schedule and connections (see `src/workers/`).
   */
  workers: number;
  /**
   * Each sending thread polls for this long before a send deadline (ms; 0 = sleep, ~1 ms late).
   * Default 1.5 with one sending thread, 0 with workers.
   */
  timerSpinMs: number;
  /** `--shard i/n`: play part i (0-based) of n of the run; undefined = the whole run. */
  shard: Shard | undefined;
}

/** `--config` file: the workload model and its parameters; CLI flags override. */
export const configFileSchema = z.strictObject({
  workload: z
    .strictObject({
      type: z.enum(["closed", "open", "trace", "agent"]).optional(),
      total_duration: z.number().positive().optional(),
      seed: z.number().int().optional(),
      time_scale: z.number().positive().optional(),
      max_requests: z.number().int().positive().optional(),
      duration: z.number().min(0).optional(),
      tokenizer: z.string().min(1).optional(),
      // closed loop
      dataset: z.string().optional(),
      num_clients: z.number().int().positive().optional(),
      ramp_up: z.number().min(0).optional(),
      sharegpt_synth: z
        .strictObject({
          turns_geometric_p: z.number().optional(),
          max_turns: z.number().optional(),
          prompt_median_tokens: z.number().optional(),
          prompt_sigma: z.number().optional(),
          prompt_min_tokens: z.number().optional(),
          prompt_max_tokens: z.number().optional(),
          reply_median_tokens: z.number().optional(),
          reply_sigma: z.number().optional(),
          reply_min_tokens: z.number().optional(),
          reply_max_tokens: z.number().optional(),
          max_context_tokens: z.number().optional(),
        })
        .optional(),
      think_time: z.enum(["typing", "chat-gaps"]).optional(),
      read_speed: z.number().positive().optional(),
      type_speed: z.number().positive().optional(),
      speed_jitter: z.number().min(0).optional(),
      max_output_tokens: z.number().int().positive().optional(),
      min_turns: z.number().int().positive().optional(),
      priority: z.enum(["high", "normal", "low"]).optional(),
      // trace replay
      trace: z.string().optional(),
      trace_format: z.enum(["auto", "azure", "mooncake"]).optional(),
      block_size: z.number().int().positive().optional(),
      // agent sessions
      agent_trace: z.string().optional(),
      // The design's layout nests the profile lists here; the top level (below) works too.
      client_profiles: z.array(clientProfileSchema).min(1).optional(),
      agent_profiles: z.array(agentProfileSchema).min(1).optional(),
    })
    .optional(),
  client_profiles: z.array(clientProfileSchema).min(1).optional(),
  agent_profiles: z.array(agentProfileSchema).min(1).optional(),
});
export type ConfigFile = z.output<typeof configFileSchema>;

export function buildProgram(): Command {
  const program = new Command("workloadgen")
    .description(
      "Generates turn-by-turn LLM workloads (closed-loop chat sessions, open-loop client profiles, " +
        "trace replay), sends them to the Symphony scheduler over gRPC or to any OpenAI-compatible server over HTTP, and measures TTFT/TPOT/ITL/E2EL.",
    )
    .addOption(
      new Option(
        "--workload <type>",
        "workload model (closed: dataset chat sessions; open: client profiles; trace: replay; agent: agent_profiles or --agent-trace)",
      )
        .choices(["closed", "open", "trace", "agent"])
        .default("closed"),
    )
    .option(
      "--config <file>",
      "YAML/JSON file selecting the workload model and its parameters (flags override)",
    )
    .option(
      "--target <url>",
      "grpc://host:port (the Symphony scheduler; overrides --scheduler-ip/--scheduler-port) or " +
        "http://host:port/v1 (any OpenAI-compatible server)",
    )
    .option("--scheduler-ip <host>", "scheduler host", "127.0.0.1")
    .option("--scheduler-port <port>", "scheduler gRPC port", parseArg.port, 50051)
    .option(
      "--tokenizer <name|path>",
      `${TOKENIZER_FLAG_HELP}; use the served model's, as vLLM's benchmarks do`,
      "llama3",
    )
    .option(
      "--dataset <file>",
      "ShareGPT-style JSON dataset (default: the embedded sample of 12 conversations)",
    )
    .option(
      "--sharegpt-synth",
      "closed loop: play generated ShareGPT-like chats, a fresh one per session, instead of a dataset " +
        "(shape: config workload.sharegpt_synth)",
      false,
    )
    .addOption(
      new Option(
        "--think-time <model>",
        "closed loop: typing (read/type speeds) or chat-gaps (measured gaps between chat turns: p50 7.2 s, p90 15 s, p99 43 s)",
      )
        .choices(["typing", "chat-gaps"])
        .default("typing"),
    )
    .option("--num-clients <n>", "closed loop: concurrent sessions kept active", parseArg.int(1, 100_000), 10)
    .option(
      "--ramp-up <s>",
      "closed loop: start the clients evenly over this many seconds, not all at once",
      parseArg.number(0),
      0,
    )
    .option("--read-speed <cps>", "closed loop: reading speed, chars/s", parseArg.number(1e-6), 25)
    .option("--type-speed <cps>", "closed loop: typing speed, chars/s", parseArg.number(1e-6), 6)
    .option(
      "--speed-jitter <cv>",
      "closed loop: per-user spread of speeds (LogNormal std/mean; 0 = none)",
      parseArg.number(0, 10),
      0,
    )
    .option("--max-output-tokens <n>", "cap on max_output_tokens per turn", parseArg.int(1), 2048)
    .option(
      "--min-turns <n>",
      "closed loop: skip conversations with fewer user/assistant pairs",
      parseArg.int(1),
      1,
    )
    .option(
      "--duration <s>",
      "stop starting turns after this many seconds (0 = no limit; open/trace default: until the plan ends)",
      parseArg.number(0),
      60,
    )
    .option(
      "--max-requests <n>",
      "stop starting turns after this many requests (0 = no limit)",
      parseArg.int(0),
      0,
    )
    .option(
      "--time-scale <x>",
      "divide think times, delays and trace/plan times by this",
      parseArg.number(1e-6),
      1,
    )
    .option("--no-hints", "do not send Advise hints before next turns")
    .option("--no-stream", "closed loop: ask for one Token event instead of streaming")
    .addOption(
      new Option("--priority <p>", "closed loop: request priority")
        .choices(["high", "normal", "low"])
        .default("normal"),
    )
    .option("--seed <n>", "seed for every random stream", parseArg.int(0, 2 ** 31 - 1), 0)
    .option(
      "--out <dir>",
      "write requests.jsonl, summary.json, summary.csv and report.html (plan.jsonl with --dry-run) here",
    )
    .option("--dry-run", "print/write the plan without sending anything", false)
    .option("--plan-size <n>", "dry run: sessions listed on stdout", parseArg.int(0), 20)
    .option(
      "--trace <file>",
      "trace replay: Azure CSV (TIMESTAMP,ContextTokens,GeneratedTokens) or Mooncake JSONL",
    )
    .addOption(
      new Option("--trace-format <f>", "trace format").choices(["auto", "azure", "mooncake"]).default("auto"),
    )
    .option(
      "--agent-trace <file>",
      "agent workload: replay a JSONL agent trace (messages with role user/assistant/tool, tool latency_ms)",
    )
    .option("--block-size <tokens>", "trace replay: tokens per Mooncake hash block", parseArg.int(1), 512)
    .option(
      "--total-duration <s>",
      "open loop: planned length in seconds (config workload.total_duration)",
      parseArg.number(1e-3),
      60,
    )
    .option(
      "--request-timeout <s>",
      "deadline per turn in seconds, whole turn: the gRPC call's deadline, the HTTP request's total time (0 = none)",
      parseArg.number(0),
      600,
    )
    .option(
      "--connect-timeout <s>",
      "wait this long for the scheduler before giving up",
      parseArg.number(0),
      10,
    )
    .option(
      "--progress-interval <s>",
      "seconds between progress log lines when stderr is not a TTY",
      parseArg.number(0.1),
      5,
    )
    .option(
      "--metrics-port <port>",
      "serve client-side Prometheus /metrics on this port while running (0 = a free port; default: off)",
      parseArg.port,
    )
    .option("--metrics-host <host>", "interface for --metrics-port", "127.0.0.1")
    .option(
      "--workers <n>",
      "send from n worker threads, each playing every nth session on its own event loop and " +
        "connections (1 = the main thread sends)",
      parseArg.int(1, 64),
      1,
    )
    .addOption(
      new Option(
        "--timer-spin-ms <ms>",
        "poll for this long before each send deadline: punctual to µs but busy whenever sends are " +
          "closer than this (0 = sleep: sends up to ~1 ms late, idle threads cost no CPU)",
      )
        .argParser(parseArg.number(0, 100))
        // Several polling threads would compete for cores with each other and the server.
        .default(1.5, "1.5 with --workers 1, 0 with more workers"),
    )
    .option(
      "--shard <i/n>",
      "play part i (0-based) of n of the run: every nth session from the ith, arrival times kept, " +
        "its share of --num-clients and --max-requests (merge the results with `workloadgen merge`)",
      parseShard,
    )
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["error", "warn", "info", "debug"])
        .default("info"),
    )
    .exitOverride();
  return addRunOptions(program);
}

/** Parses argv (without node and script) into a validated Config. Throws UsageError on bad input. */
export function parseConfig(argv: string[]): Readonly<Config> {
  const program = buildProgram();
  program.configureOutput({
    writeErr: (s) => process.stderr.write(s),
  });
  program.parse(argv, { from: "user" });
  const o = program.opts();
  const fromCli = (name: string) => program.getOptionValueSource(name) === "cli";
  const file: ConfigFile = o.config ? loadConfigFile(o.config as string, configFileSchema) : {};
  const w = file.workload ?? {};
  const clientProfiles = profileList(file, "client_profiles", o.config as string | undefined);
  const agentProfiles = profileList(file, "agent_profiles", o.config as string | undefined);
  // A flag given on the command line wins; otherwise the file's value; otherwise the flag's default.
  const pick = <T>(flag: string, fileValue: T | undefined): T =>
    fromCli(flag) || fileValue === undefined ? (o[flag] as T) : fileValue;

  // The model: --workload, else the file's workload.type, else implied by what was given.
  const impliedWorkload: WorkloadType | undefined =
    w.type ??
    (o.trace || w.trace
      ? "trace"
      : o.agentTrace || w.agent_trace || agentProfiles
        ? "agent"
        : clientProfiles
          ? "open"
          : undefined);
  const workload = pick<WorkloadType>("workload", impliedWorkload);
  const run = runOptionsFrom(o, o.target as string | undefined);
  const target = run.address ?? `${o.schedulerIp as string}:${o.schedulerPort as number}`;
  const config: Config = {
    ...run.options,
    workload,
    target,
    tokenizer: checkTokenizerSpec(
      pick<string>("tokenizer", w.tokenizer),
      fromCli("tokenizer") || w.tokenizer === undefined
        ? "--tokenizer"
        : `${o.config as string}: workload.tokenizer`,
    ),
    dataset: pick<string | undefined>("dataset", w.dataset),
    chatSynth: chatSynthFrom(o.sharegptSynth as boolean, w.sharegpt_synth, o.config as string | undefined),
    thinkTime: pick("thinkTime", w.think_time),
    numClients: pick("numClients", w.num_clients),
    rampUp: pick("rampUp", w.ramp_up),
    readSpeed: pick("readSpeed", w.read_speed),
    typeSpeed: pick("typeSpeed", w.type_speed),
    speedJitter: pick("speedJitter", w.speed_jitter),
    maxOutputTokens: pick("maxOutputTokens", w.max_output_tokens),
    minTurns: pick("minTurns", w.min_turns),
    // Open-loop plans and traces have their own length: there the default is "until the plan ends".
    duration: ((d: number | undefined) => (d === undefined || d === 0 ? Infinity : d))(
      fromCli("duration") || w.duration !== undefined || workload === "closed"
        ? pick<number>("duration", w.duration)
        : undefined,
    ),
    maxRequests: ((n: number) => (n === 0 ? Infinity : n))(pick("maxRequests", w.max_requests)),
    timeScale: pick("timeScale", w.time_scale),
    hints: o.hints as boolean,
    stream: o.stream as boolean,
    priority: pick("priority", w.priority),
    seed: pick("seed", w.seed),
    out: o.out as string | undefined,
    dryRun: o.dryRun as boolean,
    planSize: o.planSize as number,
    trace: pick<string | undefined>("trace", w.trace),
    traceFormat: pick("traceFormat", w.trace_format),
    blockSize: pick("blockSize", w.block_size),
    totalDuration: pick("totalDuration", w.total_duration),
    clientProfiles: clientProfiles ?? [],
    agentProfiles: agentProfiles ?? [],
    agentTrace: pick<string | undefined>("agentTrace", w.agent_trace),
    requestTimeout: o.requestTimeout as number,
    connectTimeout: o.connectTimeout as number,
    progressInterval: o.progressInterval as number,
    logLevel: o.logLevel as LogLevel,
    metricsPort: o.metricsPort as number | undefined,
    metricsHost: o.metricsHost as string,
    configFile: o.config as string | undefined,
    workers: o.workers as number,
    timerSpinMs: 0, // set below, from the number of sending threads
    shard: o.shard as Shard | undefined,
  };
  if (config.workload === "open" && config.clientProfiles.length === 0) {
    throw new UsageError(
      "--workload open needs client_profiles: pass --config <file> with a client_profiles list",
    );
  }
  if (config.workload === "agent" && config.agentProfiles.length === 0 && !config.agentTrace) {
    throw new UsageError("--workload agent needs agent_profiles in --config <file>, or --agent-trace <file>");
  }
  if (Number.isFinite(config.duration) && config.warmup + config.cooldown >= config.duration) {
    throw new UsageError(
      `--warmup ${config.warmup} s + --cooldown ${config.cooldown} s leave no measurement window in ` +
        `--duration ${config.duration} s: make them shorter than the run`,
    );
  }
  if (config.chatSynth && config.dataset !== undefined) {
    throw new UsageError("--sharegpt-synth and --dataset both choose the conversations: keep one of them");
  }
  if (config.workload === "trace" && !config.trace) {
    throw new UsageError("--workload trace needs --trace <file> (or workload.trace in the config file)");
  }
  // Polling before deadlines helps one sending thread; with several it starves the others.
  config.timerSpinMs = fromCli("timerSpinMs")
    ? (o.timerSpinMs as number)
    : sendingThreads(config) > 1
      ? 0
      : 1.5;
  return Object.freeze(config);
}

/** The generator's shape: the ShareGPT defaults overridden by the file's keys; undefined when not chosen. */
function chatSynthFrom(
  flag: boolean,
  section: NonNullable<ConfigFile["workload"]>["sharegpt_synth"],
  source: string | undefined,
): ChatSynthShape | undefined {
  if (!flag && section === undefined) return undefined;
  const s = section ?? {};
  const d = SHAREGPT_CHAT_SHAPE;
  const shape: ChatSynthShape = {
    turnsGeometricP: s.turns_geometric_p ?? d.turnsGeometricP,
    maxTurns: s.max_turns ?? d.maxTurns,
    promptMedianTokens: s.prompt_median_tokens ?? d.promptMedianTokens,
    promptSigma: s.prompt_sigma ?? d.promptSigma,
    promptMinTokens: s.prompt_min_tokens ?? d.promptMinTokens,
    promptMaxTokens: s.prompt_max_tokens ?? d.promptMaxTokens,
    replyMedianTokens: s.reply_median_tokens ?? d.replyMedianTokens,
    replySigma: s.reply_sigma ?? d.replySigma,
    replyMinTokens: s.reply_min_tokens ?? d.replyMinTokens,
    replyMaxTokens: s.reply_max_tokens ?? d.replyMaxTokens,
    maxContextTokens: s.max_context_tokens ?? d.maxContextTokens,
  };
  const problem = chatShapeProblem(shape);
  if (problem) throw new UsageError(`${source ?? "--sharegpt-synth"}: workload.sharegpt_synth: ${problem}`);
  return shape;
}

/**
 * A profile list from the top level or from under `workload:` (the design's layout); both at
 * once is ambiguous and refused, naming the file.
 */
function profileList<K extends "client_profiles" | "agent_profiles">(
  file: ConfigFile,
  key: K,
  source: string | undefined,
): NonNullable<ConfigFile[K]> | undefined {
  const top = file[key];
  const nested = file.workload?.[key];
  if (top && nested)
    throw new UsageError(
      `${source ?? "config"}: ${key} is given both at the top level and under workload: keep one of them`,
    );
  return (top ?? nested) as NonNullable<ConfigFile[K]> | undefined;
}

/**
 * The number of sending threads: `--workers`, but no more than closed-loop clients (a worker
 * without a client would have nothing to play).
 */
export function sendingThreads(
  config: Readonly<Pick<Config, "workload" | "workers" | "numClients" | "maxRequests" | "shard">>,
): number {
  return config.workload === "closed"
    ? Math.min(config.workers, runnerShare(config).numClients)
    : config.workers;
}
