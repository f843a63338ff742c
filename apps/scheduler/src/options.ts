import {
  AUTH_TOKEN_ENV,
  CLIENT_AUTH_TOKEN_ENV,
  flag,
  logLevelOption,
  parseHostPorts,
} from "@symphony/common";
import { z } from "zod";
import { DEFAULT_POLICY_PARAMS, POLICY_NAMES } from "./domain";

const ms = () => z.int().min(1).max(86_400_000);

/**
 * The scheduler's options: each field's type, bounds, default and help, from which its flags and
 * the simulator's `scheduler:` and `policy_params:` sections are derived. Times in ms.
 */
export const schedulerOptions = z.object({
  host: flag(z.string().default("127.0.0.1"), "--host <host>", "interface to bind (gRPC and metrics)"),
  port: flag(z.int().min(0).max(65535).default(50051), "--port <port>", "gRPC port (0 = pick a free port)"),
  metricsPort: flag(
    z.int().min(0).max(65535).default(9464),
    "--metrics-port <port>",
    "HTTP port for /metrics and /status (0 = free port)",
  ),
  nodes: flag(
    z.array(z.string()).default([]),
    "--nodes <host:port,...>",
    "static node-scheduler addresses, polled with Status",
    { parse: parseHostPorts },
  ),
  policy: flag(z.enum(POLICY_NAMES).default("session-affinity"), "--policy <name>", "routing policy"),
  heartbeatIntervalMs: flag(
    ms().default(1000),
    "--heartbeat-interval-ms <ms>",
    "heartbeat period asked of registered nodes",
  ),
  heartbeatTimeoutMs: flag(
    ms().default(3000),
    "--heartbeat-timeout-ms <ms>",
    "a node silent this long is marked down",
  ),
  pollIntervalMs: flag(ms().default(500), "--poll-interval-ms <ms>", "Status/health poll period for --nodes"),
  nodeCallTimeoutMs: flag(
    ms().default(2000),
    "--node-call-timeout-ms <ms>",
    "deadline of unary calls to nodes (Status, Advise, ...)",
  ),
  /** Relays failing in a row that mark a node down without a failed health check. */
  relayFailuresToDown: flag(
    z.int().min(1).max(1000).default(3),
    "--relay-failures-to-down <n>",
    "relays failing in a row that mark a node down (a failed health probe does it at once)",
  ),
  requestTimeoutMs: flag(
    ms().default(600_000),
    "--request-timeout-ms <ms>",
    "deadline of one relayed turn (a request's deadline_ms may be shorter)",
  ),
  waitForNodeMs: flag(
    z.int().min(0).max(600_000).default(5000),
    "--wait-for-node-ms <ms>",
    "a turn arriving while no node is up waits this long for one to (re)register (a scheduler just " +
      "restarted, nodes restarting) before failing UNAVAILABLE; 0 = fail at once",
  ),
  rebalanceIntervalMs: flag(
    z.int().min(0).max(86_400_000).default(2000),
    "--rebalance-interval-ms <ms>",
    "period of the rebalancing round (0 = off)",
  ),
  overloadKvFraction: flag(
    z.number().min(0.01).max(1).default(0.9),
    "--overload-kv-fraction <f>",
    "a node at this GPU KV utilization is overloaded",
  ),
  targetKvFraction: flag(
    z.number().min(0).max(1).default(0.75),
    "--target-kv-fraction <f>",
    "rebalance an overloaded node down to this utilization",
  ),
  overloadQueue: flag(
    z.int().min(0).default(0),
    "--overload-queue <n>",
    "a node with this many outstanding requests is overloaded (0 = off)",
  ),
  maxMovesPerRound: flag(
    z.int().min(0).default(8),
    "--max-moves-per-round <n>",
    "most sessions moved per rebalancing round",
  ),
  sessionTtlMs: flag(
    z.int().min(0).default(1_800_000),
    "--session-ttl-ms <ms>",
    "forget sessions idle this long (0 = never)",
  ),
  queueWeight: flag(
    z.number().min(0).default(DEFAULT_POLICY_PARAMS.queueWeight),
    "--queue-weight <w>",
    "weight of the queue scorer",
  ),
  kvWeight: flag(
    z.number().min(0).default(DEFAULT_POLICY_PARAMS.kvWeight),
    "--kv-weight <w>",
    "weight of the free-KV scorer",
  ),
  prefixWeight: flag(
    z.number().min(0).default(DEFAULT_POLICY_PARAMS.prefixWeight),
    "--prefix-weight <w>",
    "weight of the prefix-hit scorer (kv-aware)",
  ),
  queueHalfScore: flag(
    z.number().min(0.001).default(DEFAULT_POLICY_PARAMS.queueHalfScoreRequests),
    "--queue-half-score <n>",
    "outstanding requests at which the queue score is 1/2",
  ),
  prefixBlockChars: flag(
    z.int().min(16).max(65536).default(256),
    "--prefix-block-chars <n>",
    "characters per prefix-hash block (kv-aware)",
  ),
  seed: flag(z.int().min(0).default(1), "--seed <n>", "seed for tie-breaking"),
  authTokenFile: flag(
    z.string().optional(),
    "--auth-token-file <path>",
    `tokens (one per line) nodes must send as "authorization: Bearer" on RegisterNode/Heartbeat (default: $${AUTH_TOKEN_ENV}, else no node auth)`,
  ),
  clientAuthTokenFile: flag(
    z.string().optional(),
    "--client-auth-token-file <path>",
    `tokens (one per line, one per client) required on Submit/Advise/CloseSession/ClusterStatus; a session belongs to the token that opened it (default: $${CLIENT_AUTH_TOKEN_ENV}, else no client auth)`,
  ),
  tlsCert: flag(
    z.string().optional(),
    "--tls-cert <path>",
    "PEM certificate chain: serve gRPC over TLS (with --tls-key)",
  ),
  tlsKey: flag(z.string().optional(), "--tls-key <path>", "PEM private key of --tls-cert"),
  tlsCa: flag(
    z.string().optional(),
    "--tls-ca <path>",
    "PEM CA bundle: require client certificates signed by it (mTLS)",
  ),
  maxPromptBytes: flag(
    z
      .int()
      .min(1)
      .default(4 << 20),
    "--max-prompt-bytes <n>",
    "refuse a Submit with more UTF-8 bytes of prompt text than this (INVALID_ARGUMENT, before routing)",
  ),
  maxMessages: flag(
    z.int().min(1).default(10_000),
    "--max-messages <n>",
    "refuse a Submit with more chat messages than this",
  ),
  nodeTlsCa: flag(
    z.string().optional(),
    "--node-tls-ca <path>",
    "PEM CA bundle: dial nodes over TLS trusting it (presents --tls-cert/--tls-key to nodes requiring mTLS)",
  ),
  logLevel: logLevelOption(),
});
export type SchedulerOptions = z.output<typeof schedulerOptions>;
