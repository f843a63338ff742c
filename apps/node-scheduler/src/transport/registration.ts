import * as grpc from "@grpc/grpc-js";
import {
  bearerInterceptor,
  grpcClientOptions,
  SchedulerServiceClient,
  type Logger,
  type NodeStatus,
} from "@symphony/runtime";

export interface RegistrationOptions {
  /** host:port of the global scheduler. */
  scheduler: string;
  nodeId: string;
  /** host:port the scheduler should dial for this node. */
  advertiseAddress: string;
  /** Wait between attempts while the scheduler is unreachable, ms. */
  retryMs: number;
  status: () => NodeStatus;
  logger: Logger;
  /** Sent as `authorization: Bearer` on every call (the scheduler's --auth-token-file). */
  authToken?: string;
  /** Default: plaintext. */
  credentials?: grpc.ChannelCredentials;
}

/**
 * Keeps this node registered with the global scheduler: RegisterNode, then a Heartbeat every
 * `heartbeat_interval_ms` (from the scheduler's answer) carrying NodeStatus. Registers again when
 * a heartbeat says `known: false`; while the scheduler is down it keeps retrying (logs, never throws).
 */
export class SchedulerRegistration {
  private readonly client: SchedulerServiceClient;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private registered = false;
  private intervalMs = 1000;
  private draining = false;
  private callInFlight = false;
  private sendSoon = false;

  constructor(private readonly options: RegistrationOptions) {
    this.client = new SchedulerServiceClient(
      options.scheduler,
      options.credentials ?? grpc.credentials.createInsecure(),
      {
        ...grpcClientOptions,
        "grpc.initial_reconnect_backoff_ms": options.retryMs,
        "grpc.max_reconnect_backoff_ms": Math.max(options.retryMs, 1000),
        ...(options.authToken === undefined ? {} : { interceptors: [bearerInterceptor(options.authToken)] }),
      },
    );
  }

  start(): void {
    this.tick();
  }

  /**
   * Heartbeats say `draining` from now on (the engine is unreachable: take no new turns), or no
   * longer; the change is sent at once rather than with the next periodic heartbeat.
   */
  setDraining(draining: boolean): void {
    if (this.stopped || this.draining === draining) return;
    this.draining = draining;
    if (!this.registered) return;
    // One heartbeat loop only: a call in flight sends the news as soon as it is done.
    if (this.callInFlight) {
      this.sendSoon = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.tick();
  }

  /** Sends one last heartbeat with draining=true (best effort), then stops. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.registered) {
      this.draining = true;
      await this.heartbeat().catch(() => undefined);
    }
    this.client.close();
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tick(), ms);
    this.timer.unref();
  }

  private tick(): void {
    if (this.stopped) return;
    this.callInFlight = true;
    const step = this.registered ? this.heartbeat() : this.register();
    step.then(
      () => {
        this.callInFlight = false;
        const soon = this.sendSoon;
        this.sendSoon = false;
        this.schedule(soon ? 0 : this.registered ? this.intervalMs : this.options.retryMs);
      },
      (err: unknown) => {
        this.callInFlight = false;
        this.registered = false;
        this.options.logger.warn("scheduler unreachable, will retry", {
          scheduler: this.options.scheduler,
          error: (err as Error).message,
          retryMs: this.options.retryMs,
        });
        this.schedule(this.options.retryMs);
      },
    );
  }

  private register(): Promise<void> {
    const { nodeId, advertiseAddress } = this.options;
    return new Promise((resolve, reject) =>
      this.client.registerNode(
        { nodeId, address: advertiseAddress },
        new grpc.Metadata(),
        { deadline: Date.now() + 5000 },
        (err, res) => {
          if (err) return reject(err);
          this.registered = true;
          this.intervalMs = res.heartbeatIntervalMs > 0 ? res.heartbeatIntervalMs : 1000;
          this.options.logger.info("registered with scheduler", {
            scheduler: this.options.scheduler,
            nodeId,
            address: advertiseAddress,
            heartbeatIntervalMs: this.intervalMs,
          });
          resolve();
        },
      ),
    );
  }

  private heartbeat(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.heartbeat(
        { nodeId: this.options.nodeId, status: this.options.status(), draining: this.draining },
        new grpc.Metadata(),
        { deadline: Date.now() + 5000 },
        (err, res) => {
          if (err) return reject(err);
          if (!res.known) {
            this.options.logger.warn("scheduler forgot this node, registering again", {
              nodeId: this.options.nodeId,
            });
            this.registered = false;
            this.register().then(resolve, reject);
            return;
          }
          resolve();
        },
      ),
    );
  }
}
