import { Command, Option } from "commander";
import { UsageError } from "@symphony/common";
import {
  AUTH_TOKEN_ENV,
  CLIENT_AUTH_TOKEN_ENV,
  loadTokens,
  parseArg,
  type LogLevel,
  type TlsFiles,
} from "@symphony/runtime";
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
  /** How long a turn waits for a node to (re)register when none is up, before failing. */
  readonly waitForNodeMs: number;
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
  /** Tokens nodes must present on RegisterNode/Heartbeat ([] = node auth off). */
  readonly nodeAuthTokens: readonly string[];
  /** Tokens clients must present on Submit/Advise/CloseSession/ClusterStatus ([] = client auth off). */
  readonly clientAuthTokens: readonly string[];
  /** The gRPC server's TLS files (none = plaintext). */
  readonly tls: TlsFiles;
  /** CA to trust when dialing nodes over TLS (undefined = plaintext to nodes). */
  readonly nodeTlsCa: string | undefined;
  /** Submits with more prompt text or messages than this are refused before routing. */
  readonly maxPromptBytes: number;
  readonly maxMessages: number;
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
      "--wait-for-node-ms <ms>",
      "a turn arriving while no node is up waits this long for one to (re)register (a scheduler just " +
        "restarted, nodes restarting) before failing UNAVAILABLE; 0 = fail at once",
      parseArg.int(0, 600_000),
      5000,
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
    .option(
      "--auth-token-file <path>",
      `tokens (one per line) nodes must send as "authorization: Bearer" on RegisterNode/Heartbeat (default: $${AUTH_TOKEN_ENV}, else no node auth)`,
    )
    .option(
      "--client-auth-token-file <path>",
      `tokens (one per line, one per client) required on Submit/Advise/CloseSession/ClusterStatus; a session belongs to the token that opened it (default: $${CLIENT_AUTH_TOKEN_ENV}, else no client auth)`,
    )
    .option("--tls-cert <path>", "PEM certificate chain: serve gRPC over TLS (with --tls-key)")
    .option("--tls-key <path>", "PEM private key of --tls-cert")
    .option("--tls-ca <path>", "PEM CA bundle: require client certificates signed by it (mTLS)")
    .option(
      "--max-prompt-bytes <n>",
      "refuse a Submit with more UTF-8 bytes of prompt text than this (INVALID_ARGUMENT, before routing)",
      parseArg.int(1),
      4 << 20,
    )
    .option(
      "--max-messages <n>",
      "refuse a Submit with more chat messages than this",
      parseArg.int(1),
      10_000,
    )
    .option(
      "--node-tls-ca <path>",
      "PEM CA bundle: dial nodes over TLS trusting it (presents --tls-cert/--tls-key to nodes requiring mTLS)",
    )
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
  const o = program.opts<
    Omit<Config, "nodeAuthTokens" | "clientAuthTokens" | "tls" | "nodeTlsCa"> & {
      authTokenFile?: string;
      clientAuthTokenFile?: string;
      tlsCert?: string;
      tlsKey?: string;
      tlsCa?: string;
      nodeTlsCa?: string;
    }
  >();
  if (o.heartbeatTimeoutMs <= o.heartbeatIntervalMs)
    throw new UsageError(
      `--heartbeat-timeout-ms (${o.heartbeatTimeoutMs}) must exceed --heartbeat-interval-ms (${o.heartbeatIntervalMs})`,
    );
  if (o.targetKvFraction >= o.overloadKvFraction)
    throw new UsageError(
      `--target-kv-fraction (${o.targetKvFraction}) must be below --overload-kv-fraction (${o.overloadKvFraction})`,
    );
  if ((o.tlsCert === undefined) !== (o.tlsKey === undefined))
    throw new UsageError("--tls-cert and --tls-key go together (TLS needs both; --tls-ca adds mTLS)");
  if (o.tlsCa !== undefined && o.tlsCert === undefined)
    throw new UsageError("--tls-ca (mTLS) needs --tls-cert and --tls-key (the server's own certificate)");
  const { authTokenFile, clientAuthTokenFile, tlsCert, tlsKey, tlsCa, nodeTlsCa, ...rest } = o;
  return Object.freeze({
    ...rest,
    nodeAuthTokens: loadTokens(authTokenFile, "--auth-token-file", process.env[AUTH_TOKEN_ENV]),
    clientAuthTokens: loadTokens(
      clientAuthTokenFile,
      "--client-auth-token-file",
      process.env[CLIENT_AUTH_TOKEN_ENV],
    ),
    tls: { certFile: tlsCert, keyFile: tlsKey, caFile: tlsCa },
    nodeTlsCa,
  });
}
