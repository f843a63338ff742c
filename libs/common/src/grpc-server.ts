import * as grpc from "@grpc/grpc-js";
import {
  HealthCheckResponse_ServingStatus,
  HealthService,
  type HealthServer,
} from "./gen/grpc/health/v1/health";

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

/**
 * Creates a gRPC server with health checking, lets `register` add services, and binds
 * `host:port` (port 0 picks a free port; the bound port is returned).
 */
export async function startGrpcServer(
  host: string,
  port: number,
  register: (server: grpc.Server, health: HealthRegistry) => void,
): Promise<StartedGrpcServer> {
  const server = new grpc.Server({
    // Channelz stays on here although nothing reads it: grpc-js 1.14 tracks the HTTP/2
    // sessions that forceShutdown() destroys only in its channelz handler, so without channelz
    // a forced stop leaves open streams running. (Clients turn it off: grpcClientOptions.)
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });
  const health = new HealthRegistry();
  server.addService(HealthService, health.handlers);
  register(server, health);
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
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
