import { Command, Option } from "commander";
import { parseArg, UsageError, type LogLevel } from "@symphony/common";
import { POLICY_NAMES, type PolicyName } from "./domain";

/** Validated scheduler configuration (times in ms as on the command line). */
export interface Config {
  readonly host: string;
  readonly port: number;
  readonly metricsPort: number;
  readonly nodes: readonly string[];
  readonly policy: PolicyName;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
  readonly pollIntervalMs: number;
  readonly nodeCallTimeoutMs: number;
  /** Relays failing in a row that mark a node down without a failed health check. */
  readonly relayFailuresToDown: number;
  readonly requestTimeoutMs: number;
  readonly rebalanceIntervalMs: number;
  readonly overloadKvFraction: number;
  readonly targetKvFraction: number;
  readonly overloadQueue: number;
  readonly maxMovesPerRound: number;
  readonly sessionTtlMs: number;
  readonly queueWeight: number;
  readonly kvWeight: number;
  readonly prefixWeight: number;
  readonly queueHalfScore: number;
  readonly prefixBlockChars: number;
  readonly seed: number;
  readonly logLevel: LogLevel;
}

export function buildProgram(): Command {
  const ms = parseArg.int(1, 86_400_000);
  return new Command("scheduler")
    .description("Global gRPC scheduler: the cluster's entry point, routes each session's turns to a node")
    .exitOverride()
    .showHelpAfterError(false)
    .option("--host <host>", "interface to bind (gRPC and metrics)", "127.0.0.1")
    .option("--port <port>", "gRPC port (0 = pick a free port)", parseArg.port, 50051)
    .option(
      "--metrics-port <port>",
      "HTTP port for /metrics and /status (0 = free port)",
      parseArg.port,
      9464,
    )
    .option(
      "--nodes <host:port,...>",
      "static node-scheduler addresses, polled with Status",
      parseArg.hostPorts,
      [],
    )
    .addOption(
      new Option("--policy <name>", "routing policy").choices([...POLICY_NAMES]).default("session-affinity"),
    )
    .option("--heartbeat-interval-ms <ms>", "heartbeat period asked of registered nodes", ms, 1000)
    .option("--heartbeat-timeout-ms <ms>", "a node silent this long is marked down", ms, 3000)
    .option("--poll-interval-ms <ms>", "Status/health poll period for --nodes", ms, 500)
    .option("--node-call-timeout-ms <ms>", "deadline of unary calls to nodes (Status, Advise, ...)", ms, 2000)
    .option(
      "--relay-failures-to-down <n>",
      "relays failing in a row that mark a node down (a failed health probe does it at once)",
      parseArg.int(1, 1000),
      3,
    )
    .option(
      "--request-timeout-ms <ms>",
      "deadline of one relayed turn (a request's deadline_ms may be shorter)",
      ms,
      600_000,
    )
    .option(
      "--rebalance-interval-ms <ms>",
      "period of the rebalancing round (0 = off)",
      parseArg.int(0, 86_400_000),
      2000,
    )
    .option(
      "--overload-kv-fraction <f>",
      "a node at this GPU KV utilization is overloaded",
      parseArg.number(0.01, 1),
      0.9,
    )
    .option(
      "--target-kv-fraction <f>",
      "rebalance an overloaded node down to this utilization",
      parseArg.number(0, 1),
      0.75,
    )
    .option(
      "--overload-queue <n>",
      "a node with this many outstanding requests is overloaded (0 = off)",
      parseArg.int(0),
      0,
    )
    .option("--max-moves-per-round <n>", "most sessions moved per rebalancing round", parseArg.int(0), 8)
    .option("--session-ttl-ms <ms>", "forget sessions idle this long (0 = never)", parseArg.int(0), 1_800_000)
    .option("--queue-weight <w>", "weight of the queue scorer", parseArg.number(0), 1)
    .option("--kv-weight <w>", "weight of the free-KV scorer", parseArg.number(0), 1)
    .option("--prefix-weight <w>", "weight of the prefix-hit scorer (kv-aware)", parseArg.number(0), 2)
    .option(
      "--queue-half-score <n>",
      "outstanding requests at which the queue score is 1/2",
      parseArg.number(0.001),
      4,
    )
    .option(
      "--prefix-block-chars <n>",
      "characters per prefix-hash block (kv-aware)",
      parseArg.int(16, 65536),
      256,
    )
    .option("--seed <n>", "seed for tie-breaking", parseArg.int(0), 1)
    .addOption(
      new Option("--log-level <level>", "log level")
        .choices(["error", "warn", "info", "debug"])
        .default("info"),
    );
}

/** Parses argv (without node and script) into a validated Config; bad input -> UsageError/CommanderError. */
export function parseConfig(argv: readonly string[]): Readonly<Config> {
  const program = buildProgram();
  program.parse([...argv], { from: "user" });
  const o = program.opts<Config>();
  if (o.heartbeatTimeoutMs <= o.heartbeatIntervalMs)
    throw new UsageError(
      `--heartbeat-timeout-ms (${o.heartbeatTimeoutMs}) must exceed --heartbeat-interval-ms (${o.heartbeatIntervalMs})`,
    );
  if (o.targetKvFraction >= o.overloadKvFraction)
    throw new UsageError(
      `--target-kv-fraction (${o.targetKvFraction}) must be below --overload-kv-fraction (${o.overloadKvFraction})`,
    );
  return Object.freeze({ ...o });
}
