import { describe, expect, it } from "vitest";
import { SlotMap } from "./slot-map";

describe("SlotMap", () => {
  it("get/set/has/delete/size -> as a Map", () => {
    const m = new SlotMap<string, { n: number }>();
    const a = { n: 1 };
    expect(m.set("a", a)).toBe(m);
    m.set("b", { n: 2 });
    expect(m.size).toBe(2);
    expect(m.get("a")).toBe(a);
    expect(m.has("b")).toBe(true);
    expect(m.delete("b")).toBe(true);
    expect(m.delete("b")).toBe(false);
    expect(m.has("b")).toBe(false);
    expect(m.get("b")).toBeUndefined();
    expect(m.size).toBe(1);
  });

  it("iterates in insertion order; re-setting a key keeps its place; a deleted then re-added key goes last", () => {
    const m = new SlotMap<string, number>();
    const ref = new Map<string, number>();
    const ops: [string, string, number][] = [
      ["set", "a", 1],
      ["set", "b", 2],
      ["set", "c", 3],
      ["set", "a", 10],
      ["delete", "b", 0],
      ["set", "d", 4],
      ["set", "b", 20],
      ["delete", "c", 0],
      ["set", "e", 5],
    ];
    for (const [op, k, v] of ops) {
      if (op === "set") {
        m.set(k, v);
        ref.set(k, v);
      } else {
        m.delete(k);
        ref.delete(k);
      }
      expect([...m]).toEqual([...ref]);
    }
    expect([...m.keys()]).toEqual([...ref.keys()]);
    expect([...m.values()]).toEqual([...ref.values()]);
    expect([...m.entries()]).toEqual([...ref.entries()]);
    const seen: [string, number][] = [];
    m.forEach((v, k, map) => {
      expect(map).toBe(m);
      seen.push([k, v]);
    });
    expect(seen).toEqual([...ref]);
  });

  it("iterating while deleting and adding -> what a Map's iterator sees", () => {
    const m = new SlotMap<number, string>();
    const ref = new Map<number, string>();
    for (let i = 0; i < 6; i++) {
      m.set(i, `v${i}`);
      ref.set(i, `v${i}`);
    }
    const walk = (map: Map<number, string> | SlotMap<number, string>) => {
      const seen: string[] = [];
      for (const [k, v] of map) {
        seen.push(v);
        if (k === 1) map.delete(3); // not reached
        if (k === 2) map.set(100, "new"); // reached at the end, in the freed slot
      }
      return seen;
    };
    expect(walk(m)).toEqual(walk(ref));
  });

  it("emptied, inside an iteration or not -> keeps behaving as a Map", () => {
    const m = new SlotMap<string, number>();
    const ref = new Map<string, number>();
    const both = (f: (map: Map<string, number> | SlotMap<string, number>) => unknown) => {
      const a = f(m);
      expect(a).toEqual(f(ref));
      expect([...m]).toEqual([...ref]);
    };
    both((map) => void map.set("a", 1));
    both((map) => map.delete("a"));
    both((map) => map.set("b", 2).set("c", 3).get("b"));
    // Emptied while iterating, then refilled: the iteration goes on to the new entries.
    both((map) => {
      const seen: string[] = [];
      for (const [k] of map) {
        seen.push(k);
        if (k === "b") map.delete("b");
        if (k === "c") {
          map.delete("c");
          map.set("d", 4);
        }
      }
      return seen;
    });
    expect(m.firstKey()).toBe("d");
    both((map) => map.delete("d"));
    expect(m.firstKey()).toBeUndefined();
    both((map) => map.set("e", 5).has("e"));
  });

  it("clear -> empty, and usable again", () => {
    const m = new SlotMap<string, number>();
    m.set("a", 1).set("b", 2);
    m.clear();
    expect(m.size).toBe(0);
    expect([...m]).toEqual([]);
    m.set("c", 3);
    expect([...m]).toEqual([["c", 3]]);
  });
});
