import { describe, expect, it } from "vitest";
import { TimerHeap, VirtualTimers } from "./timers";

describe("VirtualTimers", () => {
  it("fires events in time order, equal times in scheduling order", () => {
    const t = new VirtualTimers();
    const seen: string[] = [];
    t.at(30, () => seen.push("c"));
    t.at(10, () => seen.push("a1"));
    t.at(10, () => seen.push("a2"));
    t.at(20, () => seen.push("b"));
    expect(t.runAll()).toBe(4);
    expect(seen).toEqual(["a1", "a2", "b", "c"]);
    expect(t.nowUs()).toBe(30);
  });

  it("runUntil stops at the bound and advances the clock to it", () => {
    const t = new VirtualTimers();
    const seen: number[] = [];
    for (const at of [5, 15, 25]) t.at(at, () => seen.push(t.nowUs()));
    expect(t.runUntil(20)).toBe(2);
    expect(seen).toEqual([5, 15]);
    expect(t.nowUs()).toBe(20);
  });

  it("cancelled events never fire; events scheduled in the past fire now", () => {
    const t = new VirtualTimers();
    let fired = 0;
    const h = t.at(10, () => fired++);
    t.cancel(h);
    t.runUntil(100);
    expect(fired).toBe(0);
    t.at(50, () => expect(t.nowUs()).toBe(100));
    expect(t.runAll()).toBe(1);
  });

  it("cancelling a timer that already fired, or twice -> pendingCount stays exact", () => {
    const t = new VirtualTimers();
    const fired = t.at(10, () => {});
    const twice = t.at(20, () => {});
    t.at(30, () => {});
    t.runUntil(10);
    t.cancel(fired);
    t.cancel(twice);
    t.cancel(twice);
    expect(t.pendingCount).toBe(1);
    expect(t.runAll()).toBe(1);
    expect(t.pendingCount).toBe(0);
  });

  it("callbacks can schedule further events (a self-rescheduling loop)", () => {
    const t = new VirtualTimers();
    let ticks = 0;
    const tick = () => {
      ticks++;
      if (ticks < 1000) t.at(t.nowUs() + 7, tick);
    };
    t.at(0, tick);
    t.runAll();
    expect(ticks).toBe(1000);
    expect(t.nowUs()).toBe(999 * 7);
  });
});

describe("TimerHeap", () => {
  it("pops in (time, seq) order whatever the push order", () => {
    const heap = new TimerHeap();
    const times = [50, 10, 30, 10, 40, 0, 30];
    times.forEach((tUs, seq) => heap.push({ tUs, seq, id: seq, cb: () => {} }));
    const out: [number, number][] = [];
    while (heap.size > 0) {
      const e = heap.pop();
      out.push([e.tUs, e.seq]);
    }
    expect(out).toEqual([
      [0, 5],
      [10, 1],
      [10, 3],
      [30, 2],
      [30, 6],
      [40, 4],
      [50, 0],
    ]);
  });
});
