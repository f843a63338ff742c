import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus,
  HealthService,
  type HealthServer,
} from "./gen/grpc/health/v1/health";
import { listenFailure } from "./listen-errors";
import { UsageError } from "@symphony/common";

/**
 * Standard gRPC health checking (grpc.health.v1). "" is the whole server; services register by
 * their full name. Watch streams the current status and every change.
 */
export class HealthRegistry {
  private readonly statuses = new Map<string, HealthCheckResponse_ServingStatus>([
    ["", HealthCheckResponse_ServingStatus.SERVING],
  ]);
  private readonly watchers = new Set<{
    service: string;
    call: grpc.ServerWritableStream<unknown, unknown>;
  }>();

  set(service: string, status: HealthCheckResponse_ServingStatus): void {
    this.statuses.set(service, status);
    for (const w of this.watchers) if (w.service === service) w.call.write({ status });
  }

  /** Marks every service NOT_SERVING (on shutdown, so balancers stop sending). */
  shutdown(): void {
    for (const service of this.statuses.keys())
      this.set(service, HealthCheckResponse_ServingStatus.NOT_SERVING);
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
  }

  readonly handlers: HealthServer = {
    check: (call, callback) => {
      const status = this.statuses.get(call.request.service);
      if (status === undefined) {
        return callback({
          code: grpc.status.NOT_FOUND,
          details: `unknown service "${call.request.service}"`,
        });
      }
      return callback(null, { status });
    },
    watch: (call) => {
      const service = call.request.service;
      const watcher = { service, call: call as grpc.ServerWritableStream<unknown, unknown> };
      this.watchers.add(watcher);
      call.write({ status: this.statuses.get(service) ?? HealthCheckResponse_ServingStatus.SERVICE_UNKNOWN });
      call.on("cancelled", () => this.watchers.delete(watcher));
    },
  };
}

export interface StartedGrpcServer {
  server: grpc.Server;
  port: number;
  health: HealthRegistry;
  /** Graceful shutdown: stop accepting, let in-flight calls finish up to `graceMs`, then force. */
  stop(graceMs?: number): Promise<void>;
}

/** PEM files for TLS, as given on the command line (paths), with the flags that named them. */
export interface TlsFiles {
  /** Own certificate chain (server: required for TLS; client: for mTLS). */
  readonly certFile?: string;
  /** Own private key, with certFile. */
  readonly keyFile?: string;
  /** CA bundle: a server requires client certificates signed by it (mTLS); a client trusts it. */
  readonly caFile?: string;
}

/** Flag names for messages, e.g. `{ cert: "--tls-cert", key: "--tls-key", ca: "--tls-ca" }`. */
export interface TlsFlags {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
}

