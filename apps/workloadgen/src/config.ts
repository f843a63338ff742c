import { Command } from "@commander-js/extra-typings";
import { checkTokenizerSpec, fileField, loadConfigFile, UsageError } from "@symphony/common";
import {
  addOptions,
  CLIENT_AUTH_TOKEN_ENV,
  loadTokens,
  parseOptions,
  type LogLevel,
  type TlsFiles,
} from "@symphony/runtime";
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
import { workloadgenOptions, type WorkloadgenOptions } from "./options";
import { parseTarget, type RunOptions } from "./run-options";
import { runnerShare, type Shard } from "./shard";

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
   * Each sending thread polls for this long before a send deadline (ms; 0 = sleep until it,
   * as punctual as `timerWake` allows).
   * Default 1.5 with one sending thread, 0 with workers.
   */
  timerSpinMs: number;
  /** How a sending thread sleeps until `timerSpinMs` before a deadline (see `PreciseTimers`). */
  timerWake: "thread" | "timeout";
  /** `--shard i/n`: play part i (0-based) of n of the run; undefined = the whole run. */
  shard: Shard | undefined;
}

/** `--config` file: the workload model and its parameters; CLI flags override. */
const option = workloadgenOptions.shape;

/** `--config` file: the workload model and its parameters, as the flags take them; flags override. */
export const configFileSchema = z.strictObject({
  workload: z
    .strictObject({
      type: fileField(option.workload),
      total_duration: fileField(option.totalDuration),
      seed: fileField(option.seed),
      time_scale: fileField(option.timeScale),
      max_requests: fileField(option.maxRequests),
      duration: fileField(option.duration),
      tokenizer: fileField(option.tokenizer),
      // closed loop
      dataset: fileField(option.dataset),
      num_clients: fileField(option.numClients),
      ramp_up: fileField(option.rampUp),
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
      think_time: fileField(option.thinkTime),
      read_speed: fileField(option.readSpeed),
      type_speed: fileField(option.typeSpeed),
      speed_jitter: fileField(option.speedJitter),
      max_output_tokens: fileField(option.maxOutputTokens),
      min_turns: fileField(option.minTurns),
      priority: fileField(option.priority),
      // trace replay
      trace: fileField(option.trace),
      trace_format: fileField(option.traceFormat),
      block_size: fileField(option.blockSize),
      // agent sessions
      agent_trace: fileField(option.agentTrace),
      // The design's layout nests the profile lists here; the top level (below) works too.
      client_profiles: z.array(clientProfileSchema).min(1).optional(),
      agent_profiles: z.array(agentProfileSchema).min(1).optional(),
    })
    .optional(),
  client_profiles: z.array(clientProfileSchema).min(1).optional(),
  agent_profiles: z.array(agentProfileSchema).min(1).optional(),
});
export type ConfigFile = z.output<typeof configFileSchema>;

export function buildProgram() {
  const program = new Command("workloadgen")
    .description(
      "Generates turn-by-turn LLM workloads (closed-loop chat sessions, open-loop client profiles, " +
        "trace replay), sends them to the Symphony scheduler over gRPC or to any OpenAI-compatible server over HTTP, and measures TTFT/TPOT/ITL/E2EL.",
    )
    .exitOverride();
  return addOptions(program, workloadgenOptions);
}

/** Parses argv (without node and script) into a validated Config. Throws UsageError on bad input. */
export function parseConfig(argv: string[]): Readonly<Config> {
  const program = buildProgram();
  program.configureOutput({
    writeErr: (s) => process.stderr.write(s),
  });
  const flags = parseOptions(program, workloadgenOptions, argv);
  const path = flags.values.config;
  return resolveConfig(flags, path ? loadConfigFile(path, configFileSchema) : {});
}

/**
 * The run's configuration from option values and a parsed `--config` file (`values.config` names
 * it in messages): an option given on the command line wins, else the file's value, else the
 * option's default. The simulator resolves its cluster files' workload sections with it too.
 */
