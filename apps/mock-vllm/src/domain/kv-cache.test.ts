import { describe, expect, it } from "vitest";
import { BlockHashIndex, BlockPool, hashBlock, NO_HASH } from "./kv-cache";

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

describe("BlockHashIndex", () => {
  it("random set/delete/get/clear, small table that grows -> same answers as a Map", () => {
    const index = new BlockHashIndex(4);
    const model = new Map<number, number>();
    const keyOfId = new Map<number, number>();
    let x = 12345;
    const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
    // Keys from a small pool (so sets collide with live keys and deletes hit), spread over 53 bits;
    // some share their low 32 bits, so the full key decides.
    const keyAt = (k: number) => (k * 0x1234567 + 1) * 0x10001 + (k % 7 === 0 ? 2 ** 52 : 0);
    const twin = (k: number) => keyAt(k) + (k % 3 === 0 ? 2 ** 40 : 0);
    for (let step = 0; step < 40_000; step++) {
      const k = next() % 300;
      const key = next() % 2 === 0 ? keyAt(k) : twin(k);
      const id = next() % 64;
      const op = next() % 10;
      if (op < 5) {
        // The pool's invariant: an id is stored under at most one key.
        if (!model.has(key) && keyOfId.has(id)) continue;
        const stores = !model.has(key);
        if (stores) {
          model.set(key, id);
          keyOfId.set(id, key);
        }
        expect(index.setIfAbsent(key, id)).toBe(stores);
      } else if (op < 9) {
        // deleteIf's contract: an id, if stored, is stored under the key given with it.
        if (keyOfId.has(id) && keyOfId.get(id) !== key) continue;
        const deletes = model.get(key) === id;
        if (deletes) {
          model.delete(key);
          keyOfId.delete(id);
        }
        expect(index.deleteIf(key, id)).toBe(deletes);
      } else if (step % 5000 === 0) {
        model.clear();
        keyOfId.clear();
        index.clear();
      }
      expect(index.get(key)).toBe(model.get(key) ?? -1);
      expect(index.size).toBe(model.size);
    }
    for (let k = 0; k < 300; k++) {
      expect(index.get(keyAt(k))).toBe(model.get(keyAt(k)) ?? -1);
      expect(index.get(twin(k))).toBe(model.get(twin(k)) ?? -1);
    }
  });

  it("keys with one home slot, deleted from the middle of their run -> the rest stay findable", () => {
    // Same low 32 bits (same home slot), different high bits: one probe run.
    const index = new BlockHashIndex(8);
    const keys = [1, 2, 3, 4, 5, 6].map((h) => h * 2 ** 32 + 7);
    keys.forEach((key, id) => expect(index.setIfAbsent(key, id)).toBe(true));
    expect(index.deleteIf(keys[1]!, 1)).toBe(true);
    expect(index.deleteIf(keys[3]!, 3)).toBe(true);
    expect(index.deleteIf(keys[4]!, 7)).toBe(false); // present, but under another id
    expect(keys.map((key) => index.get(key))).toEqual([0, -1, 2, -1, 4, 5]);
    expect(index.size).toBe(4);
  });
});
