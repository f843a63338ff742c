/**
 * vLLM's `ZmqEventPublisher` (vllm/distributed/kv_events.py): a PUB socket sending
 * [topic, seq (8 bytes BE), msgpack EventBatch] per batch, and an optional ROUTER that replays the
 * last `bufferSteps` batches on request.
 */
import { encodeEventBatch } from "./codec";
import { publisherBinds } from "./config";
import { END_SEQ_FRAME, loadZeromq, readSeqFrame, seqFrame } from "./load-zeromq";
import type { EventEncoding, KvCacheEventInput } from "./types";
import type { Publisher, Router } from "zeromq";

export interface PublisherOptions {
  /** Binds when it has `*` / `::` or is ipc:// / inproc:// (vLLM's heuristic), else connects. */
  endpoint: string;
  /** The ROUTER for replay requests always binds this (e.g. "tcp://127.0.0.1:*"); null = no replay. */
  replayEndpoint?: string | null;
  /** Batches kept for replay (vLLM `buffer_steps`, default 10000). */
  bufferSteps?: number;
  /**
   * PUB send high-water mark (vLLM `hwm`, default 100000): beyond it ZMQ drops, never blocks. It
   * also caps the batches waiting here for zeromq.js's one send in flight, so up to twice this
   * many are buffered before any is dropped.
   */
  hwm?: number;
  /** First frame of every message (vLLM `topic`, default ""). */
  topic?: string;
  /** Payload layout (default "tagged_map"). */
  encoding?: EventEncoding;
  /** Filled into every batch (vLLM's data-parallel rank, default 0). */
  dataParallelRank?: number;
  /** Malformed replay requests and socket failures (vLLM logs a warning); default: ignored. */
  onWarning?(message: string): void;
}

const EMPTY = Buffer.alloc(0);

export class ZmqEventPublisher {
  /** Resolved: the real port after binding "tcp://127.0.0.1:*"; the given one when connecting. */
  readonly endpoint: string;
  /** Resolved replay endpoint, or null without replay. */
  readonly replayEndpoint: string | null;
  /** Whether the PUB bound (else it connected to a consumer's bound SUB). */
  readonly bound: boolean;

  private seq = 0;
  private closed = false;
  private readonly topicFrame: Buffer;
  private readonly encoding: EventEncoding;
  private readonly rank: number;
  private readonly bufferSteps: number;
  /** Ring of the last `bufferSteps` (seq, payload) pairs, for replay. */
  private readonly ring: ({ seq: number; payload: Buffer } | undefined)[];
  private ringNext = 0;
  private readonly replayLoop: Promise<void>;
  private readonly warn: (message: string) => void;
  private readonly hwm: number;
  /** Batches waiting for the one send zeromq.js allows in flight; `pendingHead` is the oldest. */
  private pending: (Buffer[] | undefined)[] = [];
  private pendingHead = 0;
  private sending = false;
  private dropped = 0;

  private constructor(
    private readonly pub: Publisher,
    private readonly router: Router | null,
    opts: PublisherOptions,
    endpoint: string,
    replayEndpoint: string | null,
    bound: boolean,
  ) {
    this.endpoint = endpoint;
    this.replayEndpoint = replayEndpoint;
    this.bound = bound;
    this.topicFrame = Buffer.from(opts.topic ?? "", "utf8");
    this.encoding = opts.encoding ?? "tagged_map";
    this.rank = opts.dataParallelRank ?? 0;
    this.bufferSteps = Math.max(1, opts.bufferSteps ?? 10_000);
    this.ring = new Array(router ? this.bufferSteps : 0);
    this.warn = opts.onWarning ?? (() => {});
    this.hwm = opts.hwm ?? 100_000;
    this.replayLoop = router ? this.serveReplay(router) : Promise.resolve();
  }

  static async open(opts: PublisherOptions): Promise<ZmqEventPublisher> {
    const zmq = await loadZeromq();
    const pub = new zmq.Publisher({ sendHighWaterMark: opts.hwm ?? 100_000, linger: 0 });
    let router: Router | null = null;
    try {
      const binds = publisherBinds(opts.endpoint);
      let endpoint = opts.endpoint;
      if (binds) {
        await pub.bind(opts.endpoint);
        endpoint = pub.lastEndpoint ?? opts.endpoint;
      } else {
        pub.connect(opts.endpoint);
      }
      let replayEndpoint: string | null = null;
      if (opts.replayEndpoint) {
        router = new zmq.Router({ linger: 0 });
        await router.bind(opts.replayEndpoint);
        replayEndpoint = router.lastEndpoint ?? opts.replayEndpoint;
      }
      return new ZmqEventPublisher(pub, router, opts, endpoint, replayEndpoint, binds);
    } catch (err) {
      pub.close();
      router?.close();
      throw err;
    }
  }

