import { Command } from "@commander-js/extra-typings";
import { UsageError } from "@symphony/common";
import {
  addOptions,
  AUTH_TOKEN_ENV,
  CLIENT_AUTH_TOKEN_ENV,
  loadTokens,
  parseOptions,
  type TlsFiles,
} from "@symphony/runtime";
import { schedulerOptions, type SchedulerOptions } from "./options";

/** Validated scheduler configuration (times in ms as on the command line): see `schedulerOptions`. */
export type Config = Omit<
  SchedulerOptions,
  "authTokenFile" | "clientAuthTokenFile" | "tlsCert" | "tlsKey" | "tlsCa"
> & {
  /** Tokens nodes must present on RegisterNode/Heartbeat ([] = node auth off). */
  readonly nodeAuthTokens: readonly string[];
  /** Tokens clients must present on Submit/Advise/CloseSession/ClusterStatus ([] = client auth off). */
  readonly clientAuthTokens: readonly string[];
  /** The gRPC server's TLS files (none = plaintext). */
  readonly tls: TlsFiles;
};

export function buildProgram() {
  const program = new Command("scheduler")
    .description("Global gRPC scheduler: the cluster's entry point, routes each session's turns to a node")
    .exitOverride()
    .showHelpAfterError(false);
  return addOptions(program, schedulerOptions);
}

/** Parses argv (without node and script) into a validated Config; bad input -> UsageError/CommanderError. */
export function parseConfig(argv: readonly string[]): Readonly<Config> {
  const o = parseOptions(buildProgram(), schedulerOptions, argv).values;
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
  const { authTokenFile, clientAuthTokenFile, tlsCert, tlsKey, tlsCa, ...rest } = o;
  return Object.freeze({
    ...rest,
    nodeAuthTokens: loadTokens(authTokenFile, "--auth-token-file", process.env[AUTH_TOKEN_ENV]),
    clientAuthTokens: loadTokens(
      clientAuthTokenFile,
      "--client-auth-token-file",
      process.env[CLIENT_AUTH_TOKEN_ENV],
    ),
    tls: { certFile: tlsCert, keyFile: tlsKey, caFile: tlsCa },
  });
}
