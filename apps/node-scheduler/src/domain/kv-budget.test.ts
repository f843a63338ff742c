import { describe, expect, it } from "vitest";
import { KvBudget, TransferModel } from "./kv-budget";

describe("KvBudget", () => {
  it("tryReserve within budget -> reserved; beyond -> refused, unchanged", () => {
    const b = new KvBudget("gpu", 100, 2);
    expect(b.tryReserve(60)).toBe(true);
    expect(b.tryReserve(41)).toBe(false);
    expect(b.usedTokens).toBe(60);
    expect(b.freeTokens).toBe(40);
    expect(b.usedBytes).toBe(120);
    expect(b.budgetBytes).toBe(200);
  });

  it("forceReserve past the budget -> free is 0, not negative; release never below 0", () => {
    const b = new KvBudget("cpu", 10, 1);
    b.forceReserve(15);
    expect(b.freeTokens).toBe(0);
    b.release(100);
    expect(b.usedTokens).toBe(0);
  });
});

describe("TransferModel", () => {
  it.each([
    // tokens, bytes/token, GB/s, expected µs
    [1000, 131072, 25, Math.ceil(((1000 * 131072) / 25e9) * 1e6)],
    [1, 1, 1000, 1], // sub-µs copies still take 1 µs
    [0, 131072, 25, 0],
  ])("%i tokens at %i B/token over %i GB/s -> duration from bytes/bandwidth", (tokens, bpt, gbps, us) => {
    expect(new TransferModel(bpt, gbps).durationUs(tokens)).toBe(us);
  });

  it("two copies the same direction -> the second queues behind the first; other direction is independent", () => {
    const m = new TransferModel(1_000_000, 1); // 1 token = 1 MB = 1000 µs at 1 GB/s
    expect(m.schedule("toCpu", 2, 0)).toBe(2000);
    expect(m.schedule("toCpu", 1, 500)).toBe(3000);
    expect(m.schedule("toGpu", 1, 500)).toBe(1500);
  });
});
