import * as grpc from "@grpc/grpc-js";
import { rngFor } from "@symphony/common";
import { InferenceRequest, Role } from "@symphony/runtime";
import { type RunningService, startNode } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeEngine } from "../fake-engine";
import { chatTurn, nodeClient, status, submit, terminal } from "../grpc-client";

// Oversized requests: refused by size before any tokenization, and a long but
// allowed prompt is counted without holding the event loop (Status and heartbeats keep flowing).

/** Text that tokenizes about one token per two characters (the slow case for BPE). */
function hostile(chars: number): string {
  const rng = rngFor(3, "oversized");
  const parts: string[] = [];
  let n = 0;
  while (n < chars) {
    const w = `${rng.next().toString(36).slice(2)} `;
    parts.push(w);
    n += w.length;
  }
  return parts.join("").slice(0, chars);
}

describe("node-scheduler and oversized requests", () => {
  let engine: FakeEngine;
  let node: RunningService;
  let client: ReturnType<typeof nodeClient>;

  beforeAll(async () => {
    engine = await new FakeEngine().start();
    node = await startNode(engine.url, [], { name: "node-oversized" });
    client = nodeClient(node.ports.grpc!);
  });
  afterAll(async () => {
    client?.close();
    await node?.stop();
    await engine?.stop();
  });

  it("1,000,000 messages -> INVALID_ARGUMENT naming --max-messages, before tokenizing; the engine never called", async () => {
    const calls = engine.generateCalls().length;
    const req = InferenceRequest.fromPartial(chatTurn({ sessionId: "many" }));
    req.messages = Array.from({ length: 1_000_000 }, () => ({ role: Role.ROLE_USER, content: "hi" }));
    const events = await submit(client, req);
    const err = terminal(events);
    expect(err?.$case === "error" && err.value).toMatchObject({ code: "INVALID_ARGUMENT", retryable: false });
    expect(err?.$case === "error" && err.value.message).toBe(
      "messages: 1000000 messages, more than this node's --max-messages 10000",
    );
    expect(engine.generateCalls().length).toBe(calls);
  });

  it("a 60 M-character prompt -> refused by size before decoding (RESOURCE_EXHAUSTED)", async () => {
    const req = chatTurn({ sessionId: "huge", messages: [], prompt: "x".repeat(60_000_000) });
    const failure = await submit(client, req).then(
      () => undefined,
      (e: grpc.ServiceError) => e,
    );
    expect(failure?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect((await status(client)).running).toBe(0);
  });

  it("a 1 MB prompt of hostile text (allowed) -> counted while Status keeps answering within 1 s", async () => {
    const req = chatTurn({
      sessionId: "long",
      messages: [{ role: Role.ROLE_USER, content: hostile(1_000_000) }],
      maxOutputTokens: 4,
    });
    const turnDone = submit(client, req);
    let longest = 0;
    let finished = false;
    void turnDone.finally(() => (finished = true));
    const t0 = performance.now();
    while (!finished && performance.now() - t0 < 60_000) {
      const s0 = performance.now();
      await status(client);
      longest = Math.max(longest, performance.now() - s0);
      await new Promise((r) => setTimeout(r, 50));
    }
    const events = await turnDone;
    expect(terminal(events)?.$case).toBeDefined();
    // Before: one synchronous count of ~3 s; heartbeats (1 s) and health checks stalled with it.
    expect(longest).toBeLessThan(1000);
  });
});