const TLS_FLAGS: TlsFlags = { cert: "--tls-cert", key: "--tls-key", ca: "--tls-ca" };

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new UsageError(`${flag}: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
}

/** Whether `tls` asks for TLS at all. */
export function tlsConfigured(tls: TlsFiles | undefined): boolean {
  return tls?.certFile !== undefined || tls?.keyFile !== undefined || tls?.caFile !== undefined;
}

/**
 * Server credentials: plaintext without TLS files; TLS with cert + key; mTLS (client
 * certificates signed by the CA required) when a CA is given too. Bad combinations and unreadable
 * files are UsageErrors naming the flag.
 */
export function serverCredentials(
  tls: TlsFiles | undefined,
  flags: TlsFlags = TLS_FLAGS,
): grpc.ServerCredentials {
  if (!tlsConfigured(tls)) return grpc.ServerCredentials.createInsecure();
  if (tls!.certFile === undefined || tls!.keyFile === undefined)
    throw new UsageError(
      `${flags.cert} and ${flags.key} go together (TLS needs both; ${flags.ca} adds mTLS)`,
    );
  const ca = tls!.caFile === undefined ? null : readPem(tls!.caFile, flags.ca);
  return grpc.ServerCredentials.createSsl(
    ca,
    [{ cert_chain: readPem(tls!.certFile, flags.cert), private_key: readPem(tls!.keyFile, flags.key) }],
    ca !== null,
  );
}

/**
 * Channel credentials: plaintext without TLS files; TLS trusting `caFile` (or the system roots
 * when only a client certificate is given), presenting cert + key when given (mTLS).
 */
export function channelCredentials(
  tls: TlsFiles | undefined,
  flags: TlsFlags = TLS_FLAGS,
): grpc.ChannelCredentials {
  if (!tlsConfigured(tls)) return grpc.credentials.createInsecure();
  if ((tls!.certFile === undefined) !== (tls!.keyFile === undefined))
    throw new UsageError(`${flags.cert} and ${flags.key} go together (a client certificate needs its key)`);
  return grpc.credentials.createSsl(
    tls!.caFile === undefined ? null : readPem(tls!.caFile, flags.ca),
    tls!.keyFile === undefined ? null : readPem(tls!.keyFile, flags.key),
    tls!.certFile === undefined ? null : readPem(tls!.certFile, flags.cert),
  );
}

export interface GrpcServerOptions {
  /** Default: plaintext (see serverCredentials). */
  readonly credentials?: grpc.ServerCredentials;
  /** The flag that chose `port`, for the error when it cannot be bound. Default `--port`. */
  readonly portFlag?: string;
  /** Largest message accepted, bytes (larger ones are refused before decoding). Default 64 MiB. */
  readonly maxReceiveMessageBytes?: number;
}

/** Binds in progress: grpc-js's own log line for a failed bind is dropped (we report it). */
let bindsInProgress = 0;
let bindLogFilterInstalled = false;

/**
 * Replaces grpc-js's logger with one printing the same lines, except the "No address added"
 * error of a bind this module is reporting as a one-line usage error (grpc-js has no getter for
 * its logger, so the default's format is reproduced).
 */
function installBindLogFilter(): void {
  if (bindLogFilterInstalled) return;
  bindLogFilterInstalled = true;
  const print =
    (prefix: string) =>
    (message?: unknown, ...rest: unknown[]) => {
      if (bindsInProgress > 0 && typeof message === "string" && message.startsWith("No address added"))
        return;
      console.error(`${prefix} ${String(message)}`, ...rest);
    };
  grpc.setLogger({ error: print("E"), info: print("I"), debug: print("D") });
}

/**
 * Creates a gRPC server with health checking, lets `register` add services, and binds
 * `host:port` (port 0 picks a free port; the bound port is returned).
 */
export async function startGrpcServer(
  host: string,
  port: number,
  register: (server: grpc.Server, health: HealthRegistry) => void,
  options: GrpcServerOptions = {},
): Promise<StartedGrpcServer> {
  const server = new grpc.Server({
    // Channelz stays on here although nothing reads it: grpc-js 1.14 tracks the HTTP/2
    // sessions that forceShutdown() destroys only in its channelz handler, so without channelz
    // a forced stop leaves open streams running. (Clients turn it off: grpcClientOptions.)
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_receive_message_length": options.maxReceiveMessageBytes ?? 64 * 1024 * 1024,
  });
  const health = new HealthRegistry();
  server.addService(HealthService, health.handlers);
  register(server, health);
  installBindLogFilter();
  bindsInProgress++;
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${host}:${port}`,
      options.credentials ?? grpc.ServerCredentials.createInsecure(),
      (err, p) => (err ? reject(listenFailure(err, host, port, options.portFlag ?? "--port")) : resolve(p)),
    ),
  ).finally(() => bindsInProgress--);
  const stop = (graceMs = 5000) =>
    new Promise<void>((resolve) => {
      health.shutdown();
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  return { server, port: bound, health, stop };
}

/**
 * Client channel options shared by the stack: keepalive so dead peers are noticed quickly, and
 * no channelz bookkeeping (per-call counters nothing reads, paid on every call).
 */
export const grpcClientOptions: grpc.ClientOptions = {
  "grpc.enable_channelz": 0,
  "grpc.keepalive_time_ms": 10_000,
  "grpc.keepalive_timeout_ms": 5_000,
  "grpc.keepalive_permit_without_calls": 1,
  "grpc.max_receive_message_length": 64 * 1024 * 1024,
};
