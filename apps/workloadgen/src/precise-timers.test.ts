import { describe, expect, it } from "vitest";
import { PreciseTimers } from "./precise-timers";

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("PreciseTimers", () => {
  it("timers armed out of order -> run in deadline order, never before their deadline", async () => {
    const timers = new PreciseTimers();
    const fired: { name: string; lateUs: number }[] = [];
    const t0 = timers.nowUs();
    for (const [name, offsetMs] of [
      ["c", 6],
      ["a", 2],
      ["b", 4],
    ] as const) {
      const at = t0 + offsetMs * 1000;
      timers.at(at, () => fired.push({ name, lateUs: timers.nowUs() - at }));
    }
    await settle(40);
    expect(fired.map((f) => f.name)).toEqual(["a", "b", "c"]);
    for (const f of fired) expect(f.lateUs).toBeGreaterThanOrEqual(0);
  });

  it("many deadlines 0.1 ms apart -> all run (not capped at one per millisecond)", async () => {
    const timers = new PreciseTimers();
    let n = 0;
    const t0 = timers.nowUs();
    // Each callback arms the next, as the open-loop arrival chain does.
    const arm = (k: number) =>
      timers.at(t0 + k * 100, () => {
        n++;
        if (k < 99) arm(k + 1);
      });
    arm(0);
    await settle(200);
    expect(n).toBe(100);
  });

  it("cancel, cancelAll -> cancelled callbacks never run", async () => {
    const timers = new PreciseTimers();
    const fired: string[] = [];
    const now = timers.nowUs();
    const a = timers.at(now + 1000, () => fired.push("a"));
    timers.at(now + 2000, () => fired.push("b"));
    timers.cancel(a);
    await settle(20);
    expect(fired).toEqual(["b"]);
    timers.at(timers.nowUs() + 1000, () => fired.push("c"));
    timers.cancelAll();
    await settle(20);
    expect(fired).toEqual(["b"]);
    expect(timers.size).toBe(0);
  });
});
