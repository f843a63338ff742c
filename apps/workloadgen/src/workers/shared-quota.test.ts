import { describe, expect, it } from "vitest";
import { newQuotaBuffer, SharedSendQuota } from "./shared-quota";

describe("SharedSendQuota", () => {
  it("two holders of one buffer, cap 5 -> 5 takes in total, the last one calls onLast once", () => {
    const buffer = newQuotaBuffer();
    let lastCalls = 0;
    const a = new SharedSendQuota(buffer, 5, () => lastCalls++);
    const b = new SharedSendQuota(buffer, 5, () => lastCalls++);
    const results: boolean[] = [];
    for (let i = 0; i < 6; i++) results.push(a.take(), b.take());
    expect(results.filter(Boolean)).toHaveLength(5);
    expect(lastCalls).toBe(1);
    expect(a.exhausted && b.exhausted).toBe(true);
    expect(a.taken).toBe(5);
  });

  it("cap not reached -> not exhausted", () => {
    const q = new SharedSendQuota(newQuotaBuffer(), 3);
    q.take();
    expect(q.exhausted).toBe(false);
    expect(q.taken).toBe(1);
  });

  it.each([-1, 1.5, 2 ** 31])("cap %d -> error", (max) => {
    expect(() => new SharedSendQuota(newQuotaBuffer(), max)).toThrow(/max must be an integer/);
  });
});
