import { type RunningService, startNode } from "@symphony/testkit";
import { Role } from "@symphony/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeEngine } from "../fake-engine";
import { chatTurn, closeSession, nodeClient, status, submit, terminal } from "../grpc-client";

describe("node-scheduler Submit against a fake OpenAI engine", () => {
  let engine: FakeEngine;
  let node: RunningService;
  let client: ReturnType<typeof nodeClient>;

  beforeAll(async () => {
    engine = await new FakeEngine().start();
    node = await startNode(engine.url, ["--node-id", "n-test", "--engine-retry-backoff-ms", "10"]);
    client = nodeClient(node.ports.grpc!);
  });

  afterAll(async () => {
    client?.close();
    await node?.stop();
    await engine?.stop();
  });

  it("streaming chat turn -> started, one token event per chunk, finished with engine usage", async () => {
    const events = await submit(
      client,
      chatTurn({ sessionId: "chat-1", expectedResponse: "one two three", maxOutputTokens: 10 }),
    );
    const cases = events.map((e) => e.event?.$case);
    expect(cases).toEqual(["started", "token", "token", "token", "finished"]);
    const started = events[0]!.event;
    expect(started?.$case === "started" && started.value).toMatchObject({ nodeId: "n-test", kvTier: "new" });
    const text = events.flatMap((e) => (e.event?.$case === "token" ? [e.event.value.text] : [])).join("");
    expect(text).toBe("one two three");
    const fin = terminal(events);
    expect(fin?.$case).toBe("finished");
    if (fin?.$case === "finished") {
      expect(fin.value.usage?.completionTokens).toBe(3);
      expect(fin.value.usage?.promptTokens).toBeGreaterThan(0);
      expect(fin.value.finishReason).toBe("stop");
    }
    const sent = engine.generateCalls().at(-1)!;
    expect(sent.path).toBe("/v1/chat/completions");
    // A stock engine (the default --prefetch-mode warmup) gets no Symphony residency headers.
    expect(sent.headers["x-symphony-kv-tier"]).toBeUndefined();
    expect(sent.headers["x-symphony-resident-tokens"]).toBeUndefined();
    expect(sent.headers["x-symphony-session-id"]).toBe("chat-1");
    expect(sent.body).toMatchObject({
      model: "fake-model",
      max_tokens: 10,
      stream: true,
      stream_options: { include_usage: true },
      expected_response: "one two three",
      messages: [{ role: "user", content: "Hello there, how are you?" }],
    });
  });

  it("--prefetch-mode directive -> the engine is told the arrival tier and the resident context", async () => {
    const directive = await startNode(engine.url, ["--prefetch-mode", "directive"], {
      name: "node-directive",
    });
    const dc = nodeClient(directive.ports.grpc!);
    try {
      for (const turnIndex of [0, 1]) {
        const events = await submit(
          dc,
          chatTurn({ sessionId: "directive-1", turnIndex, expectedResponse: "one two", maxOutputTokens: 4 }),
        );
        expect(terminal(events)?.$case).toBe("finished");
      }
      const [first, second] = engine.generateCalls().slice(-2);
      expect(first!.headers["x-symphony-kv-tier"]).toBe("new");
      expect(first!.headers["x-symphony-resident-tokens"]).toBeUndefined();
      expect(second!.headers["x-symphony-kv-tier"]).toBe("gpu");
      expect(Number(second!.headers["x-symphony-resident-tokens"])).toBeGreaterThan(0);
    } finally {
      dc.close();
      await directive.stop();
    }
  });

  it("reasoning model: reasoning_content chunks -> token events flagged reasoning, before content", async () => {
    const events = await submit(
      client,
      chatTurn({ sessionId: "think-1", expectedResponse: "~hmm ~right so: answer", maxOutputTokens: 10 }),
    );
    const tokens = events.flatMap((e) => (e.event?.$case === "token" ? [e.event.value] : []));
    expect(tokens.map((t) => [t.text, t.reasoning])).toEqual([
      ["hmm ", true],
      ["right ", true],
      ["so: ", false],
      ["answer", false],
    ]);
  });

  it("second turn of the same session -> started.kvTier gpu and cached prompt tokens", async () => {
    const history = [
      { role: Role.ROLE_USER, content: "Hello there, how are you?" },
      { role: Role.ROLE_ASSISTANT, content: "one two three" },
      { role: Role.ROLE_USER, content: "And then?" },
    ];
    const events = await submit(client, chatTurn({ sessionId: "chat-1", turnIndex: 1, messages: history }));
    const started = events[0]?.event;
    expect(started?.$case === "started" && started.value.kvTier).toBe("gpu");
    const fin = terminal(events);
    expect(fin?.$case === "finished" && fin.value.usage!.cachedTokens).toBeGreaterThan(0);
  });

  it("non-streaming completion prompt -> one aggregated token event to /v1/completions", async () => {
    const events = await submit(
      client,
      chatTurn({
        sessionId: "p-1",
        messages: [],
        prompt: "Once upon a time",
        stream: false,
        expectedResponse: "a b c d",
      }),
    );
    expect(events.map((e) => e.event?.$case)).toEqual(["started", "token", "finished"]);
    const tok = events[1]!.event;
    expect(tok?.$case === "token" && tok.value).toEqual({ text: "a b c d", tokenCount: 4, reasoning: false });
    expect(engine.generateCalls().at(-1)!.path).toBe("/v1/completions");
  });

  it.each([
    ["missing request_id", { requestId: "" }, "request_id"],
    ["missing session_id", { sessionId: "" }, "session_id"],
    ["max_output_tokens 0", { maxOutputTokens: 0 }, "max_output_tokens"],
    ["both messages and prompt", { prompt: "x" }, "got both"],
    ["neither messages nor prompt", { messages: [] }, "got neither"],
  ])("invalid request (%s) -> INVALID_ARGUMENT naming the field", async (_name, overrides, field) => {
    const events = await submit(client, chatTurn(overrides));
    expect(events).toHaveLength(1);
    const ev = terminal(events);
    expect(ev?.$case).toBe("error");
    if (ev?.$case === "error") {
      expect(ev.value.code).toBe("INVALID_ARGUMENT");
      expect(ev.value.message).toContain(field);
    }
  });

  it("--no-forward-expected-response is honoured -> engine body has no expected_response", async () => {
    const other = await startNode(engine.url, ["--no-forward-expected-response"], {
      name: "node-scheduler-nofwd",
    });
    const c = nodeClient(other.ports.grpc!);
    try {
      await submit(c, chatTurn({ sessionId: "nofwd", expectedResponse: "secret" }));
      expect(engine.generateCalls().at(-1)!.body).not.toHaveProperty("expected_response");
    } finally {
      c.close();
      await other.stop();
    }
  });

  it("engine answers 503 twice then OK -> retried, turn finishes", async () => {
    engine.failNext = { status: 503, count: 2 };
    const events = await submit(client, chatTurn({ sessionId: "retry-1" }));
    expect(terminal(events)?.$case).toBe("finished");
    expect(engine.failNext.count).toBe(0);
  });

  it.each([
    [400, "INVALID_ARGUMENT", false],
    [404, "NOT_FOUND", false],
    [500, "INTERNAL", false],
  ])("engine answers HTTP %i -> error %s, not retried", async (httpStatus, code, retryable) => {
    const before = engine.generateCalls().length;
    engine.failNext = { status: httpStatus, count: 1 };
    const events = await submit(client, chatTurn({ sessionId: `err-${httpStatus}` }));
    const ev = terminal(events);
    expect(ev?.$case === "error" && ev.value).toMatchObject({ code, retryable });
    expect(engine.generateCalls().length - before).toBe(1);
  });

  it("two sessions sending the same request_id at once -> both turns run and finish", async () => {
    engine.chunkDelayMs = 20; // keep both turns open at the same time
    try {
      const [a, b] = await Promise.all(
        ["dup-a", "dup-b"].map((sessionId) =>
          submit(client, chatTurn({ sessionId, requestId: "turn-0", expectedResponse: "x y" })),
        ),
      );
      expect(terminal(a!)?.$case).toBe("finished");
      expect(terminal(b!)?.$case).toBe("finished");
    } finally {
      engine.chunkDelayMs = 0;
    }
  });

  it("same session and request_id while the first is running -> second rejected naming both ids", async () => {
    engine.chunkDelayMs = 20;
    try {
      const req = chatTurn({ sessionId: "dup-c", requestId: "turn-1", expectedResponse: "x y z" });
      const first = submit(client, req);
      await new Promise((r) => setTimeout(r, 10)); // the first is open on the node
      const second = await submit(client, req);
      const err = terminal(second);
      expect(err?.$case).toBe("error");
      expect(err?.$case === "error" && err.value).toMatchObject({
        code: "INVALID_ARGUMENT",
        retryable: false,
      });
      expect(err?.$case === "error" && err.value.message).toMatch(
        /request_id: "turn-1" of session "dup-c" is already running/,
      );
      expect(terminal(await first)?.$case).toBe("finished");
    } finally {
      engine.chunkDelayMs = 0;
    }
  });

  it("Status -> node id, tiers with budgets, engine load scraped from /metrics", async () => {
    // The engine's /metrics is scraped every second: poll until the first scrape landed.
    let s = await status(client);
    for (let i = 0; i < 50 && s.engineKvUsage < 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = await status(client);
    }
    expect(s.nodeId).toBe("n-test");
    expect(s.kvTiers.map((t) => t.name)).toEqual(["gpu", "cpu"]);
    expect(s.kvTiers[0]!.budgetTokens).toBe(262144);
    expect(s.kvTiers[0]!.usedTokens).toBeGreaterThan(0);
    expect(s.engineKvUsage).toBeCloseTo(0.25);
    expect(s.sessionHits).toBeGreaterThanOrEqual(1);
  });

  it("CloseSession -> known session released with its tokens; unknown -> released=false", async () => {
    const known = await closeSession(client, "chat-1");
    expect(known.released).toBe(true);
    expect(known.releasedKvTokens).toBeGreaterThan(0);
    const unknown = await closeSession(client, "never-seen");
    expect(unknown).toEqual({ released: false, releasedKvTokens: 0 });
  });

  it("/metrics -> exposes queue, tier and session-lookup metrics", async () => {
    const res = await fetch(`http://127.0.0.1:${node.ports.metrics}/metrics`);
    const text = await res.text();
    expect(text).toContain('symphony_node_kv_budget_tokens{tier="gpu"} 262144');
    expect(text).toMatch(/symphony_node_session_lookups_total\{result="gpu"\} [1-9]/);
    expect(text).toContain("symphony_node_queue_depth");
  });
});
