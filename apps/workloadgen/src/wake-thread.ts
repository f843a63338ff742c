import { Worker } from "node:worker_threads";

/**
 * Wakes this thread's event loop at a sub-millisecond deadline without keeping it busy.
 *
 * Why a thread: the event loop sleeps in epoll with a whole-millisecond timeout (`setTimeout`
 * rounds up to 1 ms), so the only way to sleep until a deadline 0.3 ms away is to poll, which
 * keeps the thread on a core. Here a helper thread sleeps in `Atomics.wait` (a futex with a
 * µs-precise timeout) until the deadline, then posts a message, which wakes the loop out of
 * epoll like any I/O. The loop sleeps meanwhile; a wake-up costs it one message.
 *
 * Protocol (one `SharedArrayBuffer`): `[0]` Int32 sequence number, bumped on every arming or
 * cancel (the helper waits on it); `[8]` Float64 deadline in ms of the monotonic clock
 * (`process.hrtime`, the same in every thread), NaN when disarmed. The helper posts the
 * sequence number it woke for; a message for an older arming is ignored.
 */
export class WakeThread {
  private readonly shared = new SharedArrayBuffer(16);
  private readonly seq = new Int32Array(this.shared, 0, 1);
  private readonly deadline = new Float64Array(this.shared, 8, 1);
  private readonly worker: Worker;
  /** Monotonic ms minus `performance.now()` on this thread. */
  private readonly offsetMs = monotonicMs() - performance.now();
  private armedSeq = 0;
  private armedAt = NaN;
  private referenced = false;
  private closed = false;
  private started = false;

  /** @param onWake runs on this thread's loop when an armed deadline is reached. */
  constructor(private readonly onWake: () => void) {
    this.deadline[0] = NaN;
    this.worker = new Worker(HELPER_SOURCE, { eval: true, workerData: this.shared });
    this.worker.on("message", (woke: number) => {
      // Stale: armed again or cancelled since the helper woke.
      if (woke !== this.armedSeq || Number.isNaN(this.armedAt)) return;
      this.armedAt = NaN;
      this.setReferenced(false);
      this.onWake();
    });
    this.worker.once("online", () => (this.started = true));
    // A helper that fails or stops is not used again; a wake-up it owed happens now, and the
    // caller (seeing `ready` false) re-arms another way.
    const gone = () => {
      const owed = !this.closed && !Number.isNaN(this.armedAt);
      this.closed = true;
      this.armedAt = NaN;
      this.setReferenced(false);
      if (owed) this.onWake();
    };
    this.worker.on("error", gone);
    this.worker.once("exit", gone);
    // Until armed, the helper must not keep the process alive.
    this.worker.unref();
  }

  /**
   * Whether the helper thread runs (its start-up takes tens of ms, more on a busy machine):
   * until then an arming would only take effect once it has started, so callers wake otherwise.
   */
  get ready(): boolean {
    return this.started && !this.closed;
  }

  /** Wakes the loop at `performance.now()` time `atMs` (replaces any earlier arming). */
  wakeAt(atMs: number): void {
    if (this.closed || atMs === this.armedAt) return;
    this.armedAt = atMs;
    this.deadline[0] = atMs + this.offsetMs;
    this.armedSeq = Atomics.add(this.seq, 0, 1) + 1;
    Atomics.notify(this.seq, 0);
    // An armed wake-up keeps the loop alive, as a pending setTimeout would.
    this.setReferenced(true);
  }

  cancel(): void {
    if (Number.isNaN(this.armedAt)) return;
    this.armedAt = NaN;
    this.deadline[0] = NaN;
    this.armedSeq = Atomics.add(this.seq, 0, 1) + 1;
    Atomics.notify(this.seq, 0);
    this.setReferenced(false);
  }

  /** Stops the helper thread; later arming is ignored. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.cancel();
    this.closed = true;
    await this.worker.terminate();
  }

  private setReferenced(on: boolean): void {
    if (on === this.referenced) return;
    this.referenced = on;
    if (on) this.worker.ref();
    else this.worker.unref();
  }
}

function monotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1e3 + ns / 1e6;
}

/** The helper thread: sleeps until the armed deadline, then posts its sequence number. */
const HELPER_SOURCE = `
const { workerData, parentPort } = require("node:worker_threads");
const seq = new Int32Array(workerData, 0, 1);
const deadline = new Float64Array(workerData, 8, 1);
const nowMs = () => { const t = process.hrtime(); return t[0] * 1e3 + t[1] / 1e6; };
for (;;) {
  const s = Atomics.load(seq, 0);
  const at = deadline[0];
  if (Number.isNaN(at)) { Atomics.wait(seq, 0, s); continue; }
  const left = at - nowMs();
  // Re-armed or cancelled meanwhile ("ok", "not-equal"): read the new deadline.
  if (left > 0 && Atomics.wait(seq, 0, s, left) !== "timed-out") continue;
  parentPort.postMessage(s);
  // Until the next arming.
  Atomics.wait(seq, 0, s);
}
`;
