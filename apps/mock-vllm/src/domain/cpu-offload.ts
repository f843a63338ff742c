/**
 * vLLM's native CPU KV offload (`--kv-offloading-size <GiB> --kv-offloading-backend native`, which
 * configures the OffloadingConnector with its CPU backend and LRU manager:
 * vllm/distributed/kv_transfer/kv_connector/v1/offloading_connector.py, vllm/v1/kv_offload/), as
 * far as timing, capacity and events depend on it:
 *
 * - Write-through: every block a request fills on the GPU is stored to CPU memory (GPU -> CPU DMA
 *   on its own stream; steps do not wait for it). A block already in the tier is not stored again.
 *   A store becomes findable, and is announced `BlockStored(medium CPU)`, when its copy completes.
 * - When the tier is full, a store first evicts least-recently-used blocks that no load holds
 *   (`BlockRemoved(medium CPU)`); if not enough can be evicted the store is skipped.
 * - A request's lookup counts consecutive ready blocks; a load holds them (no eviction) until its
 *   CPU -> GPU copy completes. A lookup touches the request's blocks (most recent first for the
 *   prefix's head, as vLLM's LRU touch does), so a returning session's prefix stays.
 * - Copies take bytes / host-link bandwidth (PCIe, the profile's estimate), divided by the time
 *   scale; each direction is one FIFO stream (PCIe is full duplex).
 */
import { blockStored, type BlockStoredEvent, type KvEventQueue } from "./kv-events";

export interface CpuOffloadConfig {
  /** Capacity of the CPU tier in blocks (all ranks together). */
  readonly numCpuBlocks: number;
  /** KV bytes of one block: block size x KV bytes per token (all layers, all ranks). */
  readonly bytesPerBlock: number;
  /** Host-link bandwidth per direction, bytes per µs of modelled time (all ranks together). */
  readonly linkBytesPerUs: number;
}

/** vLLM's transfer_type label values. */
export type KvTransferType = "GPU_to_CPU" | "CPU_to_GPU";

/**
 * CPU blocks for `--kv-offloading-size` GiB (total across ranks), as vLLM sizes its CPU backend:
 * floor(size x 2^30 / (block size x KV bytes per token)).
 */
export function cpuBlocksFor(offloadingSizeGiB: number, blockSize: number, kvBytesPerToken: number): number {
  return Math.floor((offloadingSizeGiB * 2 ** 30) / (blockSize * kvBytesPerToken));
}

/** Cumulative transfer counters (vllm:kv_offload_total_bytes / _total_time by transfer_type). */
export interface OffloadStats {
  readonly numCpuBlocks: number;
  /** Blocks held by the tier (stored or being stored), 0..numCpuBlocks. */
  readonly numUsedCpuBlocks: number;
  /** Of those, blocks whose store has completed (findable, announced as BlockStored CPU). */
  readonly numReadyCpuBlocks: number;
  /** Fraction of the tier in use, 0..1 (vllm:kv_offload_cpu_cache_usage_perc). */
  readonly cpuCacheUsage: number;
  readonly gpuToCpuBytes: number;
  /** Modelled copy time, engine-clock µs. */
  readonly gpuToCpuTimeUs: number;
  readonly cpuToGpuBytes: number;
  readonly cpuToGpuTimeUs: number;
  /** Stores dropped because nothing could be evicted (vllm:kv_offload_stores_skipped). */
  readonly storesSkipped: number;
}

interface CpuBlock {
  /** Loads in flight reading it; evictable only at 0 and when ready. */
  refCount: number;
  /** False while its GPU -> CPU copy is in flight (not findable, not evictable). */
  ready: boolean;
}

interface StoreJob {
  readonly endUs: number;
  readonly hashes: readonly number[];
  /** BlockStored(CPU) payloads, one per run of consecutive stored blocks (only with events). */
  readonly stored: readonly BlockStoredEvent[];
}

interface LoadJob<T> {
  readonly endUs: number;
  readonly hashes: readonly number[];
  readonly payload: T;
}

