import { TimerHeap, type TimerEntry, type TimerHandle, type Timers } from "@symphony/common";
import { WakeThread } from "./wake-thread";

/** A timer in the heap; `live` until it runs or is cancelled. */
interface PreciseEntry extends TimerEntry {
  live: boolean;
}

/**
 * Wall-clock `Timers` for sending on an absolute schedule at thousands of requests per second.
 *
 * Why not one `setTimeout` per timer (`RealTimers`): Node rounds every timeout up to whole
 * milliseconds (at least 1 ms), so a loop that arms the next arrival when the previous fires can
 * never send more than ~1,000 requests/s, and each send is up to 1 ms late. Here all timers live
 * in one binary heap: one wake-up is armed `spinMs` before the earliest deadline (a helper
 * thread's, µs-precise, or a `setTimeout`), then `setImmediate` polls (yielding to I/O every
 * turn) until it is due, and due callbacks run in one drain (for at most `sliceMs`, then the
 * loop polls I/O once and the drain continues), including timers armed by those callbacks for
 * a time already past. Callbacks never run early.
 */
export class PreciseTimers implements Timers {
  private readonly heap = new TimerHeap();
  /** Timers armed and neither run nor cancelled. */
  private pending = 0;
  private nextId = 1;
  private seq = 0;
  private readonly originMs = performance.now();
  private wake?: NodeJS.Timeout;
  private poll?: NodeJS.Immediate;
  private readonly wakeThread?: WakeThread;
  private draining = false;
  // One callback each for every wake-up and poll (a poll runs up to hundreds of thousands of
  // times a second while a deadline is near): no closure per arming.
  private readonly onWake = (): void => {
    this.wake = undefined;
    this.drain();
  };
  private readonly onPoll = (): void => {
    this.poll = undefined;
    this.drain();
  };

  /**
   * @param sliceMs how long one drain may run due callbacks before it lets the loop poll I/O
   *   (ms); the rest run on the next turn, at once. Why: after a stall the backlog would
   *   otherwise be sent in one synchronous burst, no response could free a keep-alive connection
   *   meanwhile, so every send of the burst would open a new one (and the burst itself would
   *   stall the loop further). A time slice, not a count: a count throttles sending to N per loop
   *   turn, however long the turn's I/O took (at 6,000 req/s that fell behind).
   * @param spinMs how long before a deadline to stop sleeping and poll (ms). Polling makes sends
   *   punctual to a few µs but keeps the thread busy whenever deadlines are closer than this
   *   (at 1,000+ requests/s: always), i.e. a whole core per sending thread. 0 = never poll: the
   *   loop sleeps until the deadline (~0.1 ms late with the wake thread, up to ~1 ms with
   *   `setTimeout`) and an idle thread costs nothing (`--timer-spin-ms`).
   * @param wake how the loop sleeps until `spinMs` before a deadline: `"thread"`, a helper
   *   thread wakes it at that instant (to ~0.1 ms, see `WakeThread`), so polling can be short;
   *   `"timeout"`, a `setTimeout` (whole ms, so up to ~1 ms late) and no extra thread
   *   (`--timer-wake`). Defaults to `"timeout"` (no thread to start or close); the CLI passes
   *   its own default, `"thread"`.
   */
  constructor(
    private readonly sliceMs = 4,
    private readonly spinMs = 1.5,
    wake: "thread" | "timeout" = "timeout",
  ) {
    if (wake === "thread") this.wakeThread = new WakeThread(this.onWake);
  }

  nowUs(): number {
    return Math.round((performance.now() - this.originMs) * 1000);
  }

  at(tUs: number, cb: () => void): TimerHandle {
    // The entry is the handle too: one object per timer, and whether it is live is its own flag.
    const entry: PreciseEntry = { tUs, seq: this.seq++, id: this.nextId++, cb, live: true };
    this.pending++;
    this.heap.push(entry);
    // Only a new earliest deadline moves the wake-up; a drain re-arms when it ends.
    if (!this.draining && this.heap.peek() === entry) this.arm();
    return entry;
  }

  cancel(handle: TimerHandle): void {
    // Lazy deletion: the entry stays in the heap and is skipped when it comes up.
    const entry = handle as PreciseEntry;
    if (!entry.live) return;
    entry.live = false;
    this.pending--;
  }

  /** Drops every pending timer (shutdown). */
  cancelAll(): void {
    while (this.heap.size > 0) (this.heap.pop() as PreciseEntry).live = false;
    this.pending = 0;
    this.disarm();
  }

  /** Drops every pending timer and stops the helper thread, if any. */
  async close(): Promise<void> {
    this.cancelAll();
    await this.wakeThread?.close();
  }

  /** Whether wake-ups come from the helper thread now (`"thread"`, once it has started). */
  get threadWakes(): boolean {
    return this.wakeThread?.ready ?? false;
  }

  /** Timers still pending. */
  get size(): number {
    return this.pending;
  }

  private disarm(): void {
    this.disarmLoop();
    this.wakeThread?.cancel();
  }

  /** Clears the loop's own wake-up and poll (not the helper thread's). */
  private disarmLoop(): void {
    if (this.wake) clearTimeout(this.wake);
    if (this.poll) clearImmediate(this.poll);
    this.wake = undefined;
    this.poll = undefined;
  }

  /** Arms the wake-up for the earliest live deadline; `nowUs`: the clock read just before. */
  private arm(nowUs = this.nowUs()): void {
    while (this.heap.size > 0 && !(this.heap.peek() as PreciseEntry).live) this.heap.pop();
    const next = this.heap.peek();
    if (!next) {
      this.disarm();
      return;
    }
    const aheadMs = (next.tUs - nowUs) / 1000;
    if (aheadMs <= this.spinMs) {
      this.disarm();
      this.poll = setImmediate(this.onPoll);
    } else if (this.wakeThread?.ready) {
      // Re-arming the same instant (the earliest deadline unchanged) costs nothing.
      this.disarmLoop();
      this.wakeThread.wakeAt(this.originMs + next.tUs / 1000 - this.spinMs);
    } else {
      this.disarm();
      this.wake = setTimeout(this.onWake, aheadMs - this.spinMs);
    }
  }

  private drain(): void {
    this.draining = true;
    // The clock is read once per callback run (and once when nothing is due: a poll's whole cost).
    let now = this.nowUs();
    const sliceEndUs = now + this.sliceMs * 1000;
    try {
      for (;;) {
        const top = this.heap.peek();
        if (!top || top.tUs > now || now >= sliceEndUs) break;
        this.heap.pop();
        const entry = top as PreciseEntry;
        if (!entry.live) continue;
        entry.live = false;
        this.pending--;
        entry.cb();
        now = this.nowUs();
      }
    } finally {
      this.draining = false;
    }
    this.arm(now);
  }
}
