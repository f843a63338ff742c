/**
 * The consumer end of vLLM's KV events: a SUB socket for live batches and a DEALER for replay, a
 * thin shell around {@link SequenceTracker}, which makes every sequencing decision.
 */
import { decodeEventBatch } from "./codec";
import { loadZeromq, readSeqFrame, seqFrame, type Zeromq } from "./load-zeromq";
import { SequenceTracker, type TrackerAction } from "./sequence-tracker";
import type { EventBatch } from "./types";
import type { Dealer, Subscriber } from "zeromq";

export interface SubscriberOptions {
  /** The SUB connects to it, or binds it when `bind` (then "tcp://127.0.0.1:*" picks a port). */
  endpoint: string;
  bind?: boolean;
  /** A DEALER connects here to fetch missed batches (the publisher's `replay_endpoint`). */
  replayEndpoint?: string | null;
  /** Subscription prefix matched against the topic frame; default "" (all). */
  topic?: string;
  /** Silence after a replay request (or between its answers) that counts as no answer; default 2000 ms. */
  replayTimeoutMs?: number;
  /** In sequence order, each seq once. */
  onBatch(batch: EventBatch, seq: number): void;
  /**
   * "restart": seq went backwards (the engine restarted: its cache is empty); "gap": batches were
   * missed and could not be replayed (state unknown). The next onBatch continues from the live seq.
   */
  onReset?(reason: "restart" | "gap"): void;
  /** Decode errors, malformed messages, callback errors; the subscriber keeps running. */
  onError?(err: Error): void;
}

export interface SubscriberStats {
  /** Batches handed to onBatch. */
  batches: number;
  /** Gaps seen in the live seq (filled by replay or not). */
  gaps: number;
  /** Batches delivered from replay answers. */
  replayedBatches: number;
  decodeErrors: number;
  resets: number;
  /** The last seq consumed (delivered or undecodable), null before the first. */
  lastSeq: number | null;
}

const EMPTY = Buffer.alloc(0);

export class ZmqEventSubscriber {
  /** Resolved: the real port after binding "tcp://127.0.0.1:*". */
  readonly endpoint: string;

  private closed = false;
  private readonly tracker: SequenceTracker<Buffer>;
  private readonly counts = { batches: 0, replayedBatches: 0, decodeErrors: 0, resets: 0 };
  private dealer: Dealer | null = null;
  private dealerLoop: Promise<void> = Promise.resolve();
  private replayTimer: NodeJS.Timeout | null = null;
  private readonly liveLoop: Promise<void>;
  private readonly replayTimeoutMs: number;

  private constructor(
    private readonly zmq: Zeromq,
    private readonly sub: Subscriber,
    private readonly opts: SubscriberOptions,
    endpoint: string,
  ) {
    this.endpoint = endpoint;
    this.replayTimeoutMs = opts.replayTimeoutMs ?? 2000;
    this.tracker = new SequenceTracker<Buffer>({ replayAvailable: !!opts.replayEndpoint });
    if (opts.replayEndpoint) this.openDealer();
    this.liveLoop = this.receiveLive();
  }

  static async open(opts: SubscriberOptions): Promise<ZmqEventSubscriber> {
    const zmq = await loadZeromq();
    const sub = new zmq.Subscriber({ linger: 0 });
    try {
      let endpoint = opts.endpoint;
      if (opts.bind) {
        await sub.bind(opts.endpoint);
        endpoint = sub.lastEndpoint ?? opts.endpoint;
      } else {
        sub.connect(opts.endpoint);
      }
      sub.subscribe(opts.topic ?? "");
      return new ZmqEventSubscriber(zmq, sub, opts, endpoint);
    } catch (err) {
      sub.close();
      throw err;
    }
  }

  stats(): SubscriberStats {
    return { ...this.counts, gaps: this.tracker.gapsSeen, lastSeq: this.tracker.lastSeq };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.clearReplayTimer();
    this.sub.close();
    this.dealer?.close();
    await Promise.all([this.liveLoop, this.dealerLoop]);
  }