  /** The seq the next batch gets (vLLM starts at 0, +1 per batch). */
  get nextSeq(): number {
    return this.seq;
  }

  /**
   * Sends `events` as one batch with the next seq. Synchronous and never blocks or throws: past the
   * high-water mark a batch is dropped, as vLLM's PUB drops it. A no-op after close().
   */
  publish(events: readonly KvCacheEventInput[], tsSeconds: number): void {
    if (this.closed) return;
    const seq = this.seq++;
    const payload = encodeEventBatch({ ts: tsSeconds, events, dataParallelRank: this.rank }, this.encoding);
    if (this.router) {
      this.ring[this.ringNext] = { seq, payload };
      this.ringNext = (this.ringNext + 1) % this.bufferSteps;
    }
    this.enqueue([this.topicFrame, seqFrame(seq), payload], seq);
  }

  /** Batches published but not yet handed to ZMQ (a slow subscriber backs them up here). */
  get pendingSends(): number {
    return this.pending.length - this.pendingHead;
  }

  /**
   * zeromq.js allows one send in flight, and a send stays in flight while ZMQ's pipe is full (a slow
   * subscriber): a second send then throws EBUSY. Batches wait here instead, in order, up to the
   * high-water mark; beyond it they are dropped as a full PUB drops them, and the subscriber sees a
   * seq gap it can replay.
   */
  private enqueue(frames: Buffer[], seq: number): void {
    if (this.pendingSends >= this.hwm) {
      this.dropped++;
      if (this.dropped === 1 || this.dropped % 1000 === 0) {
        this.warn(
          `kv-events: ${this.dropped} batches dropped (last seq ${seq}): ${this.hwm} already waiting to be sent`,
        );
      }
      return;
    }
    this.pending.push(frames);
    if (!this.sending) void this.drain();
  }

  private async drain(): Promise<void> {
    this.sending = true;
    while (!this.closed && this.pendingHead < this.pending.length) {
      const frames = this.pending[this.pendingHead]!;
      this.pending[this.pendingHead++] = undefined;
      if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
        this.pending = this.pending.slice(this.pendingHead);
        this.pendingHead = 0;
      }
      try {
        await this.pub.send(frames);
      } catch (err) {
        if (!this.closed) this.warn(`kv-events publish failed: ${(err as Error).message}`);
      }
    }
    this.sending = false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pub.close();
    this.router?.close();
    await this.replayLoop;
  }

  /** The buffered batches with seq >= start, oldest first. */
  private buffered(start: number): { seq: number; payload: Buffer }[] {
    const out: { seq: number; payload: Buffer }[] = [];
    for (let i = 0; i < this.bufferSteps; i++) {
      const e = this.ring[(this.ringNext + i) % this.bufferSteps];
      if (e !== undefined && e.seq >= start) out.push(e);
    }
    return out;
  }

  private async serveReplay(router: Router): Promise<void> {
    try {
      for await (const frames of router) {
        // [identity, "", start_seq] from a DEALER sending ["", seq] or a REQ sending [seq]; newer
        // vLLMs also take [identity, start_seq] (a DEALER without the delimiter) and answer in kind.
        const delimited = frames.length === 3 && (frames[1] as Buffer).length === 0;
        if (!delimited && frames.length !== 2) {
          this.warn(
            `kv-events replay: ignored a request of ${frames.length} frames (want [identity, "", start_seq])`,
          );
          continue;
        }
        const identity = frames[0] as Buffer;
        const startFrame = frames[frames.length - 1] as Buffer;
        const start = readSeqFrame(startFrame);
        if (start === null) {
          this.warn(`kv-events replay: ignored a start_seq of ${startFrame.length} bytes (want 8)`);
          continue;
        }
        const head = delimited ? [identity, EMPTY] : [identity];
        for (const { seq, payload } of this.buffered(start)) {
          await router.send([...head, seqFrame(seq), payload]);
        }
        await router.send([...head, END_SEQ_FRAME, EMPTY]);
      }
    } catch (err) {
      if (!this.closed) this.warn(`kv-events replay socket failed: ${(err as Error).message}`);
    }
  }
}
