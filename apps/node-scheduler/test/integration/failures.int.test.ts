import { createServer } from "node:net";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { type RunningService, startNode } from "@symphony/testkit";
import type { InferenceEvent } from "@symphony/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeEngine } from "../fake-engine";
import { chatTurn, nodeClient, status, submit, terminal } from "../grpc-client";
import { scrapeNode } from "../metrics-scrape";

/** A loopback port nobody listens on (bound, then closed). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `check` every 50 ms until it returns true or `timeoutMs` passes. */
async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

const LONG_ANSWER = Array.from({ length: 60 }, (_, i) => `w${i}`).join(" ");

describe("node-scheduler with its engine down", () => {
  let node: RunningService;

  beforeAll(async () => {
    node = await startNode(
      `http://127.0.0.1:${await deadPort()}/v1`,
      ["--model", "m", "--engine-retries", "2", "--engine-retry-backoff-ms", "10"],
      { name: "node-engine-down" },
    );
  });
  afterAll(async () => {
    await node?.stop();
  });

  it("turn -> started, then UNAVAILABLE (retryable) after the retries, counted in metrics", async () => {
    const client = nodeClient(node.ports.grpc!);
    try {
      const events = await submit(client, chatTurn({ sessionId: "down" }));
      expect(events.map((e) => e.event?.$case)).toEqual(["started", "error"]);
      const err = terminal(events);
      expect(err?.$case === "error" && err.value).toMatchObject({ code: "UNAVAILABLE", retryable: true });
      expect(err?.$case === "error" && err.value.message).toMatch(/unreachable.*gave up after 3 attempts/);
      const metric = await scrapeNode(node.ports.metrics!);
      expect(metric("symphony_node_engine_retries_total")).toBe(2);
      // The failed turn left nothing reserved.
      expect((await status(client)).running).toBe(0);
    } finally {
      client.close();
    }
  });
});

describe("node-scheduler limits (max-running 1, max-queue 1, budget 2000 tokens)", () => {
  let engine: FakeEngine;
  let node: RunningService;
  let client: ReturnType<typeof nodeClient>;

  beforeAll(async () => {
    engine = await new FakeEngine().start();
    node = await startNode(
      engine.url,
      ["--max-running", "1", "--max-queue", "1", "--kv-budget-tokens", "2000"],
      { name: "node-limits" },
    );
    client = nodeClient(node.ports.grpc!);
  });
  afterAll(async () => {
    client?.close();
    await node?.stop();
    await engine?.stop();
  });

  it("turn larger than the whole GPU budget -> RESOURCE_EXHAUSTED naming both numbers", async () => {
    const events = await submit(client, chatTurn({ sessionId: "huge", maxOutputTokens: 5000 }));
    const err = terminal(events);
    expect(err?.$case === "error" && err.value.code).toBe("RESOURCE_EXHAUSTED");
    expect(err?.$case === "error" && err.value.message).toMatch(/needs \d+ KV tokens.*budget is 2000 tokens/);
  });

  it("one running and one queued -> third turn RESOURCE_EXHAUSTED (queue full); queued one with deadline_ms expires", async () => {
    engine.chunkDelayMs = 20;
    const running = submit(
      client,
      chatTurn({ sessionId: "slow", expectedResponse: LONG_ANSWER, maxOutputTokens: 100 }),
    );
    await eventually(() => engine.inFlight === 1);
    const queued = submit(client, chatTurn({ sessionId: "queued", deadlineMs: 200 }));
    await eventually(async () => (await status(client)).queueDepth === 1);
    const rejected = terminal(await submit(client, chatTurn({ sessionId: "third" })));
    expect(rejected?.$case === "error" && rejected.value).toMatchObject({
      code: "RESOURCE_EXHAUSTED",
      retryable: true,
    });
    expect(rejected?.$case === "error" && rejected.value.message).toContain("queue is full");

    const expired = terminal(await queued);
    expect(expired?.$case === "error" && expired.value.code).toBe("DEADLINE_EXCEEDED");
    expect(expired?.$case === "error" && expired.value.message).toContain("while queued");
    expect(terminal(await running)?.$case).toBe("finished");
    engine.chunkDelayMs = 0;
  });

  it("caller cancels mid-stream -> the engine request is aborted and the slot freed", async () => {
    engine.chunkDelayMs = 20;
    const abortedBefore = engine.aborted;
    const call = client.submit(
      chatTurn({ sessionId: "cancel-me", expectedResponse: LONG_ANSWER, maxOutputTokens: 100 }),
    );
    call.on("error", () => undefined); // CANCELLED, expected
    await new Promise<void>((resolve) =>
      call.on("data", (e: InferenceEvent) => {
        if (e.event?.$case === "token") resolve();
      }),
    );
    call.cancel();
    expect(await eventually(() => engine.aborted > abortedBefore)).toBe(true);
    expect(await eventually(async () => (await status(client)).running === 0)).toBe(true);
    engine.chunkDelayMs = 0;
  });

  it("gRPC deadline shorter than the turn -> client sees DEADLINE_EXCEEDED, engine request aborted", async () => {
    engine.chunkDelayMs = 20;
    const abortedBefore = engine.aborted;
    const outcome = await submit(
      client,
      chatTurn({ sessionId: "grpc-deadline", expectedResponse: LONG_ANSWER, maxOutputTokens: 100 }),
      { deadline: Date.now() + 300 },
    ).then(
      (events) => {
        const end = terminal(events);
        return end?.$case === "error" ? end.value.code : end?.$case;
      },
      (err: grpc.ServiceError) => grpc.status[err.code],
    );
    // Either the node's own deadline timer (error event) or grpc-js (call status) ends it first.
    expect(outcome).toBe("DEADLINE_EXCEEDED");
    expect(await eventually(() => engine.aborted > abortedBefore)).toBe(true);
    expect(await eventually(async () => (await status(client)).running === 0)).toBe(true);
    engine.chunkDelayMs = 0;
  });
});
