import { Worker } from "node:worker_threads";
import type { Logger } from "@symphony/runtime";
import { sendingThreads, type Config } from "../config";
import { runnerShare } from "../shard";
import {
  TargetNotReadyError,
  type LoopDelayFigures,
  type Sender,
  type SenderEvents,
  type SenderStatus,
} from "../sender";
import type { AdviceCounters } from "../transport/grpc-target";
import { SEND_WORKER_KIND, type FromWorker, type SendWorkerData, type ToWorker } from "./protocol";
import { newQuotaBuffer } from "./shared-quota";

/** Workers start their schedules this long after `start()`, all at the same instant (ms). */
const START_DELAY_MS = 20;
/** `close()` waits this long for a worker to close its connections before terminating it (ms). */
const CLOSE_TIMEOUT_MS = 5_000;

interface WorkerState {
  worker: Worker;
  index: number;
  status: SenderStatus;
  done: boolean;
  closed: boolean;
  counters?: AdviceCounters;
  loopDelay?: LoopDelayFigures;
}

const zeroStatus = (): SenderStatus => ({ sent: 0, completed: 0, failed: 0, inFlight: 0, activeSessions: 0 });

/**
 * `--workers N`: N worker threads started from this same bundle (`main.ts` runs
 * `runSendWorker` when it finds `SendWorkerData`), each with its own event loop, timers and
 * connections, playing every Nth session. Records come back in batches; this class merges their
 * counts for the progress line, fans stop/abort out, and stops everyone when one of them claims
 * the last send of `--max-requests` (a shared atomic counter).
 */
export class WorkerPoolSender implements Sender {
  private readonly workers: WorkerState[] = [];
  private events?: SenderEvents;
  private model = "";
  private finished = false;
  private startMs: number | undefined;
  /** A worker that crashed (a bug): the run ends and exits 1 after writing what it has. */
  failure: Error | undefined;

  constructor(
    private readonly config: Readonly<Config>,
    private readonly argv: string[],
    private readonly logger: Logger,
    private readonly runId: string,
    private readonly renderLines: boolean,
  ) {}

  /** Starts the workers and waits until every one has reached the target. */
  async prepare(): Promise<void> {
    const count = sendingThreads(this.config);
    const quota = Number.isFinite(runnerShare(this.config).shardMaxRequests) ? newQuotaBuffer() : undefined;
    const ready = Array.from({ length: count }, (_, index) => {
      const data: SendWorkerData = {
        kind: SEND_WORKER_KIND,
        argv: this.argv,
        index,
        count,
        runId: this.runId,
        quota,
        renderLines: this.renderLines,
      };
      // The bundle is its own worker script: no second build entry.
      const worker = new Worker(__filename, { workerData: data });
      const state: WorkerState = { worker, index, status: zeroStatus(), done: false, closed: false };
      this.workers.push(state);
      return new Promise<void>((resolve, reject) => {
        worker.on("message", (message: FromWorker) => {
          if (message.type === "ready") {
            if (index === 0) this.model = message.modelName;
            resolve();
          } else if (message.type === "not-ready") reject(new TargetNotReadyError(message.message));
          else {
            // A worker that dies before it is ready (a bad config it parses, a bug) fails the
            // start; afterwards a crash is handled by onCrash. (Rejecting a settled promise is a no-op.)
            if (message.type === "fatal") reject(new Error(`worker ${index}: ${message.message}`));
            this.onMessage(state, message);
          }
        });
        worker.on("error", (err) => {
          reject(err);
          this.onCrash(state, err);
        });
        worker.on("exit", (code) => {
          if (state.closed) return;
          const err = new Error(`worker ${index} exited with code ${code}`);
          reject(err);
          this.onCrash(state, err);
        });
      });
    });
    try {
      await Promise.all(ready);
    } catch (err) {
      await this.terminateAll();
      throw err;
    }
    this.logger.debug("workers ready", { workers: count });
  }

  scheduleStartMs(): number | undefined {
    return this.startMs;
  }

