import { afterEach, describe, expect, it } from "vitest";
import { WakeThread } from "./wake-thread";

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));
const open: WakeThread[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => w.close()));
});
/** Waits until `done()` (at most 2 s: the helper thread may wait for a core on a busy machine). */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await settle(10);
}

/** A started helper thread (its start-up takes tens of ms, more on a busy machine). */
async function wakeThread(onWake: () => void): Promise<WakeThread> {
  const w = new WakeThread(onWake);
  open.push(w);
  for (let i = 0; i < 500 && !w.ready; i++) await settle(10);
  expect(w.ready).toBe(true);
  return w;
}

describe("WakeThread", () => {
  it("armed 3 ms ahead -> wakes the loop once, not before the deadline", async () => {
    const wakes: number[] = [];
    const w = await wakeThread(() => wakes.push(performance.now()));
    const at = performance.now() + 3;
    w.wakeAt(at);
    await until(() => wakes.length > 0);
    await settle(20);
    expect(wakes).toHaveLength(1);
    // The two threads' clocks agree to well under a µs.
    expect(wakes[0]!).toBeGreaterThanOrEqual(at - 0.001);
  });

  it("re-armed earlier, then later -> one wake-up, at the last deadline", async () => {
    const wakes: number[] = [];
    const w = await wakeThread(() => wakes.push(performance.now()));
    const now = performance.now();
    w.wakeAt(now + 30);
    w.wakeAt(now + 2);
    w.wakeAt(now + 10);
    await until(() => wakes.length > 0);
    await settle(40);
    expect(wakes).toHaveLength(1);
    expect(wakes[0]!).toBeGreaterThanOrEqual(now + 10 - 0.001);
  });

  it("cancelled -> no wake-up; armed again -> wakes", async () => {
    let wakes = 0;
    const w = await wakeThread(() => wakes++);
    w.wakeAt(performance.now() + 2);
    w.cancel();
    await settle(20);
    expect(wakes).toBe(0);
    w.wakeAt(performance.now() + 2);
    await until(() => wakes > 0);
    expect(wakes).toBe(1);
  });

  it("a deadline already past -> wakes at once (next loop turn or so)", async () => {
    let wakes = 0;
    const w = await wakeThread(() => wakes++);
    w.wakeAt(performance.now() - 5);
    await until(() => wakes > 0);
    await settle(20);
    expect(wakes).toBe(1);
  });

  it("the helper thread dies while armed -> the owed wake-up happens at once, then not ready", async () => {
    let wakes = 0;
    const w = await wakeThread(() => wakes++);
    w.wakeAt(performance.now() + 60_000);
    // What an uncaught error in the helper or an external terminate would do.
    await (w as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await until(() => wakes > 0);
    expect(wakes).toBe(1);
    expect(w.ready).toBe(false);
  });

  it("close -> the helper stops (close resolves) and later arming is ignored", async () => {
    let wakes = 0;
    const w = await wakeThread(() => wakes++);
    w.wakeAt(performance.now() + 1000);
    await w.close();
    expect(w.ready).toBe(false);
    w.wakeAt(performance.now() + 1);
    await settle(20);
    expect(wakes).toBe(0);
  });
});
