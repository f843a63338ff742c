import { monitorEventLoopDelay, type ELDHistogram } from "node:perf_hooks";
import { loadTokenizer } from "@symphony/common";
import { type Logger } from "@symphony/runtime";
import type { Config } from "./config";
import { requestLine, type RequestRecord } from "@symphony/measure";
import { LoadRunner, PromptSynthesizer, type SendQuota, type Target } from "./domain";
import { PreciseTimers } from "./precise-timers";
import { GrpcSchedulerTarget, type AdviceCounters } from "./transport/grpc-target";
import { OpenAiHttpTarget } from "./transport/openai-target";
import { runnerOptions, type Workload } from "./workload";

/** A Target the live run can also wait for and close. */
export interface LiveTarget extends Target {
  readonly counters: AdviceCounters;
  waitForReady(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** The target `config` names: the Symphony scheduler over gRPC, or an OpenAI-compatible HTTP server. */
export function makeTarget(config: Readonly<Config>, logger: Logger): LiveTarget {
  if (config.targetKind === "http") {
    return new OpenAiHttpTarget(
      {
        baseUrl: config.target,
        endpoint: config.endpoint,
        model: config.model,
        apiKey: config.apiKey,
        headers: config.headers,
        sessionIdHeader: config.sessionIdHeader,
        sendExpectedResponse: config.sendExpectedResponse,
        connections: config.httpConnections,
        httpClient: config.httpClient,
        requestTimeoutMs: config.requestTimeout * 1000,
        idleTimeoutMs: config.idleTimeout * 1000,
        tokenizer: loadTokenizer(config.tokenizer),
      },
      logger,
    );
  }
  return new GrpcSchedulerTarget(config.target, logger, config.requestTimeout * 1000, {
    authToken: config.authToken,
    tls: config.tls,
    idleTimeoutMs: config.idleTimeout * 1000,
  });
}

/** The model name an HTTP target resolved ("" for gRPC). */
export function targetModelName(target: LiveTarget): string {
  return target instanceof OpenAiHttpTarget ? target.modelName : "";
}

/** The target did not answer within --connect-timeout (a usage problem, not a crash). */
export class TargetNotReadyError extends Error {}

/** Counts the live run shows in its progress line and gauges. */
export interface SenderStatus {
  sent: number;
  completed: number;
  failed: number;
  inFlight: number;
  activeSessions: number;
}

/**
 * Event-loop delay of one sending thread, ms: how much later than asked the loop ran a periodic
 * check (Node's histogram holds the whole interval; the resolution is subtracted here).
 */
export interface LoopDelayFigures {
  mean: number;
  p50: number;
  p99: number;
  max: number;
}

/** The monitor's period, ms. Small, so short stalls are sampled too. */
export const LOOP_DELAY_RESOLUTION_MS = 1;

/** Starts an event-loop delay monitor on the calling thread. */
export function startLoopDelayMonitor(): ELDHistogram {
  const h = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  h.enable();
  return h;
}

/** The monitor's figures, delay beyond the period (never negative), ms. */
export function loopDelayFigures(h: ELDHistogram): LoopDelayFigures {
  const delay = (ns: number) => Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS);
  if (h.count === 0) return { mean: 0, p50: 0, p99: 0, max: 0 };
  return {
    mean: delay(h.mean),
    p50: delay(h.percentile(50)),
    p99: delay(h.percentile(99)),
    max: delay(h.max),
  };
}

/** What a sender reports as it runs. */
export interface SenderEvents {
  /**
   * Requests that finished, in finishing order per sending thread. `lines`: their requests.jsonl
   * lines joined by "\n" (rendered where they were measured), when the sender was asked for them.
   */
  records(records: RequestRecord[], lines: string | undefined): void;
  /** Nothing is in flight any more and no turn will start: called once. */
  done(): void;
}

/**
 * Plays the workload against the target and reports records: in this thread
 * (`InProcessSender`) or from worker threads (`WorkerPoolSender`). The live run around it
 * (statistics, files, progress, stop rules, signals) is the same for both.
 */
export interface Sender {
  /** Connects to the target; rejects with the reason when it is not reachable in time. */
  prepare(): Promise<void>;
  /**
   * Starts playing the workload: at once, or at `atMs` (this thread's `performance.now()`), sleeping
   * and then polling for the last fraction of a millisecond.
   */
  start(events: SenderEvents, atMs?: number): void;
  /** Stop starting turns; in-flight ones finish. Idempotent. */
  stop(): void;
  /** Cancel in-flight turns too. */
  abort(): void;
  status(): SenderStatus;
  /** After `done`: closes connections and threads. */
  close(): Promise<void>;
  /** Advise/CloseSession outcomes, summed over threads. */
  counters(): AdviceCounters;
  /** The HTTP target's model ("" for gRPC). */
  modelName(): string;
  /** Event-loop delay where the sending happens: the worst thread's figures, and each thread's. */
  loopDelay(): { merged: LoopDelayFigures; threads: { thread: string; delay: LoopDelayFigures }[] };
  /** The schedule's start (records' time zero) on this thread's `performance.now()`, after `start`. */
  scheduleStartMs(): number | undefined;
}

/**
 * Warms up what the first request would otherwise pay for (loading --tokenizer's vocabulary
 * takes 0.2-1.5 s), so that stall does not land on the schedule. Returns the synthesizer.
 */
export function warmedSynthesizer(config: Readonly<Config>): PromptSynthesizer {
  const tokenizer = loadTokenizer(config.tokenizer);
  const synth = new PromptSynthesizer(config.seed, tokenizer, config.blockSize);
  synth.text("warm-up", 16);
  tokenizer.countTokens("warm-up");
  return synth;
}

export interface InProcessSenderOptions {
  /** Prefix of request ids. */
  runId: string;
  /** Render each record's requests.jsonl line here (where the record was measured). */
  renderLines: boolean;
  /** Run-wide cap on sends when several threads send. */
  sendQuota?: SendQuota;
  /** Closed loop split across threads: see `LoadRunnerOptions.slotOffset`. */
  slotOffset?: number;
  slotStride?: number;
  /** Clients of the whole run when this thread has a share of them (for the ramp-up). */
  totalClients?: number;
}

/** Today's single-loop path (`--workers 1`): the LoadRunner runs on this thread's event loop. */
export class InProcessSender implements Sender {
  private readonly target: LiveTarget;
  private readonly timers: PreciseTimers;
  private runner?: LoadRunner;
  private stopped = false;
  private aborted = false;
  private monitor?: ELDHistogram;
  private synth?: PromptSynthesizer;
  private startMs: number | undefined;

