/**
 * Time for domain code. Domain modules never call Date.now, performance.now or setTimeout:
 * they get a Timers, so the same code runs live (RealTimers) and in virtual-time simulation
 * (VirtualTimers). Times are integer microseconds.
 */
export interface Timers {
  /** Microseconds since this clock's origin. */
  nowUs(): number;
  /** Runs `cb` at time `tUs` (or at once, asynchronously, if that is in the past). */
  at(tUs: number, cb: () => void): TimerHandle;
  cancel(handle: TimerHandle): void;
}

export type TimerHandle = { readonly id: number };

/** Wall-clock timers on performance.now/setTimeout. */
export class RealTimers implements Timers {
  private nextId = 1;
  private readonly pending = new Map<number, NodeJS.Timeout>();
  private readonly originMs = performance.now();

  nowUs(): number {
    return Math.round((performance.now() - this.originMs) * 1000);
  }

  at(tUs: number, cb: () => void): TimerHandle {
    const id = this.nextId++;
    const delayMs = Math.max(0, (tUs - this.nowUs()) / 1000);
    const timeout = setTimeout(() => {
      this.pending.delete(id);
      cb();
    }, delayMs);
    this.pending.set(id, timeout);
    return { id };
  }

  cancel(handle: TimerHandle): void {
    const t = this.pending.get(handle.id);
    if (t) clearTimeout(t);
    this.pending.delete(handle.id);
  }

  /** Cancels every pending timer (shutdown). */
  cancelAll(): void {
    for (const t of this.pending.values()) clearTimeout(t);
    this.pending.clear();
  }
}

/** One scheduled callback: fires at `tUs`; equal times fire in `seq` (scheduling) order. */
export interface TimerEntry {
  tUs: number;
  seq: number;
  id: number;
  cb: () => void;
}

/**
 * A binary min-heap of timer entries ordered by (time, scheduling order), shared by every
 * clock that keeps its timers in one queue (VirtualTimers, workloadgen's PreciseTimers).
 */
export class TimerHeap {
  private readonly h: TimerEntry[] = [];

  get size(): number {
    return this.h.length;
  }

  /** The earliest entry, or undefined when empty. */
  peek(): TimerEntry | undefined {
    return this.h[0];
  }

  clear(): void {
    this.h.length = 0;
  }

  // Both sifts move a hole rather than swapping pairs: no temporary per level, half the writes.
  // Entries are totally ordered (time, then seq), so the pop order is the same for any valid heap.

  push(e: TimerEntry): void {
    const h = this.h;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent]!;
      if (!less(e, p)) break;
      h[i] = p;
      i = parent;
    }
    h[i] = e;
  }

  /** Removes and returns the earliest entry (the heap must not be empty). */
  pop(): TimerEntry {
    const h = this.h;
    const top = h[0]!;
    const last = h.pop()!;
    const n = h.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const m = r < n && less(h[r]!, h[l]!) ? r : l;
        const child = h[m]!;
        if (!less(child, last)) break;
        h[i] = child;
        i = m;
      }
      h[i] = last;
    }
    return top;
  }
}

function less(a: TimerEntry, b: TimerEntry): boolean {
  return a.tUs < b.tUs || (a.tUs === b.tUs && a.seq < b.seq);
}

/**
 * A discrete-event clock: a binary heap of (time, insertion order) events. Time only moves
 * when `runUntil`/`runAll` pops the next event, so a simulated hour takes as long as its
 * events take to process. Equal times fire in scheduling order, which keeps runs deterministic.
 */
export class VirtualTimers implements Timers {
  private now = 0;
  private seq = 0;
  private readonly heap = new TimerHeap();
  /** Entries still in the heap but cancelled (dropped when popped). */
  private cancelledCount = 0;

  nowUs(): number {
    return this.now;
  }

  at(tUs: number, cb: () => void): TimerHandle {
    const id = ++this.seq;
    // The entry is its own handle: cancel() marks it, so cancelling a timer that already fired
    // (or twice) changes nothing, and no id set is consulted per event.
    const entry: VirtualTimerEntry = { tUs: Math.max(tUs, this.now), seq: id, id, cb, state: PENDING };
    this.heap.push(entry);
    return entry;
  }

  cancel(handle: TimerHandle): void {
    const entry = handle as VirtualTimerEntry;
    if (entry.state !== PENDING) return;
    entry.state = CANCELLED;
    this.cancelledCount++;
  }

  get pendingCount(): number {
    return this.heap.size - this.cancelledCount;
  }

  /** Fires events in order up to and including time `tUs`, then sets the clock to `tUs`. */
  runUntil(tUs: number): number {
    let fired = 0;
    while (this.heap.size > 0 && this.heap.peek()!.tUs <= tUs) {
      if (this.step()) fired++;
    }
    this.now = Math.max(this.now, tUs);
    return fired;
  }

  /** Fires events until none are left (or `maxEvents` fired, a guard against endless loops). */
  runAll(maxEvents = Number.MAX_SAFE_INTEGER): number {
    let fired = 0;
    while (this.heap.size > 0 && fired < maxEvents) {
      if (this.step()) fired++;
    }
    return fired;
  }

  private step(): boolean {
    const ev = this.heap.pop() as VirtualTimerEntry;
    if (ev.state === CANCELLED) {
      this.cancelledCount--;
      return false;
    }
    ev.state = FIRED;
    this.now = ev.tUs;
    ev.cb();
    return true;
  }
}

const PENDING = 0;
const CANCELLED = 1;
const FIRED = 2;

interface VirtualTimerEntry extends TimerEntry {
  state: typeof PENDING | typeof CANCELLED | typeof FIRED;
}
