import { describe, expect, it } from "vitest";
import { deriveNumGpuBlocks, kvBytesPerToken, PROFILES } from "./profiles";
import { coefficientsFor, StepTimeModel } from "./step-time-model";

const models = Object.values(PROFILES).map(
  (p) => [p.name, new StepTimeModel(coefficientsFor(p)), p] as const,
);

describe("StepTimeModel", () => {
  it.each(models)("%s, empty step -> 0", (_n, m) => {
    expect(
      m.stepUs({ prefillTokens: 0, prefillAttentionPairs: 0, decodeSeqs: 0, kvTokensRead: 0, numSeqs: 0 }),
    ).toBe(0);
  });

  it.each(models)("%s, small decode batch -> bandwidth bound: ITL ≈ weight read + overhead", (_n, m) => {
    const c = m.coefficients;
    expect(m.decodeItlUs(1, 100)).toBeCloseTo(
      c.stepOverheadUs + c.perSeqUs + c.weightReadUs + 100 * c.kvReadUsPerToken,
    );
  });

  it.each(models)("%s, ITL grows with batch size and context; TTFT grows with prompt length", (_n, m) => {
    expect(m.decodeItlUs(64, 1000)).toBeGreaterThan(m.decodeItlUs(1, 1000));
    expect(m.decodeItlUs(64, 4000)).toBeGreaterThan(m.decodeItlUs(64, 1000));
    expect(m.coldTtftUs(8000)).toBeGreaterThan(m.coldTtftUs(2000));
    expect(m.coldTtftUs(4000, 3000)).toBeLessThan(m.coldTtftUs(4000));
  });

  it("same model, A100 vs H100 -> A100 slower in decode and prefill", () => {
    const h100 = new StepTimeModel(coefficientsFor(PROFILES["llama3-8b-h100"]!));
    const a100 = new StepTimeModel(coefficientsFor(PROFILES["llama3-8b-a100"]!));
    expect(a100.decodeItlUs(1, 500)).toBeGreaterThan(h100.decodeItlUs(1, 500));
    expect(a100.coldTtftUs(4000)).toBeGreaterThan(h100.coldTtftUs(4000));
  });
});

describe("profiles", () => {
  it.each(Object.values(PROFILES))("$name -> KV cache holds at least one max-length sequence", (p) => {
    const blocks = deriveNumGpuBlocks(p, 16, 0.9);
    expect(blocks * 16).toBeGreaterThanOrEqual(p.model.maxModelLen);
  });

  it("Llama 3 8B KV bytes per token -> 2 (K,V) x 32 layers x 8 KV heads x 128 dims x 2 bytes", () => {
    expect(kvBytesPerToken(PROFILES["llama3-8b-h100"]!.model)).toBe(2 * 32 * 8 * 128 * 2);
  });

  it("lower gpu memory utilisation -> fewer blocks", () => {
    const p = PROFILES["llama3-8b-h100"]!;
    expect(deriveNumGpuBlocks(p, 16, 0.5)).toBeLessThan(deriveNumGpuBlocks(p, 16, 0.9));
  });
});
