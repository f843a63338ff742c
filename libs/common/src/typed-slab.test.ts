import { describe, expect, it } from "vitest";
import { TypedArraySlab } from "./typed-slab";

describe("TypedArraySlab", () => {
  it("arrays of mixed kinds -> the asked lengths, zero-filled, 8-byte aligned, never overlapping", () => {
    const slab = new TypedArraySlab(256);
    const arrays: (Int32Array | Float64Array)[] = [];
    for (let i = 0; i < 40; i++) {
      const a = i % 3 === 0 ? slab.float64(i % 5) : slab.int32(i % 7);
      expect(a.length).toBe(i % 3 === 0 ? i % 5 : i % 7);
      expect([...a].every((x) => x === 0)).toBe(true);
      expect(a.byteOffset % 8).toBe(0);
      a.fill(i + 1);
      arrays.push(a);
    }
    // Each array still holds what was written into it: no later one was cut over it.
    arrays.forEach((a, i) => expect([...a].every((x) => x === i + 1)).toBe(true));
  });

  it("an array of more than an eighth of a slab -> a buffer of its own", () => {
    const slab = new TypedArraySlab(256);
    const shared = slab.int32(8); // 32 bytes: an eighth
    const own = slab.int32(9);
    expect(shared.buffer.byteLength).toBe(256);
    expect(own.buffer.byteLength).toBe(36);
    expect(slab.float64(5).buffer.byteLength).toBe(40);
  });

  it("a full slab -> the next array starts a fresh one", () => {
    const slab = new TypedArraySlab(64);
    const first = Array.from({ length: 8 }, () => slab.int32(2)); // 8 bytes each: full
    const next = slab.int32(2);
    expect(new Set(first.map((x) => x.buffer)).size).toBe(1);
    expect(next.buffer).not.toBe(first[0]!.buffer);
    expect(next.byteOffset).toBe(0);
    expect([...next]).toEqual([0, 0]);
  });

  it("bad length -> RangeError, and the arrays cut after it do not overlap the earlier ones", () => {
    const slab = new TypedArraySlab(256);
    const first = slab.int32(4).fill(7);
    expect(() => slab.int32(-4)).toThrow(/non-negative integer/);
    expect(() => slab.float64(1.5)).toThrow(/non-negative integer/);
    slab.int32(4).fill(9);
    expect([...first]).toEqual([7, 7, 7, 7]);
  });

  it("bad slab size -> RangeError", () => {
    expect(() => new TypedArraySlab(100)).toThrow(/multiple of 8/);
    expect(() => new TypedArraySlab(32)).toThrow(/at least 64/);
  });
});