  constructor(
    private readonly config: Readonly<Config>,
    private readonly workload: Workload,
    logger: Logger,
    private readonly options: InProcessSenderOptions,
  ) {
    this.target = makeTarget(config, logger);
    this.timers = new PreciseTimers(4, config.timerSpinMs, config.timerWake);
  }

  async prepare(): Promise<void> {
    try {
      await this.target.waitForReady(this.config.connectTimeout * 1000);
    } catch (err) {
      throw new TargetNotReadyError((err as Error).message);
    }
    this.synth = warmedSynthesizer(this.config);
  }

  start(events: SenderEvents, atMs?: number): void {
    if (atMs !== undefined && atMs > performance.now()) {
      setTimeout(
        () => {
          while (performance.now() < atMs) {
            // the last fraction of a millisecond: setTimeout has whole-ms resolution
          }
          this.start(events);
        },
        Math.max(0, atMs - performance.now() - 1.5),
      );
      return;
    }
    const synth = this.synth ?? warmedSynthesizer(this.config);
    this.monitor = startLoopDelayMonitor();
    this.runner = new LoadRunner(
      {
        timers: this.timers,
        target: this.target,
        source: this.workload.source,
        thinkTime: this.workload.thinkTime,
        synth,
        ...(this.options.sendQuota ? { sendQuota: this.options.sendQuota } : {}),
      },
      {
        ...runnerOptions(this.config, this.options.runId),
        // Live runs end hard: --grace after --duration, what is still in flight is cancelled.
        graceUs: this.config.grace * 1e6,
        slotOffset: this.options.slotOffset ?? 0,
        slotStride: this.options.slotStride ?? 1,
        totalClients: this.options.totalClients ?? this.config.numClients,
      },
      (record) => events.records([record], this.options.renderLines ? requestLine(record) : undefined),
      () => {
        this.monitor?.disable();
        events.done();
      },
    );
    this.startMs = performance.now();
    this.runner.start();
    // A stop or abort that came before the start (a worker waiting for the common start instant).
    if (this.aborted) this.runner.abort();
    else if (this.stopped) this.runner.stop();
  }

  stop(): void {
    this.stopped = true;
    this.runner?.stop();
  }

  abort(): void {
    this.aborted = true;
    this.runner?.abort();
  }

  status(): SenderStatus {
    const r = this.runner;
    return {
      sent: r?.sent ?? 0,
      completed: r?.completed ?? 0,
      failed: r?.failed ?? 0,
      inFlight: r?.inFlight ?? 0,
      activeSessions: r?.activeSessions ?? 0,
    };
  }

  async close(): Promise<void> {
    this.monitor?.disable();
    await this.timers.close();
    await this.target.close();
  }

  counters(): AdviceCounters {
    return { ...this.target.counters };
  }

  modelName(): string {
    return targetModelName(this.target);
  }

  scheduleStartMs(): number | undefined {
    return this.startMs;
  }

  loopDelay() {
    const delay = this.monitor ? loopDelayFigures(this.monitor) : { mean: 0, p50: 0, p99: 0, max: 0 };
    return { merged: delay, threads: [{ thread: "main", delay }] };
  }
}