/** A sequence's blocks as the tier sees them: hash and tokens by index. */
export interface BlockSource {
  hashAt(k: number): number;
  tokenAt(i: number): number;
}

/** The CPU tier of one engine. `T` is what a load carries back on completion (the request). */
export class CpuOffloadTier<T> {
  /** Hash -> block, in LRU order: the first entry is the least recently used. */
  private readonly blocks = new Map<number, CpuBlock>();
  private readonly stores: StoreJob[] = [];
  private readonly loads: LoadJob<T>[] = [];
  private storeStreamFreeUs = 0;
  private loadStreamFreeUs = 0;
  private gpuToCpuBytes = 0;
  private gpuToCpuTimeUs = 0;
  private cpuToGpuBytes = 0;
  private cpuToGpuTimeUs = 0;
  private storesSkipped = 0;

  constructor(
    readonly config: CpuOffloadConfig,
    private readonly blockSize: number,
    private readonly timeScale: number,
    private readonly events: KvEventQueue | null,
    /** Called once per transfer (vllm:kv_offload_size), engine-clock µs. */
    private readonly onTransfer?: (type: KvTransferType, bytes: number, durationUs: number) => void,
  ) {
    if (!(config.numCpuBlocks >= 1)) throw new RangeError("numCpuBlocks must be >= 1");
    if (!(config.linkBytesPerUs > 0)) throw new RangeError("linkBytesPerUs must be > 0");
  }

  stats(): OffloadStats {
    const used = this.blocks.size;
    let ready = 0;
    for (const b of this.blocks.values()) if (b.ready) ready++;
    return {
      numReadyCpuBlocks: ready,
      numCpuBlocks: this.config.numCpuBlocks,
      numUsedCpuBlocks: used,
      cpuCacheUsage: used / this.config.numCpuBlocks,
      gpuToCpuBytes: this.gpuToCpuBytes,
      gpuToCpuTimeUs: this.gpuToCpuTimeUs,
      cpuToGpuBytes: this.cpuToGpuBytes,
      cpuToGpuTimeUs: this.cpuToGpuTimeUs,
      storesSkipped: this.storesSkipped,
    };
  }

  /** Whether a block is stored and ready (for tests and lookups). */
  has(hash: number): boolean {
    return this.blocks.get(hash)?.ready === true;
  }

  /** True while a copy is in flight. */
  get busy(): boolean {
    return this.stores.length > 0 || this.loads.length > 0;
  }

  /** When the earliest in-flight copy completes (µs), or NaN when none is. */
  nextCompletionUs(): number {
    const s = this.stores.length > 0 ? this.stores[0]!.endUs : Infinity;
    const l = this.loads.length > 0 ? this.loads[0]!.endUs : Infinity;
    const t = Math.min(s, l);
    return t === Infinity ? Number.NaN : t;
  }

  /**
   * Marks blocks `[first, end)` of `seq` recently used, the first one most recently (vLLM touches
   * in reverse, so a prefix's head outlives its tail). Blocks not in the tier are skipped.
   */
  touch(seq: BlockSource, first: number, end: number): void {
    for (let k = end - 1; k >= first; k--) {
      const h = seq.hashAt(k);
      const b = this.blocks.get(h);
      if (!b) continue;
      this.blocks.delete(h);
      this.blocks.set(h, b);
    }
  }

  /** How many consecutive blocks from `first` (below `end`) are stored and ready. */
  lookup(seq: BlockSource, first: number, end: number): number {
    let k = first;
    while (k < end && this.blocks.get(seq.hashAt(k))?.ready === true) k++;
    return k - first;
  }

