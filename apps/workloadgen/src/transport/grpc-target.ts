import * as grpc from "@grpc/grpc-js";
import {
  bearerInterceptor,
  channelCredentials,
  grpcClientOptions,
  Priority,
  Role,
  SchedulerServiceClient,
  type InferenceEvent,
  type Logger,
  type TlsFiles,
} from "@symphony/runtime";
import type { SessionHint, Target, TurnHandlers, TurnRequest } from "../domain";

const PRIORITY = {
  high: Priority.PRIORITY_HIGH,
  normal: Priority.PRIORITY_NORMAL,
  low: Priority.PRIORITY_LOW,
};
const ROLE = { system: Role.ROLE_SYSTEM, user: Role.ROLE_USER, assistant: Role.ROLE_ASSISTANT };

/** Counters of the advisory calls, for the summary. */
export interface AdviceCounters {
  hintsAccepted: number;
  hintsRejected: number;
  hintErrors: number;
  closeErrors: number;
  /** Hints a target cannot deliver (the HTTP target: OpenAI APIs have no Advise). */
  hintsUnsupported?: number;
}

/** A streamed turn watched for silence: when it last heard an event, and how to fail it. */
interface WatchedCall {
  lastEventMs: number;
  expire(): void;
}

/**
 * The Symphony scheduler's SchedulerService as a Target. A streamed turn that hears no event for
 * `idleTimeoutMs` is cancelled and fails with IDLE_TIMEOUT (one sweep timer for all calls, so
 * the per-token cost is one clock read).
 */
/** Redial a lost scheduler quickly (grpc-js's defaults: 1 s, growing to 120 s). */
const RECONNECT_OPTIONS = {
  "grpc.initial_reconnect_backoff_ms": 250,
  "grpc.max_reconnect_backoff_ms": 2000,
};

