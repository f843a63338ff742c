import { describe, expect, it } from "vitest";
import { EngineError } from "./engine-adapter";
import { engineCount, MAX_ENGINE_COUNT, usageFromEngine } from "./usage-validation";

describe("engineCount", () => {
  it.each([0, 1, 4096, MAX_ENGINE_COUNT])("%d -> itself", (n) => {
    expect(engineCount(n, "f")).toBe(n);
  });

  it.each([
    ["lots", '"lots"'],
    [-1, "-1"],
    [1.5, "1.5"],
    [Number.NaN, "NaN"],
    [Infinity, "Infinity"],
    [MAX_ENGINE_COUNT + 1, String(MAX_ENGINE_COUNT + 1)],
    [null, "null"],
    [{}, "{}"],
  ])("%j -> EngineError INTERNAL, not retryable, naming the field and the value", (value, shown) => {
    let err: unknown;
    try {
      engineCount(value, "usage.completion_tokens", true);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EngineError);
    expect(err).toMatchObject({ code: "INTERNAL", retryable: false, streamed: true });
    expect((err as Error).message).toBe(
      `engine sent usage.completion_tokens = ${shown}, expected a non-negative integer <= ${MAX_ENGINE_COUNT}`,
    );
  });
});

describe("usageFromEngine", () => {
  it("vLLM's usage object -> the three counts; missing or null fields -> 0", () => {
    expect(
      usageFromEngine(
        {
          prompt_tokens: 12,
          completion_tokens: 3,
          total_tokens: 15,
          prompt_tokens_details: { cached_tokens: 8 },
        },
        false,
      ),
    ).toEqual({ promptTokens: 12, completionTokens: 3, cachedTokens: 8 });
    expect(usageFromEngine({ prompt_tokens_details: null }, false)).toEqual({
      promptTokens: 0,
      completionTokens: 0,
      cachedTokens: 0,
    });
  });

  it.each([
    [{ prompt_tokens: "12" }, /usage\.prompt_tokens = "12"/],
    [{ completion_tokens: -3 }, /usage\.completion_tokens = -3/],
    [{ prompt_tokens: 5, prompt_tokens_details: { cached_tokens: 0.5 } }, /cached_tokens = 0\.5/],
    [{ prompt_tokens: 5, prompt_tokens_details: { cached_tokens: 6 } }, /cached_tokens = 6, more than/],
    [[1, 2], /usage = \[1,2\], expected an object/],
    ["x", /usage = "x", expected an object/],
  ])("%j -> EngineError naming the field", (usage, message) => {
    expect(() => usageFromEngine(usage, false)).toThrow(message);
  });
});
