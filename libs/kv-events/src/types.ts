/**
 * vLLM's KV-cache events (vllm/distributed/kv_events.py), in TypeScript shape.
 *
 * Field names are camelCase here; on the wire they are vLLM's snake_case (tagged-map encoding) or
 * positions in an array (array-like encoding). See codec.ts.
 */

/**
 * vLLM's `ExternalBlockHash`: an int (builtin/older hashing, up to uint64, possibly negative with
 * Python's `hash()`) or bytes (sha256-based prefix hashing). Decoded ints are always `bigint`.
 */
export type ExternalBlockHash = bigint | Uint8Array;

/** What encoders accept as a block hash: a safe-integer `number` goes out as a msgpack int. */
export type BlockHashInput = ExternalBlockHash | number;

/** The GPU tier (vLLM's default medium; a null medium means GPU). */
export const MEDIUM_GPU = "GPU";
/** The CPU tier (vLLM's native CPU offload publishes its stores and evictions with this medium). */
export const MEDIUM_CPU = "CPU";

/** Blocks that entered a tier's prefix cache: `tokenIds` holds `blockHashes.length * blockSize` tokens. */
export interface BlockStored {
  type: "BlockStored";
  blockHashes: ExternalBlockHash[];
  /** The hash of the block before `blockHashes[0]`; null when the chain starts at the prompt's start. */
  parentBlockHash: ExternalBlockHash | null;
  tokenIds: number[];
  blockSize: number;
  loraId: number | null;
  /** "GPU", "CPU", or null (= GPU, vLLMs before the medium field was filled). */
  medium: string | null;
  loraName: string | null;
}

/** Blocks evicted from a tier. */
export interface BlockRemoved {
  type: "BlockRemoved";
  blockHashes: ExternalBlockHash[];
  medium: string | null;
}

/** The engine dropped its whole prefix cache (e.g. `reset_prefix_cache`). */
export interface AllBlocksCleared {
  type: "AllBlocksCleared";
}

export type KvCacheEvent = BlockStored | BlockRemoved | AllBlocksCleared;

/** vLLM's `KVEventBatch`: one ZMQ message. */
export interface EventBatch {
  /** Wall-clock seconds (Python `time.time()`), a float. */
  ts: number;
  events: KvCacheEvent[];
  /** Filled by the publisher (vLLM's data-parallel rank, 0 without DP); null when absent on the wire. */
  dataParallelRank: number | null;
}

/** The same events as encoders accept them (hashes may be plain safe-integer numbers). */
export type BlockStoredInput = Omit<BlockStored, "blockHashes" | "parentBlockHash"> & {
  blockHashes: readonly BlockHashInput[];
  parentBlockHash: BlockHashInput | null;
};
export type BlockRemovedInput = Omit<BlockRemoved, "blockHashes"> & {
  blockHashes: readonly BlockHashInput[];
};
export type KvCacheEventInput = BlockStoredInput | BlockRemovedInput | AllBlocksCleared;
export interface EventBatchInput {
  ts: number;
  events: readonly KvCacheEventInput[];
  dataParallelRank: number | null;
}

/**
 * How msgspec lays out the event structs: "array_like" (positional arrays, tag first: older vLLM and
 * what llm-d's Go indexer decodes) or "tagged_map" (maps with a "type" tag: vLLM since mid-2026).
 * The batch itself is an array `[ts, events, data_parallel_rank]` in both (vLLM's EventBatch stays
 * array_like).
 */
export type EventEncoding = "tagged_map" | "array_like";

export const EVENT_ENCODINGS: readonly EventEncoding[] = ["tagged_map", "array_like"];
