/**
 * The subscriber's sequencing decisions, without sockets or timers: which batches to deliver, when
 * to ask the publisher's replay socket for missed ones, and when the consumer's state must be reset.
 * The ZMQ shell (zmq-subscriber.ts) feeds it frames and carries out what it returns.
 */

export type TrackerAction<T> =
  /** Hand the batch to the consumer (in sequence order, each seq once). */
  | { kind: "deliver"; seq: number; payload: T; replayed: boolean }
  /** "restart": seq went backwards (a new engine, empty cache); "gap": batches were lost for good. */
  | { kind: "reset"; reason: "restart" | "gap" }
  /** Send one replay request for every buffered batch from `fromSeq` on. */
  | { kind: "requestReplay"; fromSeq: number };

type ReplayState =
  /** No request outstanding. */
  | "idle"
  /** A request is outstanding and its answers fill the gap. */
  | "active"
  /** A request is outstanding but its answers are stale (a restart came meanwhile): ignore them. */
  | "abandoned";

export interface SequenceTrackerOptions {
  /** Whether a replay endpoint exists; without one every gap is a reset. */
  replayAvailable: boolean;
  /** Live batches held while a replay runs; past this the replay is given up (default 100 000). */
  maxHeld?: number;
}

export class SequenceTracker<T> {
  private expected: number | null = null;
  private replay: ReplayState = "idle";
  private held: { seq: number; payload: T }[] = [];
  private readonly replayAvailable: boolean;
  private readonly maxHeld: number;
  private gaps = 0;

  constructor(opts: SequenceTrackerOptions) {
    this.replayAvailable = opts.replayAvailable;
    this.maxHeld = opts.maxHeld ?? 100_000;
  }

  /** The last delivered seq, or null before the first batch. */
  get lastSeq(): number | null {
    return this.expected === null ? null : this.expected - 1;
  }

  /** Gaps seen in the live seq, whether replay filled them or not. */
  get gapsSeen(): number {
    return this.gaps;
  }

  /** Whether a replay request is outstanding (its answer or a failure must come before another). */
  get replayOutstanding(): boolean {
    return this.replay !== "idle";
  }

  /** A live batch from the SUB socket. */
  onLive(seq: number, payload: T): TrackerAction<T>[] {
    const out: TrackerAction<T>[] = [];
    this.live(seq, payload, out);
    return out;
  }

  /** One batch answered by the replay socket. */
  onReplayBatch(seq: number, payload: T): TrackerAction<T>[] {
    const out: TrackerAction<T>[] = [];
    if (this.replay !== "active" || this.expected === null) return out;
    if (seq < this.expected) return out; // delivered already
    if (seq > this.expected) {
      // The publisher's buffer no longer reaches back to `expected`.
      out.push({ kind: "reset", reason: "gap" });
    }
    out.push({ kind: "deliver", seq, payload, replayed: true });
    this.expected = seq + 1;
    return out;
  }

  /** The replay's end marker (seq -1) arrived. */
  onReplayEnd(): TrackerAction<T>[] {
    return this.finishReplay();
  }

  /** The replay got no answer in time, or its socket failed. */
  onReplayFailed(): TrackerAction<T>[] {
    return this.finishReplay();
  }

  private finishReplay(): TrackerAction<T>[] {
    const out: TrackerAction<T>[] = [];
    const wasActive = this.replay === "active";
    this.replay = "idle";
    if (wasActive) this.drainHeld(out);
    return out;
  }

  /** Held live batches, after a replay: the first one's gap could not be filled if it is still open. */
  private drainHeld(out: TrackerAction<T>[]): void {
    const held = this.held;
    this.held = [];
    for (let i = 0; i < held.length; i++) {
      const { seq, payload } = held[i] as { seq: number; payload: T };
      const expected = this.expected as number;
      if (this.replay !== "idle") {
        // A later gap inside the held batches started a new replay: hold the rest for it.
        this.held.push({ seq, payload });
      } else if (seq < expected) {
        // The replay delivered it already.
      } else if (i === 0 && seq > expected) {
        out.push({ kind: "reset", reason: "gap" });
        out.push({ kind: "deliver", seq, payload, replayed: false });
        this.expected = seq + 1;
      } else {
        this.live(seq, payload, out);
      }
    }
  }

  private live(seq: number, payload: T, out: TrackerAction<T>[]): void {
    if (this.expected === null) {
      // The first batch ever received is the start: nothing before it is missed.
      out.push({ kind: "deliver", seq, payload, replayed: false });
      this.expected = seq + 1;
      return;
    }
    if (this.replay === "active") {
      const last =
        this.held.length > 0 ? (this.held[this.held.length - 1] as { seq: number }).seq : this.expected - 1;
      if (seq <= last) {
        // Backwards while filling a gap: the engine restarted; the replay's answers are stale.
        this.replay = "abandoned";
        this.held = [];
        this.restart(seq, payload, out);
        return;
      }
      if (this.held.length >= this.maxHeld) {
        // Too far behind: give the replay up and carry on from the held batches.
        this.replay = "abandoned";
        this.held.push({ seq, payload });
        const held = this.held;
        this.held = [];
        out.push({ kind: "reset", reason: "gap" });
        const first = held[0] as { seq: number; payload: T };
        out.push({ kind: "deliver", seq: first.seq, payload: first.payload, replayed: false });
        this.expected = first.seq + 1;
        for (let i = 1; i < held.length; i++) this.live(held[i]!.seq, held[i]!.payload, out);
        return;
      }
      this.held.push({ seq, payload });
      return;
    }
    if (seq === this.expected) {
      out.push({ kind: "deliver", seq, payload, replayed: false });
      this.expected = seq + 1;
    } else if (seq > this.expected) {
      this.gaps++;
      if (this.replayAvailable && this.replay === "idle") {
        this.replay = "active";
        this.held.push({ seq, payload });
        out.push({ kind: "requestReplay", fromSeq: this.expected });
      } else {
        // No replay endpoint, or an abandoned request is still outstanding (one in flight at most).
        out.push({ kind: "reset", reason: "gap" });
        out.push({ kind: "deliver", seq, payload, replayed: false });
        this.expected = seq + 1;
      }
    } else {
      this.restart(seq, payload, out);
    }
  }

  private restart(seq: number, payload: T, out: TrackerAction<T>[]): void {
    out.push({ kind: "reset", reason: "restart" });
    out.push({ kind: "deliver", seq, payload, replayed: false });
    this.expected = seq + 1;
  }
}