  start(events: SenderEvents, atMs?: number): void {
    this.events = events;
    const atEpochMs = performance.timeOrigin + Math.max(performance.now() + START_DELAY_MS, atMs ?? 0);
    this.startMs = atEpochMs - performance.timeOrigin;
    this.broadcast({ type: "start", atEpochMs });
    this.checkDone(); // every worker may have crashed between "ready" and now
  }

  private onMessage(state: WorkerState, message: FromWorker): void {
    switch (message.type) {
      case "records":
        state.status = message.status;
        this.events?.records(message.records, message.lines);
        break;
      case "status":
        state.status = message.status;
        break;
      case "quota-exhausted":
        this.stop();
        break;
      case "done":
        state.status = message.status;
        state.counters = message.counters;
        state.loopDelay = message.loopDelay;
        state.done = true;
        this.checkDone();
        break;
      case "closed":
        state.closed = true;
        break;
      case "fatal":
        this.onCrash(state, new Error(`worker ${state.index}: ${message.message}`));
        break;
      default:
        break;
    }
  }

  /** A worker failed (a bug): the run stops, ends when the others have drained, and exits 1. */
  private onCrash(state: WorkerState, err: Error): void {
    if (state.done && state.closed) return;
    this.logger.error("sending worker failed", { worker: state.index, error: err.message });
    this.failure ??= err;
    state.closed = true;
    if (!state.done) {
      state.done = true;
      this.stop();
      this.checkDone();
    }
  }

  private checkDone(): void {
    if (this.finished || !this.events || this.workers.some((w) => !w.done)) return;
    this.finished = true;
    this.events.done();
  }

  private broadcast(message: ToWorker): void {
    for (const w of this.workers) if (!w.closed) w.worker.postMessage(message);
  }

  stop(): void {
    for (const w of this.workers) if (!w.done) w.worker.postMessage({ type: "stop" } satisfies ToWorker);
  }

  abort(): void {
    for (const w of this.workers) if (!w.done) w.worker.postMessage({ type: "abort" } satisfies ToWorker);
  }

  status(): SenderStatus {
    const sum = zeroStatus();
    for (const { status } of this.workers) {
      sum.sent += status.sent;
      sum.completed += status.completed;
      sum.failed += status.failed;
      sum.inFlight += status.inFlight;
      sum.activeSessions += status.activeSessions;
    }
    return sum;
  }

  /** Asks every worker to close its connections, then ends the threads. */
  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.closed) return resolve();
            const timer = setTimeout(() => {
              // A slow close is not a crash: the run's results are complete by now.
              this.logger.warn("sending worker did not close in time; terminating it", { worker: w.index });
              w.closed = true;
              void w.worker.terminate().then(() => resolve());
            }, CLOSE_TIMEOUT_MS);
            w.worker.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            w.worker.postMessage({ type: "close" } satisfies ToWorker);
          }),
      ),
    );
  }

  private async terminateAll(): Promise<void> {
    for (const w of this.workers) w.closed = true;
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }

  counters(): AdviceCounters {
    const sum: AdviceCounters = { hintsAccepted: 0, hintsRejected: 0, hintErrors: 0, closeErrors: 0 };
    for (const { counters } of this.workers) {
      if (!counters) continue;
      for (const key of Object.keys(counters) as (keyof AdviceCounters)[])
        sum[key] = (sum[key] ?? 0) + (counters[key] ?? 0);
    }
    return sum;
  }

  modelName(): string {
    return this.model;
  }

  /** The worst worker's figures (each percentile separately), and every worker's. */
  loopDelay() {
    const threads = this.workers.map((w) => ({
      thread: `worker ${w.index}`,
      delay: w.loopDelay ?? { mean: 0, p50: 0, p99: 0, max: 0 },
    }));
    const worst = (key: keyof LoopDelayFigures) => Math.max(0, ...threads.map((t) => t.delay[key]));
    return {
      merged: { mean: worst("mean"), p50: worst("p50"), p99: worst("p99"), max: worst("max") },
      threads,
    };
  }
}
