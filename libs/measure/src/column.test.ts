import { describe, expect, it } from "vitest";
import { Column } from "./column";

describe("Column", () => {
  it("20,000 values across chunks -> the same values back, in order, NaN and -0 kept", () => {
    const col = new Column();
    const values = Array.from({ length: 20_000 }, (_, i) =>
      i % 97 === 0 ? NaN : i % 89 === 0 ? -0 : i / 7 - 300,
    );
    for (const v of values) col.push(v);
    expect(col.length).toBe(values.length);
    expect(col.toArray()).toEqual(values);
    for (const i of [0, 2047, 2048, 8191, 8192, 19_999]) expect(Object.is(col.get(i), values[i])).toBe(true);
    expect(col.map((v, i) => (Number.isNaN(v) ? i : -1)).filter((i) => i >= 0)).toEqual(
      values.flatMap((v, i) => (Number.isNaN(v) ? [i] : [])),
    );
  });

  it("set -> replaces one value in any chunk, the others kept", () => {
    const col = new Column();
    for (let i = 0; i < 5000; i++) col.push(i);
    col.set(0, -1);
    col.set(2048, -2);
    col.set(4999, -3);
    const want = Array.from({ length: 5000 }, (_, i) => i);
    want[0] = -1;
    want[2048] = -2;
    want[4999] = -3;
    expect(col.toArray()).toEqual(want);
  });

  it("empty -> length 0, empty arrays", () => {
    const col = new Column();
    expect(col.length).toBe(0);
    expect(col.toArray()).toEqual([]);
  });
});
