import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BLOCK_RECORD_SIZE,
  BlockHashIndex,
  BlockPool,
  HASH_HI,
  HASH_LO,
  hashBlock,
  NO_HASH,
} from "./kv-cache";
import { KvEventQueue, type KvEvent } from "./kv-events";

const at = (arr: number[]) => (i: number) => arr[i]!;

describe("hashBlock", () => {
  const a = Array.from({ length: 32 }, (_, i) => i);
  it("same parent and tokens -> same hash; different tokens or parent -> different hash", () => {
    const h0 = hashBlock(NO_HASH, at(a), 0, 16);
    expect(hashBlock(NO_HASH, at([...a]), 0, 16)).toBe(h0);
    const b = [...a];
    b[5] = 999;
    expect(hashBlock(NO_HASH, at(b), 0, 16)).not.toBe(h0);
    const h1 = hashBlock(h0, at(a), 16, 16);
    expect(hashBlock(h0 + 1, at(a), 16, 16)).not.toBe(h1);
    expect(hashBlock(NO_HASH, at(a), 16, 16)).not.toBe(h1);
  });
  it("output -> a safe integer, never NO_HASH", () => {
    for (let s = 0; s < 200; s++) {
      const h = hashBlock(s === 0 ? NO_HASH : s * 1e9, at(a.map((x) => x * s)), 0, 16);
      expect(Number.isSafeInteger(h)).toBe(true);
      expect(h).toBeGreaterThanOrEqual(0);
    }
  });
});

describe("BlockPool", () => {
  it("allocate beyond free -> null, nothing taken", () => {
    const pool = new BlockPool(4);
    expect(pool.allocate(5)).toBeNull();
    expect(pool.numFreeBlocks).toBe(4);
    expect(pool.allocate(4)).toHaveLength(4);
    expect(pool.stats().usage).toBe(1);
  });

  it("a block freed twice -> throws, the free count kept", () => {
    const pool = new BlockPool(2);
    const ids = pool.allocate(1)!;
    pool.free(ids);
    expect(() => pool.free(ids)).toThrow(/freed more often than it was taken/);
    expect(pool.numFreeBlocks).toBe(2);
  });

  it("freed cached blocks -> still findable until reallocated, evicted in LRU order (tail of a prefix first)", () => {
    const pool = new BlockPool(4);
    const blocks = pool.allocate(3)!;
    blocks.forEach((b, i) => pool.cache(b, 100 + i));
    pool.free(blocks); // frees in reverse: block 2, 1, 0 join the queue tail in that order
    expect(pool.lookup(100)).toBe(blocks[0]);
    expect(pool.stats()).toMatchObject({ numFreeBlocks: 4, numCachedBlocks: 3 });
    // The never-used block goes first, then the prefix's last block (hash 102).
    pool.allocate(2);
    expect(pool.lookup(102)).toBe(-1);
    expect(pool.lookup(101)).toBe(blocks[1]);
    expect(pool.lookup(100)).toBe(blocks[0]);
  });

  it("touch on a free cached block -> leaves the free queue and survives allocation pressure", () => {
    const pool = new BlockPool(2);
    const [b] = pool.allocate(1)!;
    pool.cache(b!, 7);
    pool.free([b!]);
    pool.touch([pool.lookup(7)]);
    expect(pool.numFreeBlocks).toBe(1);
    pool.allocate(1);
    expect(pool.lookup(7)).toBe(b);
    expect(pool.allocate(1)).toBeNull();
  });

  it("resetPrefixCache -> nothing findable", () => {
    const pool = new BlockPool(2);
    const [b] = pool.allocate(1)!;
    pool.cache(b!, 7);
    pool.resetPrefixCache();
    expect(pool.lookup(7)).toBe(-1);
  });
});

/**
 * The block pool's behaviour written the obvious way: a Map for the prefix index, an array for
 * the LRU free queue (a freed block appended, a taken one spliced out), the events in a list.
 */
class ReferencePool {
  private readonly index = new Map<number, number>();
  private readonly hashes: number[];
  private readonly refCounts: number[];
  private readonly lru: number[] = [];
  readonly events: KvEvent[] = [];

  constructor(readonly numBlocks: number) {
    this.hashes = Array<number>(numBlocks).fill(NO_HASH);
    this.refCounts = Array<number>(numBlocks).fill(0);
    for (let id = 0; id < numBlocks; id++) this.lru.push(id);
  }

  stats() {
    const free = this.lru.length;
    return {
      numBlocks: this.numBlocks,
      numFreeBlocks: free,
      numCachedBlocks: this.index.size,
      usage: this.numBlocks === 0 ? 0 : 1 - free / this.numBlocks,
    };
  }

  lookup(hash: number): number {
    return this.index.get(hash) ?? -1;
  }

  refCount(id: number): number {
    return this.refCounts[id]!;
  }

  touch(ids: number[]): void {
    for (const id of ids) {
      if (this.refCounts[id] === 0) this.lru.splice(this.lru.indexOf(id), 1);
      this.refCounts[id]!++;
    }
  }

