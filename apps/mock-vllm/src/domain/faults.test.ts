import { rngFor } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { FaultInjector, NO_FAULTS } from "./faults";

describe("FaultInjector", () => {
  it("no rates -> never a fault", () => {
    const f = new FaultInjector(NO_FAULTS, rngFor(0, "t"));
    for (let i = 0; i < 100; i++)
      expect(f.decide(10)).toEqual({ errorStatus: 0, extraDelayMs: 0, dropAfterTokens: -1 });
  });

  it("all rates 1 -> every request errors, is delayed and is dropped within its output", () => {
    const f = new FaultInjector(
      { errorRate: 1, errorStatus: 500, latencySpikeRate: 1, latencySpikeMs: 250, dropStreamRate: 1 },
      rngFor(0, "t"),
    );
    for (let i = 0; i < 100; i++) {
      const d = f.decide(10);
      expect(d.errorStatus).toBe(500);
      expect(d.extraDelayMs).toBe(250);
      expect(d.dropAfterTokens).toBeGreaterThanOrEqual(0);
      expect(d.dropAfterTokens).toBeLessThan(10);
    }
  });

  it("rate 0.3 over 5000 requests -> about 30% errors, same seed same sequence", () => {
    const cfg = { ...NO_FAULTS, errorRate: 0.3 };
    const draw = () => {
      const f = new FaultInjector(cfg, rngFor(5, "faults"));
      return Array.from({ length: 5000 }, () => f.decide(1).errorStatus);
    };
    const a = draw();
    const share = a.filter((s) => s !== 0).length / a.length;
    expect(share).toBeGreaterThan(0.27);
    expect(share).toBeLessThan(0.33);
    expect(draw()).toEqual(a);
  });
});
