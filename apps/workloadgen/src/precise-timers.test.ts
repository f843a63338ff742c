import { afterEach, describe, expect, it } from "vitest";
import { PreciseTimers } from "./precise-timers";

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Waits until `done()`, at most 5 s (a loaded machine may run the timers late, never early). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await settle(10);
}
const made: PreciseTimers[] = [];
afterEach(async () => {
  await Promise.all(made.splice(0).map((t) => t.close()));
});
/** Spin and wake of each case: polling only, polling after a helper thread's or a timeout's wake-up. */
const MODES = [
  [1.5, "timeout"],
  [0, "timeout"],
  [0, "thread"],
  [0.2, "thread"],
] as const;
/** Timers of one mode, the helper thread started (so its wake-ups are what the case tests). */
async function startedTimers(spinMs: number, wake: "thread" | "timeout"): Promise<PreciseTimers> {
  const t = new PreciseTimers(4, spinMs, wake);
  made.push(t);
  for (let i = 0; i < 500 && wake === "thread" && !t.threadWakes; i++) await settle(10);
  expect(t.threadWakes).toBe(wake === "thread");
  return t;
}

describe("PreciseTimers", () => {
  it.each(MODES)(
    "spin %d ms, wake %s, timers armed out of order -> run in deadline order, never early",
    async (spinMs, wake) => {
      const timers = await startedTimers(spinMs, wake);
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
    },
  );

  it.each(MODES)(
    "spin %d ms, wake %s, many deadlines 0.1 ms apart -> all run (not one per ms)",
    async (spinMs, wake) => {
      const timers = await startedTimers(spinMs, wake);
      let n = 0;
      const t0 = timers.nowUs();
      // Each callback arms the next, as the open-loop arrival chain does.
      const arm = (k: number) =>
        timers.at(t0 + k * 100, () => {
          n++;
          if (k < 99) arm(k + 1);
        });
      arm(0);
      await until(() => n === 100);
      expect(n).toBe(100);
    },
  );

  it("wake thread, spin 0, a deadline every 0.5 ms for 300 ms -> all run, the process mostly idle (a polling loop is busy all along)", async () => {
    const timers = await startedTimers(0, "thread");
    let n = 0;
    const t0 = timers.nowUs() + 1000;
    const arm = (k: number) =>
      timers.at(t0 + k * 500, () => {
        n++;
        if (k < 599) arm(k + 1);
      });
    const cpu0 = process.cpuUsage();
    const wall0 = performance.now();
    arm(0);
    await until(() => n === 600);
    const cpu = process.cpuUsage(cpu0);
    const busy = (cpu.user + cpu.system) / 1000 / (performance.now() - wall0);
    expect(n).toBe(600);
    expect(busy).toBeLessThan(0.5);
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

  it("backlog of 20 due timers of 1 ms work each, 4 ms slices -> all run in order, I/O gets turns between", async () => {
    const timers = new PreciseTimers(4);
    const fired: number[] = [];
    let firedWhenIoRan = -1;
    const now = timers.nowUs();
    for (let i = 0; i < 20; i++)
      timers.at(now, () => {
        // The first callback queues an "I/O" callback: it must run before the backlog is done.
        if (i === 0) setImmediate(() => (firedWhenIoRan = fired.length));
        const until = performance.now() + 1;
        while (performance.now() < until) {
          // 1 ms of work (a send)
        }
        fired.push(i);
      });
    await settle(100);
    expect(fired).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(firedWhenIoRan).toBeGreaterThan(0);
    expect(firedWhenIoRan).toBeLessThan(20);
  });
});