export function resolveConfig(
  flags: { values: WorkloadgenOptions; given: (key: keyof WorkloadgenOptions) => boolean },
  file: ConfigFile,
): Readonly<Config> {
  const { values: o, given } = flags;
  const w = file.workload ?? {};
  const clientProfiles = profileList(file, "client_profiles", o.config);
  const agentProfiles = profileList(file, "agent_profiles", o.config);
  const pick = <K extends keyof WorkloadgenOptions>(
    key: K,
    fileValue: WorkloadgenOptions[K] | undefined,
  ): WorkloadgenOptions[K] => (given(key) || fileValue === undefined ? o[key] : fileValue);

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
  const workload = pick("workload", impliedWorkload);
  const run = runOptionsFrom(o, o.target);
  const target = run.address ?? `${o.schedulerIp}:${o.schedulerPort}`;
  const config: Config = {
    ...run.options,
    workload,
    target,
    tokenizer: checkTokenizerSpec(
      pick("tokenizer", w.tokenizer),
      given("tokenizer") || w.tokenizer === undefined ? "--tokenizer" : `${o.config}: workload.tokenizer`,
    ),
    dataset: pick("dataset", w.dataset),
    chatSynth: chatSynthFrom(o.sharegptSynth, w.sharegpt_synth, o.config),
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
      given("duration") || w.duration !== undefined || workload === "closed"
        ? pick("duration", w.duration)
        : undefined,
    ),
    maxRequests: ((n: number) => (n === 0 ? Infinity : n))(pick("maxRequests", w.max_requests)),
    timeScale: pick("timeScale", w.time_scale),
    hints: o.hints,
    stream: o.stream,
    priority: pick("priority", w.priority),
    seed: pick("seed", w.seed),
    out: o.out,
    dryRun: o.dryRun,
    planSize: o.planSize,
    trace: pick("trace", w.trace),
    traceFormat: pick("traceFormat", w.trace_format),
    blockSize: pick("blockSize", w.block_size),
    totalDuration: pick("totalDuration", w.total_duration),
    clientProfiles: clientProfiles ?? [],
    agentProfiles: agentProfiles ?? [],
    agentTrace: pick("agentTrace", w.agent_trace),
    requestTimeout: o.requestTimeout,
    connectTimeout: o.connectTimeout,
    progressInterval: o.progressInterval,
    logLevel: o.logLevel,
    metricsPort: o.metricsPort,
    metricsHost: o.metricsHost,
    configFile: o.config,
    workers: o.workers,
    timerSpinMs: 0, // set below, from the number of sending threads
    timerWake: o.timerWake,
    shard: o.shard,
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
  config.timerSpinMs = given("timerSpinMs") ? o.timerSpinMs : sendingThreads(config) > 1 ? 0 : 1.5;
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

/** The run options from parsed flags; `target` is the --target value, if given. */
function runOptionsFrom(
  o: WorkloadgenOptions,
  target: string | undefined,
): { options: RunOptions; address: string | undefined } {
  const parsed = target === undefined ? undefined : parseTarget(target);
  const authToken = loadTokens(o.authTokenFile, "--auth-token-file", process.env[CLIENT_AUTH_TOKEN_ENV])[0];
  const tls: TlsFiles = {
    caFile: o.tlsCa,
    certFile: o.tlsCert,
    keyFile: o.tlsKey,
  };
  if ((tls.certFile === undefined) !== (tls.keyFile === undefined))
    throw new UsageError("--tls-cert and --tls-key go together (a client certificate needs its key)");
  if (tls.certFile !== undefined && tls.caFile === undefined)
    throw new UsageError(
      "--tls-cert/--tls-key (mTLS) need --tls-ca (the CA that signed the scheduler's certificate)",
    );
  return {
    address: parsed?.address,
    options: {
      targetKind: parsed?.kind ?? "grpc",
      endpoint: o.endpoint,
      model: o.model,
      apiKey: o.apiKey ?? (process.env.OPENAI_API_KEY || authToken),
      authToken,
      tls,
      headers: o.header,
      sessionIdHeader: o.sessionIdHeader,
      sendExpectedResponse: o.sendExpectedResponse,
      httpConnections: o.httpConnections,
      httpClient: o.httpClient,
      slo: o.slo ?? {},
      warmup: o.warmup,
      cooldown: o.cooldown,
      exactRecords: o.exactRecords,
      maxErrors: o.maxErrors === 0 ? Infinity : o.maxErrors,
      maxErrorRate: o.maxErrorRate === 0 ? Infinity : o.maxErrorRate,
      grace: o.grace,
      idleTimeout: o.idleTimeout,
      servers:
        o.serverMetrics !== undefined || o.resetPrefixCache
          ? {
              metrics: o.serverMetrics ?? [],
              intervalS: o.serverMetricsInterval,
              resetPrefixCache: o.resetPrefixCache,
            }
          : undefined,
      startAt: o.startAt,
    },
  };
}
