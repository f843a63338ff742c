import { describe, expect, it } from "vitest";
import { RequestQueue, type PriorityClass } from "./request-queue";

function drain<T>(q: RequestQueue<T>): T[] {
  const out: T[] = [];
  for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x);
  return out;
}

describe("RequestQueue", () => {
  it.each<[string, [string, PriorityClass][], string[]]>([
    [
      "one class",
      [
        ["a", "normal"],
        ["b", "normal"],
        ["c", "normal"],
      ],
      ["a", "b", "c"],
    ],
    [
      "high overtakes earlier normal and low",
      [
        ["a", "low"],
        ["b", "normal"],
        ["c", "high"],
      ],
      ["c", "b", "a"],
    ],
    [
      "FCFS within each class",
      [
        ["l1", "low"],
        ["h1", "high"],
        ["l2", "low"],
        ["h2", "high"],
      ],
      ["h1", "h2", "l1", "l2"],
    ],
  ])("mixed priorities (%s) -> served by class, then arrival", (_name, pushes, expected) => {
    const q = new RequestQueue<string>(10);
    for (const [id, p] of pushes) expect(q.push(id, p, id)).toBe(true);
    expect(q.peek()).toBe(expected[0]);
    expect(drain(q)).toEqual(expected);
    expect(q.length).toBe(0);
  });

  it("full queue -> push refused and nothing changes", () => {
    const q = new RequestQueue<string>(2);
    q.push("a", "low", "a");
    q.push("b", "low", "b");
    expect(q.isFull).toBe(true);
    expect(q.push("c", "high", "c")).toBe(false);
    expect(q.length).toBe(2);
    expect(q.has("c")).toBe(false);
  });

  it("duplicate id -> push refused", () => {
    const q = new RequestQueue<string>(5);
    expect(q.push("a", "normal", "first")).toBe(true);
    expect(q.push("a", "high", "second")).toBe(false);
    expect(drain(q)).toEqual(["first"]);
  });

  it("remove from the middle -> others keep their order; unknown id -> undefined", () => {
    const q = new RequestQueue<string>(5);
    for (const id of ["a", "b", "c"]) q.push(id, "normal", id);
    expect(q.remove("b")).toBe("b");
    expect(q.remove("zzz")).toBeUndefined();
    expect([...q.values()]).toEqual(["a", "c"]);
  });

  it("max length 0 -> every push refused", () => {
    expect(new RequestQueue<string>(0).push("a", "high", "a")).toBe(false);
  });
});
