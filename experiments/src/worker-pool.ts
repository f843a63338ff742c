import { parentPort, Worker } from "node:worker_threads";
import { forwardingLogger, type LogEntry, type Logger, type LogLevel } from "@symphony/runtime";
import {
  inProcessRunner,
  runPointJob,
  type PointJob,
  type PointOutcome,
  type PointRunner,
} from "./point-runner";

/** `workerData` of a point worker: the bundle's entry serves points instead of running the CLI. */
export const POINT_WORKER = { role: "experiments-point-worker" } as const;

export function isPointWorker(data: unknown): boolean {
  return (data as { role?: unknown } | null)?.role === POINT_WORKER.role;
}

/** Parent -> worker: run one point. */
interface JobMessage {
  readonly id: number;
  readonly job: PointJob;
  readonly logLevel: LogLevel;
}

/** Worker -> parent: a log entry of a point, its result, or its error. */
type ReplyMessage =
  | { readonly id: number; readonly type: "log"; readonly entry: LogEntry }
  | { readonly id: number; readonly type: "result"; readonly result: unknown }
  | { readonly id: number; readonly type: "error"; readonly message: string; readonly stack?: string };

interface Pending {
  readonly id: number;
  readonly job: PointJob;
  readonly logger: Logger;
  readonly priority: number;
  readonly resolve: (result: unknown) => void;
  readonly reject: (err: Error) => void;
}

/** The worker side: runs each point it is sent, forwarding its log lines (call in a point worker). */
export function servePointJobs(): void {
  const port = parentPort;
  if (!port) throw new Error("servePointJobs: not in a worker thread");
  const post = (m: ReplyMessage) => port.postMessage(m);
  port.on("message", (m: JobMessage) => {
    const logger = forwardingLogger(m.logLevel, (entry) => post({ id: m.id, type: "log", entry }));
    runPointJob(m.job, logger).then(
      (result) => post({ id: m.id, type: "result", result }),
      (err: unknown) =>
        post({
          id: m.id,
          type: "error",
          message: err instanceof Error ? err.message : String(err),
          stack: err instanceof Error ? err.stack : undefined,
        }),
    );
  });
}

/**
 * Up to `size` worker threads, each running one point at a time: `script` is started with
 * POINT_WORKER as its workerData (the experiments bundle serves points then). Workers start on
 * demand and stay until close(); one that dies fails its point and is replaced on the next.
 */
export class WorkerPool implements PointRunner {
  private readonly queue: Pending[] = [];
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly size: number,
    private readonly script: string,
  ) {
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`pool size must be >= 1, got ${size}`);
  }

  run<J extends PointJob>(job: J, logger: Logger, priority = 0): Promise<PointOutcome<J>> {
    if (this.closed) return Promise.reject(new Error("point runner closed"));
    return new Promise<PointOutcome<J>>((resolve, reject) => {
      const p: Pending = {
        id: this.nextId++,
        job,
        logger,
        priority,
        resolve: resolve as (r: unknown) => void,
        reject,
      };
      // Before the first queued point of a later priority: FIFO within a priority.
      const at = this.queue.findIndex((q) => q.priority > priority);
      this.queue.splice(at < 0 ? this.queue.length : at, 0, p);
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error("point runner closed"));
    const workers = [...this.idle.splice(0), ...this.busy.keys()];
    for (const [, p] of this.busy) p.reject(new Error("point runner closed"));
    this.busy.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }

  private pump(): void {
    while (this.queue.length > 0 && (this.idle.length > 0 || this.workers() < this.size)) {
      const worker = this.idle.pop() ?? this.spawn();
      const p = this.queue.shift()!;
      this.busy.set(worker, p);
      const message: JobMessage = { id: p.id, job: p.job, logLevel: p.logger.level as LogLevel };
      worker.postMessage(message);
    }
  }

  private workers(): number {
    return this.idle.length + this.busy.size;
  }

  private spawn(): Worker {
    const worker = new Worker(this.script, { workerData: POINT_WORKER });
    worker.on("message", (m: ReplyMessage) => {
      const p = this.busy.get(worker);
      if (!p || p.id !== m.id) return;
      if (m.type === "log") {
        p.logger.log(m.entry);
        return;
      }
      this.busy.delete(worker);
      this.idle.push(worker);
      if (m.type === "result") p.resolve(m.result);
      else {
        const err = new Error(m.message);
        if (m.stack) err.stack = m.stack;
        p.reject(err);
      }
      this.pump();
    });
    const lost = (why: string) => {
      const p = this.busy.get(worker);
      this.busy.delete(worker);
      const i = this.idle.indexOf(worker);
      if (i >= 0) this.idle.splice(i, 1);
      p?.reject(new Error(`point worker ${why}`));
      if (!this.closed) this.pump();
    };
    worker.on("error", (err) => lost(`failed: ${err.message}`));
    worker.on("exit", (code) => {
      if (!this.closed) lost(`exited with code ${code}`);
    });
    return worker;
  }
}

/**
 * The runner for `--jobs`: 1 = every point in this thread, one after another; more = a pool of
 * that many worker threads started from `script` (the experiments bundle).
 */
export function pointRunnerFor(jobs: number, script: string): PointRunner {
  return jobs <= 1 ? inProcessRunner() : new WorkerPool(jobs, script);
}
