import { TimerHeap, type TimerHandle, type Timers } from "@symphony/common";

/**
 * Wall-clock `Timers` for sending on an absolute schedule at thousands of requests per second.
 *
 * Why not one `setTimeout` per timer (`RealTimers`): Node rounds every timeout up to whole
 * milliseconds (at least 1 ms), so a loop that arms the next arrival when the previous fires can
 * never send more than ~1,000 requests/s, and each send is up to 1 ms late. Here all timers live
 * in one binary heap: a single `setTimeout` wakes the loop `spinMs` before the earliest
 * deadline, then `setImmediate` polls (yielding to I/O every turn) until it is due, and
 * due callbacks run in one drain (for at most `sliceMs`, then the loop polls I/O once and the
 * drain continues), including timers armed by those callbacks for a time already past.
 * Callbacks never run early.
 */
export class PreciseTimers implements Timers {
  private readonly heap = new TimerHeap();
  private readonly live = new Set<number>();
  private nextId = 1;
  private seq = 0;
  private readonly originMs = performance.now();
  private wake?: NodeJS.Timeout;
  private poll?: NodeJS.Immediate;
  private draining = false;

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
   *   loop sleeps in `setTimeout`, so sends are up to ~1 ms late (its resolution) and an idle
   *   thread costs nothing (`--timer-spin-ms`).
   */
  constructor(
    private readonly sliceMs = 4,
    private readonly spinMs = 1.5,
  ) {}

  nowUs(): number {
    return Math.round((performance.now() - this.originMs) * 1000);
  }

  at(tUs: number, cb: () => void): TimerHandle {
    const id = this.nextId++;
    this.live.add(id);
    const entry = { tUs, seq: this.seq++, id, cb };
    this.heap.push(entry);
    // Only a new earliest deadline moves the wake-up; a drain re-arms when it ends.
    if (!this.draining && this.heap.peek() === entry) this.arm();
    return { id };
  }

  cancel(handle: TimerHandle): void {
    // Lazy deletion: the entry stays in the heap and is skipped when it comes up.
    this.live.delete(handle.id);
  }

  /** Drops every pending timer (shutdown). */
  cancelAll(): void {
    this.live.clear();
    this.heap.clear();
    this.disarm();
  }

  /** Timers still pending. */
  get size(): number {
    return this.live.size;
  }

  private disarm(): void {
    if (this.wake) clearTimeout(this.wake);
    if (this.poll) clearImmediate(this.poll);
    this.wake = undefined;
    this.poll = undefined;
  }

  /** Arms the wake-up for the earliest live deadline. */
  private arm(): void {
    while (this.heap.size > 0 && !this.live.has(this.heap.peek()!.id)) this.heap.pop();
    this.disarm();
    const next = this.heap.peek();
    if (!next) return;
    const aheadMs = (next.tUs - this.nowUs()) / 1000;
    if (aheadMs > this.spinMs) {
      this.wake = setTimeout(() => {
        this.wake = undefined;
        this.drain();
      }, aheadMs - this.spinMs);
    } else {
      this.poll = setImmediate(() => {
        this.poll = undefined;
        this.drain();
      });
    }
  }

  private drain(): void {
    this.draining = true;
    const sliceEndUs = this.nowUs() + this.sliceMs * 1000;
    try {
      for (;;) {
        const top = this.heap.peek();
        const now = this.nowUs();
        if (!top || top.tUs > now || now >= sliceEndUs) break;
        this.heap.pop();
        if (!this.live.delete(top.id)) continue;
        top.cb();
      }
    } finally {
      this.draining = false;
    }
    this.arm();
  }
}
