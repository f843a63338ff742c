import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeEngine } from "../../test/fake-engine";
import { OpenAiHttpAdapter } from "./openai-http-adapter";

describe("OpenAiHttpAdapter back-pressure", () => {
  let engine: FakeEngine;
  let adapter: OpenAiHttpAdapter;

  beforeAll(async () => {
    engine = await new FakeEngine().start();
    engine.chunkDelayMs = 2;
    adapter = new OpenAiHttpAdapter({
      engineUrl: engine.url,
      model: "",
      connections: 4,
      connectTimeoutMs: 2000,
      forwardExpectedResponse: true,
    });
  });
  afterAll(async () => {
    await adapter?.close();
    await engine?.stop();
  });

  it("sink full -> no tokens are read from the engine until it drains, then the rest arrive", async () => {
    const words = Array.from({ length: 40 }, (_, i) => `w${i} `).join("");
    let tokens = 0;
    let release: () => void = () => {};
    let full: Promise<void> | undefined;
    let tokensWhenFull = -1;
    const sink = {
      onToken: () => {
        tokens++;
        if (tokens === 5) {
          full = new Promise<void>((r) => (release = r));
          tokensWhenFull = tokens;
        }
      },
      drained: () => full,
    };
    const done = adapter.generate(
      {
        requestId: "bp-1",
        sessionId: "bp",
        model: "",
        messages: [{ role: "user", content: "hi" }],
        maxTokens: 100,
        ignoreEos: false,
        expectedResponse: words,
      },
      sink,
      new AbortController().signal,
    );
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // Wait for the sink to fill (the first call also looks the model up: its time varies with load).
    for (const end = Date.now() + 10_000; full === undefined && Date.now() < end;) await sleep(10);
    expect(tokensWhenFull).toBe(5);
    // Tokens already parsed from the piece that filled the sink may follow, but no later piece.
    await sleep(100);
    const whilePaused = tokens;
    await sleep(300); // the engine keeps sending meanwhile
    expect(tokens).toBe(whilePaused);
    expect(whilePaused).toBeLessThan(40);
    full = undefined;
    release();
    const result = await done;
    expect(tokens).toBe(40);
    expect(result.usage?.completionTokens).toBe(40);
  });
});