export class GrpcSchedulerTarget implements Target {
  private readonly client: SchedulerServiceClient;
  readonly counters: AdviceCounters = { hintsAccepted: 0, hintsRejected: 0, hintErrors: 0, closeErrors: 0 };
  private pendingUnary = 0;
  private readonly idleTimeoutMs: number;
  private readonly watched = new Set<WatchedCall>();
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    readonly address: string,
    private readonly logger: Logger,
    /** Per-turn gRPC deadline in ms (0 = none). */
    private readonly requestTimeoutMs: number,
    options: { authToken?: string; tls?: TlsFiles; idleTimeoutMs?: number } = {},
  ) {
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
    // A scheduler that restarts is dialled again within a second, not after grpc-js's backoff
    // (which grows to two minutes).
    const channelOptions = { ...grpcClientOptions, ...RECONNECT_OPTIONS };
    this.client = new SchedulerServiceClient(
      address,
      channelCredentials(options.tls),
      options.authToken === undefined
        ? channelOptions
        : { ...channelOptions, interceptors: [bearerInterceptor(options.authToken)] },
    );
  }

  /** Resolves once the channel is connected, or rejects after `timeoutMs`. */
  waitForReady(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())),
    );
  }

  submit(turn: TurnRequest, handlers: TurnHandlers): { cancel(): void } {
    const options: Partial<grpc.CallOptions> =
      this.requestTimeoutMs > 0 ? { deadline: Date.now() + this.requestTimeoutMs } : {};
    const call = this.client.submit(
      {
        requestId: turn.requestId,
        clientId: turn.clientId,
        sessionId: turn.sessionId,
        turnIndex: turn.turnIndex,
        messages: (turn.messages ?? []).map((m) => ({ role: ROLE[m.role], content: m.content })),
        prompt: turn.prompt ?? "",
        promptTokens: turn.promptTokens,
        maxOutputTokens: turn.maxOutputTokens,
        stream: turn.stream,
        priority: PRIORITY[turn.priority],
        isLast: turn.isLast,
        expectedResponse: turn.expectedResponse,
        ignoreEos: turn.ignoreEos,
        deadlineMs: 0,
        model: "",
        parentSessionId: turn.parentSessionId ?? "",
      },
      // Wait for a connection instead of failing at once while the scheduler is briefly away (a
      // restart): the turn waits within its deadline; turns already on the wire still fail.
      new grpc.Metadata({ waitForReady: true }),
      options,
    );
    let settled = false;
    let watch: WatchedCall | undefined;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      if (watch) this.watched.delete(watch);
      fn();
    };
    if (turn.stream && this.idleTimeoutMs > 0) {
      const idleS = this.idleTimeoutMs / 1000;
      watch = {
        lastEventMs: performance.now(),
        expire: () => {
          settle(() =>
            handlers.failed({
              code: "IDLE_TIMEOUT",
              message: `no event from the scheduler for ${idleS} s on a streamed turn (--idle-timeout)`,
            }),
          );
          call.cancel();
        },
      };
      this.watched.add(watch);
      this.startSweep();
    }
    call.on("data", (ev: InferenceEvent) => {
      const e = ev.event;
      if (!e || settled) return;
      if (watch) watch.lastEventMs = performance.now();
      switch (e.$case) {
        case "started":
          handlers.started({
            nodeId: e.value.nodeId,
            queueTimeUs: e.value.queueTimeUs,
            kvTier: e.value.kvTier,
          });
          break;
        case "token":
          handlers.token(e.value.text, e.value.tokenCount, e.value.reasoning);
          break;
        case "finished": {
          const u = e.value.usage;
          settle(() =>
            handlers.finished({
              nodeId: e.value.nodeId,
              promptTokens: u?.promptTokens ?? 0,
              completionTokens: u?.completionTokens ?? 0,
              cachedTokens: u?.cachedTokens ?? 0,
              finishReason: e.value.finishReason,
            }),
          );
          break;
        }
        case "error":
          settle(() => handlers.failed({ code: e.value.code, message: e.value.message }));
          break;
      }
    });
    call.on("error", (err: grpc.ServiceError) =>
      settle(() =>
        handlers.failed({ code: grpc.status[err.code] ?? String(err.code), message: err.details }),
      ),
    );
    call.on("end", () =>
      settle(() => handlers.failed({ code: "INTERNAL", message: "stream ended without Finished" })),
    );
    return { cancel: () => call.cancel() };
  }

  advise(hint: SessionHint): void {
    this.pendingUnary++;
    this.client.advise(
      {
        sessionId: hint.sessionId,
        clientId: hint.clientId,
        expectedArrivalMs: hint.expectedArrivalMs,
        expectedPromptTokens: hint.expectedPromptTokens,
        nextTurnIndex: hint.nextTurnIndex,
      },
      (err, res) => {
        this.pendingUnary--;
        if (err) {
          this.counters.hintErrors++;
          this.logger.debug("advise failed", {
            sessionId: hint.sessionId,
            code: err.code,
            details: err.details,
          });
        } else if (res.accepted) this.counters.hintsAccepted++;
        else this.counters.hintsRejected++;
      },
    );
  }

  closeSession(sessionId: string): void {
    this.pendingUnary++;
    this.client.closeSession({ sessionId }, (err) => {
      this.pendingUnary--;
      if (err) {
        this.counters.closeErrors++;
        this.logger.debug("close session failed", { sessionId, code: err.code, details: err.details });
      }
    });
  }

  /** Checks the watched calls a few times per idle period (unref'd: it never holds the process). */
  private startSweep(): void {
    if (this.sweep) return;
    const periodMs = Math.max(10, Math.min(1000, this.idleTimeoutMs / 4));
    this.sweep = setInterval(() => {
      const cutoff = performance.now() - this.idleTimeoutMs;
      for (const w of [...this.watched]) if (w.lastEventMs <= cutoff) w.expire();
    }, periodMs);
    this.sweep.unref();
  }

  /** Waits (up to `timeoutMs`) for outstanding Advise/CloseSession calls, then closes the channel. */
  async close(timeoutMs = 2000): Promise<void> {
    if (this.sweep) clearInterval(this.sweep);
    this.sweep = undefined;
    const deadline = Date.now() + timeoutMs;
    while (this.pendingUnary > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    this.client.close();
  }
}
