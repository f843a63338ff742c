/**
 * vLLM v1's KV-cache block pool with automatic prefix caching (vllm/v1/core/block_pool.py,
 * kv_cache_utils.py), reduced to what timing and capacity depend on:
 *
 * - The cache is `numBlocks` blocks of `blockSize` token slots.
 * - A full block is identified by a hash chained over token ids, hash(parentHash, blockTokenIds),
 *   so a block hit implies the whole prefix before it matches. Partial blocks are never cached.
 * - Freed blocks keep their hash and stay findable until reused; the free queue is LRU: freed
 *   blocks join the tail, allocation takes from the head, and a request frees its blocks in
 *   reverse order so a prefix's tail is evicted before its head.
 * - With a KV event queue, evicting a cached block on reallocation queues
 *   `BlockRemoved(medium GPU)` (lazily, as vLLM does: freeing a block announces nothing) and a
 *   prefix-cache reset queues `AllBlocksCleared`. `BlockStored` is built by the engine, which
 *   knows the tokens (see `cache`).
 */
import type { KvEventQueue } from "./kv-events";

/** Marks a block with no cached content. */
export const NO_HASH = -1;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Chained block hash of `tokens[start, start + blockSize)` given the parent block's hash
 * (NO_HASH for the first block): two independent 32-bit murmur-style lanes combined into a
 * 53-bit integer, so Map lookups stay on numbers. Like vLLM's default builtin hash, a collision
 * is possible in principle and ignored in practice (~2^-53 per pair).
 */
