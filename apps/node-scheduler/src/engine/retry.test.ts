import { describe, expect, it } from "vitest";
import { EngineError, type EngineAdapter, type EngineResult } from "./engine-adapter";
import { generateWithRetry } from "./retry";

const OK: EngineResult = { finishReason: "stop", ttftUs: 1, e2eUs: 2, tokenEvents: 1 };

/** An adapter whose generate() fails with `failures` in order, then succeeds. */
function flakyEngine(failures: EngineError[]): EngineAdapter & { calls: number } {
  const engine = {
    calls: 0,
    async generate() {
      const err = failures[engine.calls++];
      if (err) throw err;
      return OK;
    },
    listModels: async () => ["m"],
    readLoad: async () => undefined,
    close: async () => undefined,
  };
  return engine;
}

const req = { requestId: "r", sessionId: "s", model: "m", maxTokens: 1, ignoreEos: false, prompt: "p" };
const sink = { onToken: () => undefined };
const unavailable = () => new EngineError("UNAVAILABLE", "down", true);

describe("generateWithRetry", () => {
  it("retryable failures within the budget -> retried until success", async () => {
    const engine = flakyEngine([unavailable(), unavailable()]);
    const retries: number[] = [];
    const result = await generateWithRetry(
      engine,
      req,
      sink,
      new AbortController().signal,
      { retries: 2, backoffMs: 0 },
      (a) => retries.push(a),
    );
    expect(result).toBe(OK);
    expect(engine.calls).toBe(3);
    expect(retries).toEqual([1, 2]);
  });

  it("retryable failures beyond the budget -> last error, saying how many attempts", async () => {
    const engine = flakyEngine([unavailable(), unavailable(), unavailable()]);
    const p = generateWithRetry(engine, req, sink, new AbortController().signal, {
      retries: 1,
      backoffMs: 0,
    });
    await expect(p).rejects.toMatchObject({
      code: "UNAVAILABLE",
      message: "down (gave up after 2 attempts)",
    });
    expect(engine.calls).toBe(2);
  });

  it.each([
    ["not retryable", new EngineError("INVALID_ARGUMENT", "bad", false)],
    ["retryable but output already streamed", new EngineError("UNAVAILABLE", "cut", true, true)],
  ])("failure %s -> no retry", async (_name, err) => {
    const engine = flakyEngine([err]);
    await expect(
      generateWithRetry(engine, req, sink, new AbortController().signal, { retries: 3, backoffMs: 0 }),
    ).rejects.toBe(err);
    expect(engine.calls).toBe(1);
  });

  it("caller aborted -> no retry", async () => {
    const engine = flakyEngine([unavailable()]);
    const ctrl = new AbortController();
    ctrl.abort();
    await expect(
      generateWithRetry(engine, req, sink, ctrl.signal, { retries: 3, backoffMs: 0 }),
    ).rejects.toMatchObject({
      code: "UNAVAILABLE",
    });
    expect(engine.calls).toBe(1);
  });
});
