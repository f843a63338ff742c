import type { SendQuota } from "../domain";

/** A SharedArrayBuffer for `SharedSendQuota` (one Int32 counter, starting at 0). */
export function newQuotaBuffer(): SharedArrayBuffer {
  return new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT);
}

/**
 * `--max-requests` shared by worker threads: one atomic counter in a SharedArrayBuffer, so the
 * run sends exactly `max` requests however the sends fall across threads. `onLast` runs in the
 * thread that claims the last send (it tells the main thread to stop the others at once).
 */
export class SharedSendQuota implements SendQuota {
  private readonly counter: Int32Array;

  constructor(
    buffer: SharedArrayBuffer,
    private readonly max: number,
    private readonly onLast: () => void = () => {},
  ) {
    if (!Number.isInteger(max) || max < 0 || max > 0x7fffffff)
      throw new Error(`max must be an integer in [0, 2^31-1] (got ${max})`);
    this.counter = new Int32Array(buffer, 0, 1);
  }

  take(): boolean {
    const n = Atomics.add(this.counter, 0, 1) + 1;
    if (n > this.max) {
      // Over the cap: undo. Once the counter reached max it never drops below it again, so no
      // other thread can be refused a send that was still free.
      Atomics.sub(this.counter, 0, 1);
      return false;
    }
    if (n === this.max) this.onLast();
    return true;
  }

  get exhausted(): boolean {
    return Atomics.load(this.counter, 0) >= this.max;
  }

  /** Sends claimed so far (all threads). */
  get taken(): number {
    return Math.min(Atomics.load(this.counter, 0), this.max);
  }
}