export function hashBlock(
  parentHash: number,
  tokenAt: (i: number) => number,
  start: number,
  blockSize: number,
) {
  const parentLo = parentHash === NO_HASH ? 0x9e3779b9 : parentHash >>> 0; // low 32 bits, no fmod
  const parentHi = parentHash === NO_HASH ? 0x7f4a7c15 : Math.floor(parentHash / 0x100000000);
  let a = parentLo ^ 0x1b873593;
  let b = (parentHi * 0x27d4eb2f) ^ 0xcc9e2d51;
  for (let i = start; i < start + blockSize; i++) {
    const t = tokenAt(i);
    a = Math.imul(a ^ t, 0x01000193);
    a = (a << 13) | (a >>> 19);
    b = Math.imul(b + t, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return finishHash(a, b, blockSize);
}

/**
 * hashBlock over the token sequence `head` followed by `tail` (a request's prompt, then its
 * output), read straight from the arrays: the same value as hashBlock with
 * `tokenAt(i) = i < head.length ? head[i] : tail[i - head.length]`, without a call per token.
 */
export function hashBlockOf(
  parentHash: number,
  head: Int32Array,
  tail: Int32Array,
  start: number,
  blockSize: number,
): number {
  const parentLo = parentHash === NO_HASH ? 0x9e3779b9 : parentHash >>> 0; // low 32 bits, no fmod
  const parentHi = parentHash === NO_HASH ? 0x7f4a7c15 : Math.floor(parentHash / 0x100000000);
  let a = parentLo ^ 0x1b873593;
  let b = (parentHi * 0x27d4eb2f) ^ 0xcc9e2d51;
  const end = start + blockSize;
  const p = head.length;
  const headEnd = end < p ? end : p;
  for (let i = start; i < headEnd; i++) {
    const t = head[i]!;
    a = Math.imul(a ^ t, 0x01000193);
    a = (a << 13) | (a >>> 19);
    b = Math.imul(b + t, 0x5bd1e995);
    b ^= b >>> 15;
  }
  for (let i = (start > p ? start : p) - p; i < end - p; i++) {
    const t = tail[i]!;
    a = Math.imul(a ^ t, 0x01000193);
    a = (a << 13) | (a >>> 19);
    b = Math.imul(b + t, 0x5bd1e995);
    b ^= b >>> 15;
  }
  return finishHash(a, b, blockSize);
}

function finishHash(a: number, b: number, blockSize: number): number {
  const lo = fmix32(a ^ Math.imul(blockSize, 0x2545f491));
  const hi = fmix32(b ^ lo) & 0x1fffff; // 21 bits: 21 + 32 = 53-bit safe integer
  return hi * 0x100000000 + lo;
}

/** Counters a metrics exporter reads. */
export interface KvCacheStats {
  readonly numBlocks: number;
  readonly numFreeBlocks: number;
  /** Blocks holding a cached prefix (in use or free-but-findable). */
  readonly numCachedBlocks: number;
  /** Fraction of blocks in use by running requests: 1 - free / total (vLLM's kv_cache_usage). */
  readonly usage: number;
}

/**
 * The pool keeps what it knows of block `id` in one record of `BLOCK_RECORD_SIZE` int32 fields
 * at `records[BLOCK_RECORD_SIZE * id]`, 16 bytes, so a block's registration, eviction or free
 * reads one cache line instead of one per field. A cached hash (a safe integer below 2^53) is
 * split into its low 32 bits and its high bits; the high bits are HIGH_NONE while the block
 * holds no cached content.
 */
export const BLOCK_RECORD_SIZE = 4;
// Field offsets in a block's record:
/** The hash's low 32 bits. */
export const HASH_LO = 0;
/** The hash's bits above the low 32 (below 2^21 for hashBlock's 53-bit hashes). */
export const HASH_HI = 1;
/** Requests holding the block (0: free). */
const REF_COUNT = 2;
/** The free-queue ring slot of the block's latest free (meaningful while it is free). */
const RING_POS = 3;
/** A record's HASH_HI when the block holds no cached content. */
const HIGH_NONE = -1;
/**
 * Added to HASH_HI while the index's entry for the block's hash is this block (the block lookups
 * find): a hash's high bits are below 2^21, so a HASH_HI at or above INDEXED has it.
 */
const INDEXED = 0x40000000;

const TWO_32 = 0x100000000;
/** 2^32 / golden ratio: the index's multiplicative (Fibonacci) hash of a key's low bits. */
const FIBONACCI = 0x9e3779b1;

/**
 * True when the free-queue ring's entry at `pos` is live: its block (record at `rec`) is free and
 * this entry is its latest free, not a stale one (taken since, or freed again later).
 */
function isQueuedAt(records: Int32Array, rec: number, pos: number): boolean {
  return records[rec + REF_COUNT] === 0 && records[rec + RING_POS] === pos;
}

/** The bits of a non-negative safe integer above its low 32 (`hash | 0` gives the low 32). */
function highBits(hash: number): number {
  return (hash - (hash >>> 0)) / TWO_32;
}

/**
 * Block hash -> block id, an open-addressing table on typed arrays in place of a
 * `Map<number, number>`: block hashes are 53-bit numbers, which a Map stores as boxed heap
 * numbers (an allocation per insert) in a table the garbage collector scans.
 *
 * Built for the pool's pattern (a few million inserts and evictions an hour per engine, each at a
 * random slot, so each a cache miss, and few lookups):
 * - a slot is 8 bytes, the key's low 32 bits and the block id + 1; the rest of the key and
 *   whether the entry is live are read from the pool's record of that block (`records`, see
 *   BLOCK_RECORD_SIZE), only when the low bits match, so the index keeps no copy of the keys;
 * - deleting is lazy: `forget` only clears the block's INDEXED mark in its record, leaving its
 *   slot stale (an eviction touches no slot), and when live and stale slots fill three quarters
 *   of the table it is rebuilt from the records (one pass over them), doubling if the live
 *   entries alone fill half.
 *
 * Keys are passed split, `lo = key | 0` and `hi` = the bits above (below 2^21). A block is the
 * entry of at most one key: the one its record holds while it is marked INDEXED.
 */
export class BlockHashIndex {
  /** slot i: the key's low 32 bits at 2i, block id + 1 at 2i + 1 (0 = empty). */
  private slots: Int32Array;
  private mask: number;
  /** 32 - log2(capacity): a key's home slot is the top bits of its multiplicative hash. */
  private shift: number;
  /** Live entries (blocks marked INDEXED). */
  private live = 0;
  /** Slots in use, live or stale. */
  private used = 0;

  /**
   * @param records the pool's block records: a block's key is its HASH_LO and HASH_HI fields;
   *   the index marks HASH_HI with INDEXED while the block is the key's entry.
   * @param capacity how many live entries the table holds without growing (the pool: its block count).
   */
  constructor(
    private readonly records: Int32Array,
    capacity = 1024,
  ) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.slots = new Int32Array(cap * 2);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
  }

  get size(): number {
    return this.live;
  }

  /** The slot a key with these low bits starts probing at (Fibonacci hashing). */
  private home(lo: number): number {
    return Math.imul(lo, FIBONACCI) >>> this.shift;
  }

  /** True when block `v - 1` is the live entry of the key (lo, hi). */
  private isEntry(v: number, lo: number, hi: number): boolean {
    const rec = (v - 1) * BLOCK_RECORD_SIZE;
    return this.records[rec + HASH_HI] === hi + INDEXED && this.records[rec + HASH_LO] === lo;
  }

  /**
   * Reads the slots where probing starts for the keys `keys[from, to)` and returns them folded
   * (for the caller's sink): in one tight loop their cache misses overlap, so the setIfAbsent
   * calls that follow hit.
   */
  warmKeys(keys: Float64Array, from: number, to: number): number {
    const { slots } = this;
    let sink = 0;
    for (let k = from; k < to; k++) sink ^= slots[2 * this.home(keys[k]! | 0) + 1]!;
    return sink;
  }

  /** The block id stored under the key (lo, hi), or -1. */
  get(lo: number, hi: number): number {
    const { slots, mask } = this;
    for (let i = this.home(lo); ; i = (i + 1) & mask) {
      const v = slots[2 * i + 1]!;
      if (v === 0) return -1;
      if (slots[2 * i] === lo && this.isEntry(v, lo, hi)) return v - 1;
    }
  }

  /**
   * Makes block `id` the entry of the key (lo, hi), which its record must hold (HASH_LO = lo,
   * HASH_HI = hi, not INDEXED), unless the key has an entry (then keeps it, like `has` + `set`).
   * True when it did.
   */
  setIfAbsent(lo: number, hi: number, id: number): boolean {
    const { slots, mask } = this;
    let i = this.home(lo);
    for (; ; i = (i + 1) & mask) {
      const v = slots[2 * i + 1]!;
      if (v === 0) break;
      if (slots[2 * i] === lo && this.isEntry(v, lo, hi)) return false;
    }
    slots[2 * i] = lo;
    slots[2 * i + 1] = id + 1;
    this.records[id * BLOCK_RECORD_SIZE + HASH_HI] = hi + INDEXED;
    this.live++;
    if (++this.used * 4 > (mask + 1) * 3) this.rebuild();
    return true;
  }

  /**
   * Drops block `id`'s entry if it is one: clears its INDEXED mark, leaving its slot stale (no
   * slot is read). True when it was an entry.
   */
  forget(id: number): boolean {
    const at = id * BLOCK_RECORD_SIZE + HASH_HI;
    const hi = this.records[at]!;
    if (hi < INDEXED) return false;
    this.records[at] = hi - INDEXED;
    this.live--;
    return true;
  }

  /** Empties the table; the caller clears the records' INDEXED marks. */
  clear(): void {
    this.slots.fill(0);
    this.live = 0;
    this.used = 0;
  }

  /**
   * Re-inserts the live entries (the records marked INDEXED, in block order) into an emptied
   * table, dropping the stale slots; doubles it first if they alone would fill half.
   */
  private rebuild(): void {
    let cap = this.mask + 1;
    if (this.live * 2 > cap) {
      while (this.live * 2 > cap) cap *= 2;
      this.slots = new Int32Array(cap * 2);
      this.mask = cap - 1;
      this.shift = 32 - Math.log2(cap);
    } else this.slots.fill(0);
    const { slots, mask, records } = this;
    for (let rec = 0; rec < records.length; rec += BLOCK_RECORD_SIZE) {
      if (records[rec + HASH_HI]! < INDEXED) continue;
      const lo = records[rec + HASH_LO]!;
      let i = this.home(lo);
      while (slots[2 * i + 1] !== 0) i = (i + 1) & mask;
      slots[2 * i] = lo;
      slots[2 * i + 1] = rec / BLOCK_RECORD_SIZE + 1;
    }
    this.used = this.live;
  }
}

/**
 * The pool's blocks are ids 0..numBlocks-1; what the pool knows of each (its cached hash, how
 * many requests hold it, its free-queue slot) is one 16-byte record by id (see
 * BLOCK_RECORD_SIZE): the pool is memory-latency bound (every registration, eviction and free
 * lands on a random block), so one cache line per block touched, not one per field.
 *
 * The free queue is a ring of block ids with lazy deletion, not a linked list: a free appends
 * the id at the tail and stamps the slot in the block's record; taking a free block (`touch`)
 * only raises its reference count, leaving its entry behind, stale. Allocation pops from the
 * head, skipping stale entries: a block now held, or one freed again later (its record points at
 * a later slot). So the live entries are each free block's latest free, in order: the LRU order
 * of a linked list, and allocation reads consecutive ids instead of chasing links, so the misses
 * on their records overlap. A full ring (twice the block count, so at least half stale) is
 * compacted in order.
 */
export class BlockPool {
  /** The blocks' records, BLOCK_RECORD_SIZE int32 fields per block id. */
  private readonly records: Int32Array;
  /** The free queue's entries are ring[head], ring[head + 1], ... (mod its size), ringUsed of them. */
  private readonly ring: Int32Array;
  private readonly ringMask: number;
  private head = 0;
  private ringUsed = 0;
  /** Folds the loads of the warm passes so they are not dropped as unused. */
  private sink = 0;
  private freeCount = 0;
  private readonly cachedByHash: BlockHashIndex;

  /**
   * @param events where KV-cache events go (vLLM's `enable_kv_cache_events`); null = none, and
   *   the pool behaves exactly as without events.
   */
  constructor(
    readonly numBlocks: number,
    private readonly events: KvEventQueue | null = null,
  ) {
    this.records = new Int32Array(numBlocks * BLOCK_RECORD_SIZE);
    for (let id = 0; id < numBlocks; id++) this.records[id * BLOCK_RECORD_SIZE + HASH_HI] = HIGH_NONE;
    this.cachedByHash = new BlockHashIndex(this.records, numBlocks);
    let size = 2;
    while (size < numBlocks * 2) size *= 2;
    this.ring = new Int32Array(size);
    this.ringMask = size - 1;
    for (let id = 0; id < numBlocks; id++) this.pushFree(id);
  }

  get numFreeBlocks(): number {
    return this.freeCount;
  }

  stats(): KvCacheStats {
    return {
      numBlocks: this.numBlocks,
      numFreeBlocks: this.freeCount,
      numCachedBlocks: this.cachedByHash.size,
      usage: this.numBlocks === 0 ? 0 : 1 - this.freeCount / this.numBlocks,
    };
  }

  /** The block caching `hash` (in use or free), or -1. */
  lookup(hash: number): number {
    return this.cachedByHash.get(hash | 0, highBits(hash));
  }

  /** Requests holding block `id` (0: it is free, in the queue). */
  refCount(id: number): number {
    return this.records[id * BLOCK_RECORD_SIZE + REF_COUNT]!;
  }

  /** Takes a reference on cached blocks found by `lookup` (taking free ones out of the queue). */
  touch(ids: readonly number[]): void {
    const { records } = this;
    for (let i = 0; i < ids.length; i++) {
      const at = ids[i]! * BLOCK_RECORD_SIZE + REF_COUNT;
      const held = records[at]!;
      if (held === 0) this.freeCount--; // its ring entry goes stale
      records[at] = held + 1;
    }
  }

  /** Allocates `n` fresh blocks from the LRU end, evicting their cached content; null if short. */
  allocate(n: number): number[] | null {
    if (n > this.freeCount) return null;
    const out: number[] = [];
    this.allocateInto(n, out);
    return out;
  }

  /** allocate(), appending the blocks to `out`; false (nothing allocated) if short. */
  allocateInto(n: number, out: number[]): boolean {
    if (n > this.freeCount) return false;
    const { records, ring, ringMask, cachedByHash: index } = this;
    let head = this.head;
    let used = this.ringUsed;
    for (let i = 0; i < n; i++) {
      let id: number;
      let rec: number;
      for (;;) {
        const pos = head;
        id = ring[pos]!;
        head = (pos + 1) & ringMask;
        // freeCount live entries remain, so running out means a corrupt queue, not a long wait.
        if (--used < 0) throw new Error("block pool free queue lost its free blocks");
        rec = id * BLOCK_RECORD_SIZE;
        if (isQueuedAt(records, rec, pos)) break;
      }
      records[rec + REF_COUNT] = 1;
      if (records[rec + HASH_HI] !== HIGH_NONE) {
        // Only the block the index points at was announced (see `cache`), so only its eviction is.
        if (index.forget(id) && this.events) {
          const hash = records[rec + HASH_HI]! * TWO_32 + (records[rec + HASH_LO]! >>> 0);
          this.events.push({ type: "BlockRemoved", blockHashes: [hash], medium: "GPU" });
        }
        records[rec + HASH_HI] = HIGH_NONE;
      }
      out.push(id);
    }
    this.head = head;
    this.ringUsed = used;
    this.freeCount -= n;
    return true;
  }

  /** Drops one reference on each block, last block first (vLLM frees in reverse order). */
  free(ids: readonly number[]): void {
    const { records } = this;
    for (let i = ids.length - 1; i >= 0; i--) {
      const id = ids[i]!;
      const at = id * BLOCK_RECORD_SIZE + REF_COUNT;
      const held = records[at]! - 1;
      // A block freed more often than taken would enter the queue twice (a corrupt pool).
      if (held < 0) throw new Error(`block ${id} freed more often than it was taken`);
      records[at] = held;
      if (held === 0) this.pushFree(id);
    }
  }

  /**
   * Registers a now-full block under `hash` so later requests can reuse it. True when the hash
   * became findable through this block: false when the block was already registered or another
   * block already caches the same content (two requests computed it at once; the first stays the
   * one lookups find). Only true blocks are announced with `BlockStored`.
   */
  cache(id: number, hash: number): boolean {
    const rec = id * BLOCK_RECORD_SIZE;
    if (this.records[rec + HASH_HI] !== HIGH_NONE) return false;
    const lo = hash | 0;
    const hi = highBits(hash);
    this.records[rec + HASH_LO] = lo;
    this.records[rec + HASH_HI] = hi;
    return this.cachedByHash.setIfAbsent(lo, hi, id);
  }

  /**
   * Reads the records of `ids[from, to)` and the index slots of `hashes[from, to)` ahead of
   * registering them with `cache` (same answers without it): in one tight loop the cache misses
   * overlap, where interleaved with the hashing and the registrations each is waited for.
   */
  warm(ids: readonly number[], hashes: Float64Array, from: number, to: number): void {
    const { records } = this;
    let sink = 0;
    for (let k = from; k < to; k++) sink ^= records[ids[k]! * BLOCK_RECORD_SIZE]!;
    this.sink ^= sink ^ this.cachedByHash.warmKeys(hashes, from, to);
  }

  /**
   * Reads the records of the next `n` blocks allocation will take (the free queue's next n
   * entries) without taking anything: ahead of a run of small allocations (a block each for many
   * requests), so their cache misses overlap.
   */
  warmNext(n: number): void {
    const { records, ring, ringMask } = this;
    let sink = 0;
    let pos = this.head;
    for (let k = 0, found = 0; k < this.ringUsed && found < n; k++) {
      const rec = ring[pos]! * BLOCK_RECORD_SIZE;
      if (isQueuedAt(records, rec, pos)) {
        sink ^= records[rec + HASH_LO]!;
        found++;
      }
      pos = (pos + 1) & ringMask;
    }
    this.sink ^= sink;
  }

  /** Drops every cached hash (vLLM's reset_prefix_cache); blocks in use keep their contents. */
  resetPrefixCache(): void {
    const { records } = this;
    for (let at = HASH_HI; at < records.length; at += BLOCK_RECORD_SIZE) records[at] = HIGH_NONE;
    this.cachedByHash.clear();
    this.events?.push({ type: "AllBlocksCleared" });
  }

  /** Appends `id` at the queue's tail. */
  private pushFree(id: number): void {
    if (this.ringUsed === this.ring.length) this.compact();
    const pos = (this.head + this.ringUsed) & this.ringMask;
    this.ring[pos] = id;
    this.records[id * BLOCK_RECORD_SIZE + RING_POS] = pos;
    this.ringUsed++;
    this.freeCount++;
  }

  /**
   * Drops the stale entries of a full ring, keeping the live ones in order from the head (the
   * ring holds at most numBlocks live entries, so at least half its slots come free).
   */
  private compact(): void {
    const { records, ring, ringMask, head } = this;
    let kept = 0;
    for (let k = 0; k < this.ringUsed; k++) {
      const pos = (head + k) & ringMask;
      const id = ring[pos]!;
      const rec = id * BLOCK_RECORD_SIZE;
      if (!isQueuedAt(records, rec, pos)) continue;
      const to = (head + kept) & ringMask;
      ring[to] = id;
      records[rec + RING_POS] = to;
      kept++;
    }
    this.ringUsed = kept;
  }
}