  /**
   * Stores blocks `[first, end)` of `seq` (write-through of newly filled GPU blocks). Blocks
   * already in the tier are skipped; LRU blocks are evicted for the rest. Returns false when not
   * enough blocks could be evicted (nothing stored; the caller retries later, as vLLM does).
   */
  store(nowUs: number, seq: BlockSource, first: number, end: number): boolean {
    const toStore: number[] = [];
    const fresh: boolean[] = [];
    for (let k = first; k < end; k++) {
      const h = seq.hashAt(k);
      // Chained hashes: one sequence never holds the same hash twice.
      const isNew = !this.blocks.has(h);
      fresh.push(isNew);
      if (isNew) toStore.push(h);
    }
    if (toStore.length === 0) return true;
    let toEvict = toStore.length - (this.config.numCpuBlocks - this.blocks.size);
    if (toEvict > 0) {
      const victims: number[] = [];
      for (const [h, b] of this.blocks) {
        if (!b.ready || b.refCount > 0) continue;
        victims.push(h);
        if (--toEvict === 0) break;
      }
      if (toEvict > 0) {
        this.storesSkipped++;
        return false;
      }
      for (const h of victims) this.blocks.delete(h);
      this.events?.push({ type: "BlockRemoved", blockHashes: victims, medium: "CPU" });
    }
    for (const h of toStore) this.blocks.set(h, { refCount: 0, ready: false });

    const stored: BlockStoredEvent[] = [];
    if (this.events) {
      // One BlockStored per run of consecutive stored blocks, with the GPU event's chain.
      for (let i = 0; i < fresh.length;) {
        if (!fresh[i]) {
          i++;
          continue;
        }
        let j = i;
        while (j < fresh.length && fresh[j]) j++;
        stored.push(
          blockStored(
            "CPU",
            this.blockSize,
            first + i,
            first + j,
            (k) => seq.hashAt(k),
            (t) => seq.tokenAt(t),
          ),
        );
        i = j;
      }
    }
    const bytes = toStore.length * this.config.bytesPerBlock;
    const durationUs = this.transferUs(bytes);
    const startUs = Math.max(nowUs, this.storeStreamFreeUs);
    this.storeStreamFreeUs = startUs + durationUs;
    this.stores.push({ endUs: this.storeStreamFreeUs, hashes: toStore, stored });
    this.gpuToCpuBytes += bytes;
    this.gpuToCpuTimeUs += durationUs;
    this.onTransfer?.("GPU_to_CPU", bytes, durationUs);
    return true;
  }

  /**
   * Loads blocks `[first, end)` of `seq` (all found by `lookup`) to the GPU; they are held until
   * the copy completes. Returns the completion time (µs); `advance` hands `payload` back then.
   */
  load(nowUs: number, seq: BlockSource, first: number, end: number, payload: T): number {
    const hashes: number[] = [];
    for (let k = first; k < end; k++) {
      const h = seq.hashAt(k);
      const b = this.blocks.get(h);
      if (!b?.ready) throw new RangeError(`block ${k} is not in the CPU tier`);
      b.refCount++;
      hashes.push(h);
    }
    const bytes = hashes.length * this.config.bytesPerBlock;
    const durationUs = this.transferUs(bytes);
    const startUs = Math.max(nowUs, this.loadStreamFreeUs);
    this.loadStreamFreeUs = startUs + durationUs;
    this.loads.push({ endUs: this.loadStreamFreeUs, hashes, payload });
    this.cpuToGpuBytes += bytes;
    this.cpuToGpuTimeUs += durationUs;
    this.onTransfer?.("CPU_to_GPU", bytes, durationUs);
    return this.loadStreamFreeUs;
  }

  /**
   * Completes the copies that ended by `nowUs` (stores become findable and are announced; loads
   * release their blocks) and returns the payloads of the completed loads, in load order.
   */
  advance(nowUs: number): T[] {
    while (this.stores.length > 0 && this.stores[0]!.endUs <= nowUs) {
      const job = this.stores.shift()!;
      for (const h of job.hashes) {
        const b = this.blocks.get(h);
        if (b) b.ready = true;
      }
      for (const e of job.stored) this.events?.push(e);
    }
    const done: T[] = [];
    while (this.loads.length > 0 && this.loads[0]!.endUs <= nowUs) {
      const job = this.loads.shift()!;
      for (const h of job.hashes) {
        const b = this.blocks.get(h);
        if (b) b.refCount--;
      }
      done.push(job.payload);
    }
    return done;
  }

  private transferUs(bytes: number): number {
    return bytes / this.config.linkBytesPerUs / this.timeScale;
  }
}