  allocate(n: number): number[] | null {
    if (n > this.lru.length) return null;
    const out = this.lru.splice(0, n);
    for (const id of out) {
      const hash = this.hashes[id]!;
      if (hash !== NO_HASH && this.index.get(hash) === id) {
        this.index.delete(hash);
        this.events.push({ type: "BlockRemoved", blockHashes: [hash], medium: "GPU" });
      }
      this.hashes[id] = NO_HASH;
      this.refCounts[id] = 1;
    }
    return out;
  }

  free(ids: number[]): void {
    for (const id of [...ids].reverse()) {
      if (this.refCounts[id] === 0) throw new Error(`block ${id} freed more often than it was taken`);
      if (--this.refCounts[id]! === 0) this.lru.push(id);
    }
  }

  cache(id: number, hash: number): boolean {
    if (this.hashes[id] !== NO_HASH) return false;
    this.hashes[id] = hash;
    if (this.index.has(hash)) return false;
    this.index.set(hash, id);
    return true;
  }

  resetPrefixCache(): void {
    this.hashes.fill(NO_HASH);
    this.index.clear();
    this.events.push({ type: "AllBlocksCleared" });
  }
}

describe("BlockPool against a reference model", () => {
  // Hashes from a small set (so blocks share content and lookups hit), over the 53-bit range,
  // some sharing their low 32 bits.
  const hashAt = (k: number) => (k % 3 === 0 ? 2 ** 52 : 0) + (k % 5) * 2 ** 32 + ((k * 0x9e3779b1) >>> 0);
  // Unbiased: fast-check otherwise favours 0, i.e. mostly empty allocations.
  const op = fc.noBias(fc.tuple(fc.nat(99), fc.nat(1_000_000), fc.nat(1_000_000)));

  it("random allocate/free/touch/cache/lookup/reset -> the same results, stats and events", () => {
    // allocShare: how often allocation runs (out of 25; the rest of those are lookups freed at
    // once, which leave stale queue entries behind, so rarely allocating pools fill their ring).
    const allocShare = fc.integer({ min: 2, max: 25 });
    const ops = fc.array(op, { minLength: 100, maxLength: 400 });
    // span: how many distinct hashes (few: lookups mostly hit; many: blocks rarely share content).
    const span = fc.integer({ min: 1, max: 40 });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 24 }),
        allocShare,
        span,
        ops,
        (numBlocks, allocShare, span, ops) => {
          const queue = new KvEventQueue();
          const pool = new BlockPool(numBlocks, queue);
          const ref = new ReferencePool(numBlocks);
          /** Block lists held, like requests': each entry took one reference on each of its blocks. */
          const held: number[][] = [];
          const events: KvEvent[] = [];
          for (const [kind, a, b] of ops) {
            if (kind < allocShare) {
              const n = a % (Math.ceil(numBlocks / 3) + 2);
              if (b % 2 === 0) pool.warmNext(n + (b % 3)); // reads only, even asked too much
              const got = pool.allocate(n);
              expect(got).toEqual(ref.allocate(n));
              if (got) held.push(got);
            } else if (kind >= 25 && kind < 50) {
              if (held.length === 0) continue;
              const [ids] = held.splice(a % held.length, 1);
              pool.free(ids!);
              ref.free(ids!);
            } else if (kind < 65) {
              // A prefix lookup: the run of hashes found, taken (free ones leave the queue); below
              // 25, freed at once.
              const ids: number[] = [];
              for (let k = 0; k < 1 + (b % 8); k++) {
                const hash = hashAt((a + k) % span);
                const id = pool.lookup(hash);
                expect(id).toBe(ref.lookup(hash));
                if (id < 0) break;
                ids.push(id);
              }
              pool.touch(ids);
              ref.touch(ids);
              if (kind < 25) {
                // Short requests on the same prefix, one after another: each leaves a stale entry
                // per block that was free.
                pool.free(ids);
                ref.free(ids);
                for (let again = 0; again < a % 4; again++) {
                  pool.touch(ids);
                  ref.touch(ids);
                  pool.free(ids);
                  ref.free(ids);
                }
              } else if (ids.length > 0) held.push(ids);
            } else if (kind < 90) {
              if (held.length === 0) continue;
              // A request registering its blocks: consecutive hashes from a random start.
              const ids = held[a % held.length]!;
              const hashes = Float64Array.from(ids, (_, k) => hashAt((b + k) % span));
              pool.warm(ids, hashes, 0, ids.length); // reads only
              for (let k = 0; k < ids.length; k++) {
                const hash = hashes[k]!;
                expect(pool.cache(ids[k]!, hash)).toBe(ref.cache(ids[k]!, hash));
              }
            } else if (kind < 95) {
              expect(pool.lookup(hashAt(a % span))).toBe(ref.lookup(hashAt(a % span)));
            } else if (kind < 97) {
              if (b % 8 !== 0) continue; // rare: it empties the cache
              pool.resetPrefixCache();
              ref.resetPrefixCache();
            } else {
              // A free block freed again: both throw, having freed nothing.
              const id = a % numBlocks;
              if (ref.refCount(id) !== 0) continue;
              expect(() => pool.free([id])).toThrow(/freed more often/);
              expect(() => ref.free([id])).toThrow(/freed more often/);
            }
            events.push(...queue.take());
            expect(pool.stats()).toEqual(ref.stats());
            expect(events).toEqual(ref.events);
          }
          for (let id = 0; id < numBlocks; id++) expect(pool.refCount(id)).toBe(ref.refCount(id));
          // The queue's order: allocating every free block takes them in the same order.
          expect(pool.allocate(pool.numFreeBlocks)).toEqual(ref.allocate(ref.stats().numFreeBlocks));
          expect([...events, ...queue.take()]).toEqual(ref.events);
        },
      ),
      // No shrinking: a counterexample of hundreds of steps shrinks for minutes.
      { seed: 20261207, numRuns: 300, endOnFailure: true },
    );
  });
});

