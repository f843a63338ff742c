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
 * Block hash -> block id, an open-addressing table on typed arrays in place of a
 * `Map<number, number>`: block hashes are 53-bit numbers, which a Map stores as boxed heap
 * numbers (an allocation per insert) in a table the garbage collector scans. Only exact-key
 * get / set / delete are needed (never iteration), so replacing the Map changes no behaviour.
 *
 * Built for the pool's pattern (a few million inserts and evictions an hour per engine, each at a
 * random slot, so each a cache miss unless the table is small):
 * - a slot is 8 bytes, the key's low 32 bits and the block id + 1, side by side; the full key
 *   is kept per block id (`keys`) and read only when the low bits match;
 * - linear probing with backward-shift deletion: no tombstones, so no rebuilds, and a table
 *   sized for the pool (at most half full) never grows.
 *
 * A block id is stored under at most one key at a time (a block caches one hash), which is what
 * lets `keys` be indexed by id. Keys are non-negative integers below 2^53 (hashBlock's range).
 */
export class BlockHashIndex {
  /** slot i: the key's low 32 bits at 2i, block id + 1 at 2i + 1 (0 = empty). */
  private slots: Int32Array;
  /** keys[id]: the key block `id` is stored under (meaningful while it is). */
  private keys: Float64Array;
  private mask: number;
  /** 32 - log2(capacity): a key's home slot is the top bits of its multiplicative hash. */
  private shift: number;
  private count = 0;

  /** @param capacity how many entries the table holds without growing (the pool: its block count). */
  constructor(capacity = 1024) {
    let cap = 16;
    while (cap < capacity * 2) cap *= 2;
    this.slots = new Int32Array(cap * 2);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    this.keys = new Float64Array(Math.max(16, capacity));
  }

  get size(): number {
    return this.count;
  }

  /** The slot a key with these low bits starts probing at (Fibonacci hashing). */
  private home(lo: number): number {
    return Math.imul(lo, 0x9e3779b1) >>> this.shift;
  }

  /** The block id stored under `key`, or -1. */
  get(key: number): number {
    const { slots, mask } = this;
    const lo = key | 0;
    for (let i = this.home(lo); ; i = (i + 1) & mask) {
      const v = slots[2 * i + 1]!;
      if (v === 0) return -1;
      if (slots[2 * i] === lo && this.keys[v - 1] === key) return v - 1;
    }
  }

  /**
   * Stores `id` under `key` unless the key is present (then keeps the old id, like `has` + `set`).
   * True when it stored. `id` must not be stored under another key.
   */
  setIfAbsent(key: number, id: number): boolean {
    const { slots, mask } = this;
    const lo = key | 0;
    let i = this.home(lo);
    for (; ; i = (i + 1) & mask) {
      const v = slots[2 * i + 1]!;
      if (v === 0) break;
      if (slots[2 * i] === lo && this.keys[v - 1] === key) return false;
    }
    slots[2 * i] = lo;
    slots[2 * i + 1] = id + 1;
    if (id >= this.keys.length) this.growKeys(id);
    this.keys[id] = key;
    this.count++;
    if (this.count * 2 > mask + 1) this.grow();
    return true;
  }

  /**
   * Removes `key` if it maps to `id`; true when it did. `id`, if stored, must be stored under
   * `key` (a block is only ever stored under its own hash): then a slot holding `id` with the
   * key's low bits is the key's, and the full key is read only for a slot of another id.
   */
  deleteIf(key: number, id: number): boolean {
    const { slots, mask } = this;
    const lo = key | 0;
    let i = this.home(lo);
    for (; ; i = (i + 1) & mask) {
      const v = slots[2 * i + 1]!;
      if (v === 0) return false;
      if (slots[2 * i] !== lo) continue;
      if (v - 1 === id) break;
      if (this.keys[v - 1] === key) return false; // the key is another block's
    }
    // Backward shift: later entries of the probe run that may live at i move up, so every key
    // stays reachable from its home slot without tombstones.
    for (let j = i; ;) {
      j = (j + 1) & mask;
      const v = slots[2 * j + 1]!;
      if (v === 0) break;
      const k = this.home(slots[2 * j]!);
      if (i <= j ? i < k && k <= j : i < k || k <= j) continue;
      slots[2 * i] = slots[2 * j]!;
      slots[2 * i + 1] = v;
      i = j;
    }
    slots[2 * i] = 0;
    slots[2 * i + 1] = 0;
    this.count--;
    return true;
  }

  clear(): void {
    this.slots.fill(0);
    this.count = 0;
  }

  private growKeys(id: number): void {
    let n = this.keys.length;
    while (n <= id) n *= 2;
    const keys = new Float64Array(n);
    keys.set(this.keys);
    this.keys = keys;
  }

  /** Doubles the table (more entries than it was sized for) and re-inserts every entry. */
  private grow(): void {
    const old = this.slots;
    const cap = old.length;
    this.slots = new Int32Array(cap * 2);
    this.mask = cap - 1;
    this.shift = 32 - Math.log2(cap);
    const { slots, mask } = this;
    for (let j = 0; j < old.length; j += 2) {
      const v = old[j + 1]!;
      if (v === 0) continue;
      let i = this.home(old[j]!);
      while (slots[2 * i + 1] !== 0) i = (i + 1) & mask;
      slots[2 * i] = old[j]!;
      slots[2 * i + 1] = v;
    }
  }
}

/**
 * The pool's blocks are ids 0..numBlocks-1; what the pool knows of each lives in typed arrays by
 * id (how many requests hold it, its free-queue links, its cached content's hash). Block objects
 * with those fields were a cache miss each on every allocation, free and registration (tens of
 * thousands per engine, scattered on the heap), and a 53-bit hash field a boxed number per block.
 */
export class BlockPool {
  /** refCounts[id]: requests holding block id (0 = in the free queue). */
  private readonly refCounts: Int32Array;
  /**
   * The doubly linked free queue by block id: prevOf[id], nextOf[id], with two sentinels after
   * the blocks (HEAD = numBlocks, TAIL = numBlocks + 1); nextOf[HEAD] is the LRU block.
   */
  private readonly prevOf: Int32Array;
  private readonly nextOf: Int32Array;
  private readonly headId: number;
  private readonly tailId: number;
  private freeCount = 0;
  private readonly cachedByHash: BlockHashIndex;
  /** hashes[id]: block id's chained hash while it holds cached content, else NO_HASH. */
  private readonly hashes: Float64Array;

  /**
   * @param events where KV-cache events go (vLLM's `enable_kv_cache_events`); null = none, and
   *   the pool behaves exactly as without events.
   */
  constructor(
    readonly numBlocks: number,
    private readonly events: KvEventQueue | null = null,
  ) {
    this.cachedByHash = new BlockHashIndex(numBlocks);
    this.hashes = new Float64Array(numBlocks).fill(NO_HASH);
    this.refCounts = new Int32Array(numBlocks);
    this.prevOf = new Int32Array(numBlocks + 2).fill(-1);
    this.nextOf = new Int32Array(numBlocks + 2).fill(-1);
    this.headId = numBlocks;
    this.tailId = numBlocks + 1;
    this.nextOf[this.headId] = this.tailId;
    this.prevOf[this.tailId] = this.headId;
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
    return this.cachedByHash.get(hash);
  }

  /** Requests holding block `id` (0: it is free, in the queue). */
  refCount(id: number): number {
    return this.refCounts[id]!;
  }

  /** Takes a reference on cached blocks found by `lookup` (removing free ones from the queue). */
  touch(ids: readonly number[]): void {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const held = this.refCounts[id]!;
      if (held === 0) this.unlinkFree(id);
      this.refCounts[id] = held + 1;
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
    for (let i = 0; i < n; i++) {
      const id = this.nextOf[this.headId]!;
      this.unlinkFree(id);
      const hash = this.hashes[id]!;
      if (hash !== NO_HASH) {
        // Only the block the index points at was announced (see `cache`), so only its eviction is.
        if (this.cachedByHash.deleteIf(hash, id) && this.events)
          this.events.push({ type: "BlockRemoved", blockHashes: [hash], medium: "GPU" });
        this.hashes[id] = NO_HASH;
      }
      this.refCounts[id] = 1;
      out.push(id);
    }
    return true;
  }

  /** Drops one reference on each block, last block first (vLLM frees in reverse order). */
  free(ids: readonly number[]): void {
    for (let i = ids.length - 1; i >= 0; i--) {
      const id = ids[i]!;
      const held = this.refCounts[id]! - 1;
      // A block freed more often than taken would enter the queue twice (a corrupt pool).
      if (held < 0) throw new Error(`block ${id} freed more often than it was taken`);
      this.refCounts[id] = held;
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
    if (this.hashes[id] !== NO_HASH) return false;
    this.hashes[id] = hash;
    return this.cachedByHash.setIfAbsent(hash, id);
  }

  /** Drops every cached hash (vLLM's reset_prefix_cache); blocks in use keep their contents. */
  resetPrefixCache(): void {
    this.hashes.fill(NO_HASH);
    this.cachedByHash.clear();
    this.events?.push({ type: "AllBlocksCleared" });
  }

  private pushFree(id: number): void {
    const { prevOf, nextOf, tailId } = this;
    const last = prevOf[tailId]!;
    nextOf[last] = id;
    prevOf[id] = last;
    nextOf[id] = tailId;
    prevOf[tailId] = id;
    this.freeCount++;
  }

  private unlinkFree(id: number): void {
    const { prevOf, nextOf } = this;
    const prev = prevOf[id]!;
    const next = nextOf[id]!;
    nextOf[prev] = next;
    prevOf[next] = prev;
    prevOf[id] = -1;
    nextOf[id] = -1;
    this.freeCount--;
  }
}