  private async receiveLive(): Promise<void> {
    try {
      for await (const frames of this.sub) {
        if (this.closed) break;
        const seq = frames.length === 3 ? readSeqFrame(frames[1] as Buffer) : null;
        if (seq === null) {
          this.error(
            new Error(
              `kv-events: ignored a message of ${frames.length} frames (want [topic, seq (8 bytes), payload])`,
            ),
          );
          continue;
        }
        this.perform(this.tracker.onLive(seq, frames[2] as Buffer));
      }
    } catch (err) {
      if (!this.closed) this.error(err as Error);
    }
  }

  private openDealer(): void {
    const dealer = new this.zmq.Dealer({ linger: 0 });
    dealer.connect(this.opts.replayEndpoint as string);
    this.dealer = dealer;
    this.dealerLoop = this.receiveReplay(dealer);
  }

  private async receiveReplay(dealer: Dealer): Promise<void> {
    try {
      for await (const frames of dealer) {
        if (this.closed || dealer !== this.dealer) break;
        // ["", seq, payload]; the end marker is seq -1 with an empty payload.
        const seq = frames.length === 3 ? readSeqFrame(frames[1] as Buffer) : null;
        if (seq === null) {
          this.error(new Error(`kv-events replay: ignored an answer of ${frames.length} frames`));
          continue;
        }
        if (seq === -1) {
          this.clearReplayTimer();
          this.perform(this.tracker.onReplayEnd());
        } else {
          this.armReplayTimer();
          this.perform(this.tracker.onReplayBatch(seq, frames[2] as Buffer));
        }
      }
    } catch (err) {
      if (!this.closed && dealer === this.dealer) this.error(err as Error);
    }
  }

  private perform(actions: TrackerAction<Buffer>[]): void {
    for (const a of actions) {
      if (a.kind === "deliver") this.deliver(a.seq, a.payload, a.replayed);
      else if (a.kind === "reset") {
        this.counts.resets++;
        this.callback(() => this.opts.onReset?.(a.reason));
      } else this.requestReplay(a.fromSeq);
    }
  }

  private deliver(seq: number, payload: Buffer, replayed: boolean): void {
    let batch: EventBatch;
    try {
      batch = decodeEventBatch(payload);
    } catch (err) {
      this.counts.decodeErrors++;
      this.error(new Error(`kv-events seq ${seq}: ${(err as Error).message}`, { cause: err }));
      return;
    }
    this.counts.batches++;
    if (replayed) this.counts.replayedBatches++;
    this.callback(() => this.opts.onBatch(batch, seq));
  }

  private requestReplay(fromSeq: number): void {
    const dealer = this.dealer;
    if (dealer === null || this.closed) {
      this.perform(this.tracker.onReplayFailed());
      return;
    }
    this.armReplayTimer();
    dealer.send([EMPTY, seqFrame(fromSeq)]).catch((err: Error) => {
      if (this.closed || dealer !== this.dealer) return;
      this.error(new Error(`kv-events replay request failed: ${err.message}`));
      this.replayFailed();
    });
  }

  private armReplayTimer(): void {
    this.clearReplayTimer();
    this.replayTimer = setTimeout(() => this.replayFailed(), this.replayTimeoutMs);
    this.replayTimer.unref();
  }

  private clearReplayTimer(): void {
    if (this.replayTimer !== null) clearTimeout(this.replayTimer);
    this.replayTimer = null;
  }

  /** No answer in time: a fresh DEALER, so a late answer to the old request cannot be mistaken for a new one. */
  private replayFailed(): void {
    this.clearReplayTimer();
    if (this.closed) return;
    this.dealer?.close();
    this.openDealer();
    this.perform(this.tracker.onReplayFailed());
  }

  private callback(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.error(err as Error);
    }
  }

  private error(err: Error): void {
    try {
      this.opts.onError?.(err);
    } catch {
      // An onError that throws must not stop the receive loops.
    }
  }
}