/**
 * A BlockHashIndex over its own block records, taking whole keys: `put` writes the key into the
 * id's record first and `drop` forgets it, as the pool does when it registers and evicts a block.
 */
function indexWithRecords(capacity: number, ids: number) {
  const records = new Int32Array(ids * BLOCK_RECORD_SIZE).fill(-1);
  const index = new BlockHashIndex(records, capacity);
  const hi = (key: number) => Math.floor(key / 2 ** 32);
  return {
    index,
    get: (key: number) => index.get(key | 0, hi(key)),
    setIfAbsent: (key: number, id: number) => {
      records[id * BLOCK_RECORD_SIZE + HASH_LO] = key | 0;
      records[id * BLOCK_RECORD_SIZE + HASH_HI] = hi(key);
      return index.setIfAbsent(key | 0, hi(key), id);
    },
    drop: (id: number) => {
      const forgot = index.forget(id);
      records[id * BLOCK_RECORD_SIZE + HASH_HI] = -1;
      return forgot;
    },
    clear: () => {
      for (let id = 0; id < ids; id++) records[id * BLOCK_RECORD_SIZE + HASH_HI] = -1;
      index.clear();
    },
  };
}

describe("BlockHashIndex", () => {
  it("random set/forget/get/clear, small table that grows and rebuilds -> same answers as a Map", () => {
    const { index, get, setIfAbsent, drop, clear } = indexWithRecords(4, 64);
    const model = new Map<number, number>();
    /** The key each block's record holds (registered, whether or not it became the entry). */
    const keyOfId = new Map<number, number>();
    let x = 12345;
    const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
    // Keys from a small pool (so sets collide with live keys and lookups hit), spread over 53
    // bits; some share their low 32 bits, so the full key decides.
    const keyAt = (k: number) => (k * 0x1234567 + 1) * 0x10001 + (k % 7 === 0 ? 2 ** 52 : 0);
    const twin = (k: number) => keyAt(k) + (k % 3 === 0 ? 2 ** 40 : 0);
    for (let step = 0; step < 40_000; step++) {
      const k = next() % 300;
      const key = next() % 2 === 0 ? keyAt(k) : twin(k);
      const id = next() % 64;
      const op = next() % 10;
      if (op < 5) {
        // The pool's invariant: only a block holding no key registers one.
        if (keyOfId.has(id)) continue;
        keyOfId.set(id, key);
        const stores = !model.has(key);
        if (stores) model.set(key, id);
        expect(setIfAbsent(key, id)).toBe(stores);
      } else if (op < 9) {
        // Eviction: the block drops its key; the index forgets it if it was the key's entry.
        const held = keyOfId.get(id);
        const isEntry = held !== undefined && model.get(held) === id;
        if (isEntry) model.delete(held);
        keyOfId.delete(id);
        expect(drop(id)).toBe(isEntry);
      } else if (step % 5000 === 0) {
        model.clear();
        keyOfId.clear();
        clear();
      }
      expect(get(key)).toBe(model.get(key) ?? -1);
      expect(index.size).toBe(model.size);
    }
    for (let k = 0; k < 300; k++) {
      expect(get(keyAt(k))).toBe(model.get(keyAt(k)) ?? -1);
      expect(get(twin(k))).toBe(model.get(twin(k)) ?? -1);
    }
  });

  it("keys with one home slot, forgotten from the middle of their run -> the rest stay findable", () => {
    // Same low 32 bits (same home slot), different high bits: one probe run.
    const { index, get, setIfAbsent, drop } = indexWithRecords(8, 8);
    const keys = [1, 2, 3, 4, 5, 6].map((h) => h * 2 ** 32 + 7);
    keys.forEach((key, id) => expect(setIfAbsent(key, id)).toBe(true));
    expect(drop(1)).toBe(true);
    expect(drop(3)).toBe(true);
    expect(drop(7)).toBe(false); // holds no key
    expect(keys.map((key) => get(key))).toEqual([0, -1, 2, -1, 4, 5]);
    expect(index.size).toBe(4);
    // A forgotten key registered again by another block: found through it, past the stale slot.
    expect(setIfAbsent(keys[1]!, 6)).toBe(true);
    expect(get(keys[1]!)).toBe(6);
  });
});
