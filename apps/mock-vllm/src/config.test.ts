import { UsageError } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./config";
import { deriveNumGpuBlocks, PROFILES } from "./domain";

describe("parseConfig", () => {
  it("no flags -> vLLM-like defaults for llama3-8b-h100", () => {
    const c = parseConfig([]);
    const p = PROFILES["llama3-8b-h100"]!;
    expect(c).toMatchObject({
      host: "127.0.0.1",
      port: 8000,
      model: "meta-llama/Llama-3.1-8B-Instruct",
      servedModelNames: ["meta-llama/Llama-3.1-8B-Instruct"],
      blockSize: 16,
      enablePrefixCaching: true,
      timeScale: 1,
      seed: 0,
      maxModelLen: p.model.maxModelLen,
      maxNumSeqs: p.defaultMaxNumSeqs,
      maxNumBatchedTokens: p.defaultMaxNumBatchedTokens,
      numGpuBlocks: deriveNumGpuBlocks(p, 16, 0.9),
    });
  });

  it("flags -> override profile values and coefficients", () => {
    const c = parseConfig([
      "--profile",
      "llama2-13b-a100",
      "--no-enable-prefix-caching",
      "--num-gpu-blocks",
      "500",
      "--max-model-len",
      "2048",
      "--weight-read-us",
      "1234",
      "--served-model-name",
      "a",
      "b",
    ]);
    expect(c.profile.name).toBe("llama2-13b-a100");
    expect(c.enablePrefixCaching).toBe(false);
    expect(c.numGpuBlocks).toBe(500);
    expect(c.coefficients.weightReadUs).toBe(1234);
    expect(c.servedModelNames).toEqual(["a", "b"]);
  });

  it("max-model-len beyond the KV cache -> UsageError naming both flags", () => {
    expect(() => parseConfig(["--num-gpu-blocks", "10", "--max-model-len", "1000"])).toThrow(UsageError);
    expect(() => parseConfig(["--num-gpu-blocks", "10", "--max-model-len", "1000"])).toThrow(
      /--max-model-len.*--num-gpu-blocks/,
    );
  });

  it.each([
    ["--port", "70000"],
    ["--time-scale", "0"],
    ["--profile", "gpt-5-on-a-toaster"],
    ["--fault-error-rate", "1.5"],
    ["--block-size", "x"],
  ])("%s %s -> rejected", (flag, value) => {
    const errors: string[] = [];
    expect(() => parseConfig([flag, value], (t) => errors.push(t))).toThrow();
    expect(errors.join("")).toContain(flag);
  });
});
