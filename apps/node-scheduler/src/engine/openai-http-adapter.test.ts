import { createServer, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
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

describe("OpenAiHttpAdapter keep-alive", () => {
  /**
   * vLLM's uvicorn closes a connection idle for 5 s (VLLM_HTTP_TIMEOUT_KEEP_ALIVE) and sends no
   * Keep-Alive header. This server does that at its worst: a request that arrives on a connection
   * idle that long meets the close (as one sent just as the server's FIN is on its way would).
   */
  const IDLE_CLOSE_MS = 5000;
  let server: Server;
  let url = "";
  beforeAll(async () => {
    server = createServer((req, res) => {
      const socket = req.socket as Socket & { idleSince?: number };
      if (socket.idleSince !== undefined && performance.now() - socket.idleSince >= IDLE_CLOSE_MS) {
        socket.destroy();
        return;
      }
      socket.idleSince = undefined;
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(`data: {"choices":[{"index":0,"text":"hi","finish_reason":null}]}\n\n`);
        res.write(`data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":1}}\n\n`);
        res.end("data: [DONE]\n\n", () => (socket.idleSince = performance.now()));
      });
    });
    server.keepAliveTimeout = 0; // no Keep-Alive header, as uvicorn; the idle close is the handler's
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("a turn after the engine's idle timeout goes out on a fresh connection, not the closed one", async () => {
    const adapter = new OpenAiHttpAdapter({
      engineUrl: url,
      model: "m",
      connections: 1,
      connectTimeoutMs: 2000,
      forwardExpectedResponse: false,
    });
    const turn = (requestId: string) =>
      adapter.generate(
        { requestId, sessionId: "s", model: "m", prompt: "x", maxTokens: 1, ignoreEos: false },
        { onToken: () => {} },
        new AbortController().signal,
      );
    try {
      expect((await turn("k-1")).tokenEvents).toBe(1);
      await new Promise((r) => setTimeout(r, IDLE_CLOSE_MS + 200));
      expect((await turn("k-2")).tokenEvents).toBe(1);
    } finally {
      await adapter.close();
    }
  }, 15_000);
});
