/**
 * vLLM's KV-cache events (vllm/distributed/kv_events.py) as the engine produces them. Field names
 * and shapes match `@symphony/kv-events`' encoder input, so a batch goes to its publisher as is;
 * the domain only collects them and hands each step's batch to an injected sink (the transport
 * owns ZeroMQ).
 *
 * Block hashes are the mock's 53-bit chained block hashes (safe-integer numbers; they go on the
 * wire as msgpack integers, as vLLM's int hashes do).
 */

/** vLLM's medium strings: the GPU prefix cache and the native CPU offload tier. */
export type KvMedium = "GPU" | "CPU";

/** Blocks that entered a tier: `tokenIds` holds `blockHashes.length * blockSize` tokens. */
export interface BlockStoredEvent {
  readonly type: "BlockStored";
  blockHashes: number[];
  /** Hash of the block before `blockHashes[0]`; null at the prompt's start. */
  parentBlockHash: number | null;
  tokenIds: number[];
  blockSize: number;
  loraId: null;
  medium: KvMedium;
  loraName: null;
}

/** Blocks evicted from a tier. */
export interface BlockRemovedEvent {
  readonly type: "BlockRemoved";
  blockHashes: number[];
  medium: KvMedium;
}

/** The prefix cache was dropped (`/reset_prefix_cache`). */
export interface AllBlocksClearedEvent {
  readonly type: "AllBlocksCleared";
}

export type KvEvent = BlockStoredEvent | BlockRemovedEvent | AllBlocksClearedEvent;

/**
 * Receives one batch per engine step that produced events (vLLM publishes
 * `KVEventBatch(ts, events)` once per step, only when non-empty). `nowUs` is the engine clock;
 * the transport turns it into wall-clock seconds.
 */
export interface KvEventSink {
  publish(events: readonly KvEvent[], nowUs: number): void;
}

/**
 * The step's event queue, shared by the GPU block pool and the CPU offload tier so the batch keeps
 * the order things happened in (vLLM's `kv_event_queue` + the connector's `take_events`).
 */
export class KvEventQueue {
  private events: KvEvent[] = [];

  get length(): number {
    return this.events.length;
  }

  push(event: KvEvent): void {
    this.events.push(event);
  }

  /** Returns and clears the queued events. */
  take(): KvEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }
}

/**
 * One `BlockStored` for blocks `[first, end)` of a sequence: their hashes in order, the parent
 * (the block before `first`, null at the start) and their tokens concatenated.
 */
export function blockStored(
  medium: KvMedium,
  blockSize: number,
  first: number,
  end: number,
  hashAt: (k: number) => number,
  tokenAt: (i: number) => number,
): BlockStoredEvent {
  const blockHashes: number[] = [];
  for (let k = first; k < end; k++) blockHashes.push(hashAt(k));
  const tokenIds: number[] = [];
  for (let i = first * blockSize; i < end * blockSize; i++) tokenIds.push(tokenAt(i));
  return {
    type: "BlockStored",
    blockHashes,
    parentBlockHash: first === 0 ? null : hashAt(first - 1),
    tokenIds,
    blockSize,
    loraId: null,
    medium,
    loraName: null,
  };
}
