import * as grpc from "@grpc/grpc-js";
import {
  bearerInterceptor,
  grpcClientOptions,
  NodeSchedulerServiceService,
  SchedulerServiceClient,
  ServingStatus,
  startGrpcServer,
  type InferenceRequest,
  type NodeSchedulerServiceServer,
  type StartedGrpcServer,
} from "@symphony/runtime";

export interface FakeNodeOptions {
  nodeId: string;
  /** Token events per turn. */
  tokens?: number;
  /** Delay between token events, ms (0 = write them all at once). */
  tokenDelayMs?: number;
  /** Port to bind (0 = free); pass an old port to "restart" a node at the same address. */
  port?: number;
  queueDepth?: number;
  kvUsedTokens?: number;
  kvBudgetTokens?: number;
  /** Characters of padding added to every token's text (to test flow control with big streams). */
  tokenPadding?: number;
  /** Keep every request in `requests` (default true; a long benchmark turns it off). */
  recordRequests?: boolean;
}

/**
 * An in-process stand-in for a node-scheduler: Submit streams Started, `tokens` Token events
 * ("t0 ", "t1 ", ...) and Finished, each tagged with its node id; it records every request,
 * hint and close, and whether calls were cancelled.
 */
export class FakeNode {
  readonly requests: InferenceRequest[] = [];
  readonly hints: string[] = [];
  readonly closed: string[] = [];
  cancelled = 0;
  /** The next this-many Submits fail at once with gRPC status UNAVAILABLE (a broken call, node healthy). */
  failNextSubmits = 0;
  /** Token events written so far (across calls). */
  tokensWritten = 0;
  /** Its engine is unreachable: Submits get Started, then a retryable UNAVAILABLE TurnError. */
  engineDown = false;
  /** Heartbeats say draining (a real node does while its engine is down, and on shutdown). */
  draining = false;
  private server!: StartedGrpcServer;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  load: { queueDepth: number; kvUsedTokens: number; kvBudgetTokens: number };

  private constructor(readonly options: FakeNodeOptions) {
    this.load = {
      queueDepth: options.queueDepth ?? 0,
      kvUsedTokens: options.kvUsedTokens ?? 0,
      kvBudgetTokens: options.kvBudgetTokens ?? 100_000,
    };
  }

  get nodeId(): string {
    return this.options.nodeId;
  }
  get port(): number {
    return this.server.port;
  }
  get address(): string {
    return `127.0.0.1:${this.server.port}`;
  }

  static async start(options: FakeNodeOptions): Promise<FakeNode> {
    const node = new FakeNode(options);
    node.server = await startGrpcServer("127.0.0.1", options.port ?? 0, (server) =>
      server.addService(NodeSchedulerServiceService, node.handlers()),
    );
    return node;
  }

  /** Set: the node reports its engine's residency (session id -> cached context tokens), as with KV events. */
  engineResidency: Map<string, number> | undefined;

  status() {
    return {
      nodeId: this.nodeId,
      queueDepth: this.load.queueDepth,
      running: 0,
      residentSessions: 0,
      kvTiers: [
        {
          name: "gpu",
          usedTokens: this.load.kvUsedTokens,
          budgetTokens: this.load.kvBudgetTokens,
          usedBytes: 0,
          budgetBytes: 0,
          sessions: 0,
        },
      ],
      engineKvUsage: -1,
      engineWaiting: -1,
      engineRunning: -1,
      sessionHits: 0,
      sessionMisses: 0,
      residencyFromEngine: this.engineResidency !== undefined,
      sessionResidency: [...(this.engineResidency ?? [])].map(([sessionId, cachedTokens]) => ({
        sessionId,
        cachedTokens,
        contextTokens: cachedTokens,
      })),
    };
  }

  private handlers(): NodeSchedulerServiceServer {
    const tokens = this.options.tokens ?? 3;
    const delay = this.options.tokenDelayMs ?? 0;
    const padding = " ".repeat(this.options.tokenPadding ?? 0);
    const record = this.options.recordRequests ?? true;
    return {
      submit: (call) => {
        if (record) this.requests.push(call.request);
        if (this.failNextSubmits > 0) {
          this.failNextSubmits--;
          call.emit("error", { code: grpc.status.UNAVAILABLE, details: "injected call failure" });
          return;
        }
        if (this.engineDown) {
          call.write({
            event: { $case: "started", value: { nodeId: this.nodeId, queueTimeUs: 0, kvTier: "new" } },
          });
          call.write({
            event: {
              $case: "error",
              value: { code: "UNAVAILABLE", message: "engine unreachable: ECONNREFUSED", retryable: true },
            },
          });
          call.end();
          return;
        }
        let i = 0;
        let timer: NodeJS.Timeout | undefined;
        call.on("cancelled", () => {
          this.cancelled++;
          if (timer) clearTimeout(timer);
        });
        call.write({
          event: { $case: "started", value: { nodeId: this.nodeId, queueTimeUs: 0, kvTier: "new" } },
        });
        const finish = () => {
          call.write({
            event: {
              $case: "finished",
              value: {
                usage: { promptTokens: 10, completionTokens: tokens, cachedTokens: 0 },
                finishReason: "length",
                nodeId: this.nodeId,
                timings: undefined,
              },
            },
          });
          call.end();
        };
        const next = () => {
          if (call.cancelled) return;
          if (i >= tokens) return finish();
          const ok = call.write({
            event: { $case: "token", value: { text: `t${i} ${padding}`, tokenCount: 1, reasoning: false } },
          });
          i++;
          this.tokensWritten++;
          if (delay > 0) timer = setTimeout(next, delay);
          else if (!ok)
            call.once("drain", next); // respect the scheduler's flow control
          else setImmediate(next);
        };
        next();
      },
      advise: (call, cb) => {
        this.hints.push(call.request.sessionId);
        cb(null, { accepted: true, nodeId: this.nodeId });
      },
      closeSession: (call, cb) => {
        this.closed.push(call.request.sessionId);
        cb(null, { released: true, releasedKvTokens: 10 });
      },
      status: (_call, cb) => cb(null, this.status()),
    };
  }

  /** Registers with the scheduler and sends heartbeats every `intervalMs` until stopped. */
  async registerWith(schedulerAddress: string, authToken?: string): Promise<void> {
    const client = new SchedulerServiceClient(
      schedulerAddress,
      grpc.credentials.createInsecure(),
      authToken === undefined
        ? grpcClientOptions
        : { ...grpcClientOptions, interceptors: [bearerInterceptor(authToken)] },
    );
    const res = await new Promise<{ heartbeatIntervalMs: number }>((resolve, reject) =>
      client.registerNode({ nodeId: this.nodeId, address: this.address }, (err, r) =>
        err ? reject(err) : resolve(r),
      ),
    );
    this.heartbeatTimer = setInterval(
      () =>
        client.heartbeat({ nodeId: this.nodeId, status: this.status(), draining: this.draining }, () => {}),
      res.heartbeatIntervalMs,
    );
  }

  /** What its grpc.health check answers (a real node: NOT_SERVING while its engine is down). */
  setServing(serving: boolean): void {
    this.server.health.set("", serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
  }

  stopHeartbeats(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
  }

  /** Crash: drop every connection at once. */
  kill(): void {
    this.stopHeartbeats();
    this.server.server.forceShutdown();
  }

  async stop(): Promise<void> {
    this.stopHeartbeats();
    await this.server.stop(100);
  }
}
