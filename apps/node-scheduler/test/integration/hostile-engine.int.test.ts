import { type RunningService, startNode } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeEngine } from "../fake-engine";
import { chatTurn, nodeClient, status, submit, terminal } from "../grpc-client";

// An engine that answers with garbage: the turn fails clearly, the node stays healthy.

describe("node-scheduler behind an engine sending malformed numbers", () => {
  let engine: FakeEngine;
  let node: RunningService;
  let client: ReturnType<typeof nodeClient>;

  beforeAll(async () => {
    engine = await new FakeEngine().start();
    node = await startNode(engine.url, ["--engine-retries", "2"], { name: "node-hostile-engine" });
    client = nodeClient(node.ports.grpc!);
  });
  afterAll(async () => {
    client?.close();
    await node?.stop();
    await engine?.stop();
  });

  it.each([
    ["a string", { prompt_tokens: 10, completion_tokens: "lots" }, /usage\.completion_tokens = "lots"/],
    ["-1", { prompt_tokens: 10, completion_tokens: -1 }, /usage\.completion_tokens = -1/],
    ["1.5", { prompt_tokens: 10, completion_tokens: 1.5 }, /usage\.completion_tokens = 1\.5/],
    ["2^40", { prompt_tokens: 2 ** 40, completion_tokens: 1 }, /usage\.prompt_tokens = 1099511627776/],
    [
      "cached > prompt",
      { prompt_tokens: 10, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 99 } },
      /cached_tokens = 99, more than usage\.prompt_tokens = 10/,
    ],
  ])(
    "usage with %s -> that turn fails INTERNAL naming the field (not retryable); later turns succeed",
    async (_what, usage, message) => {
      engine.badUsageNext.push(usage);
      const bad = terminal(
        await submit(client, chatTurn({ sessionId: "victim", expectedResponse: "a b c" })),
      );
      expect(bad?.$case).toBe("error");
      expect(bad?.$case === "error" && bad.value).toMatchObject({ code: "INTERNAL", retryable: false });
      expect(bad?.$case === "error" && bad.value.message).toMatch(message);
      // The same session and a new one both run to the end, and nothing stays reserved.
      for (const sessionId of ["victim", `other-${String(_what)}`]) {
        const ok = terminal(await submit(client, chatTurn({ sessionId, expectedResponse: "x y" })));
        expect(ok?.$case).toBe("finished");
      }
      const s = await status(client);
      expect(s.running).toBe(0);
      const gpu = s.kvTiers.find((t) => t.name === "gpu")!;
      expect(Number.isSafeInteger(gpu.usedTokens)).toBe(true);
      expect(gpu.usedTokens).toBeLessThanOrEqual(gpu.budgetTokens);
    },
  );

  it.each([
    [
      "json-200" as const,
      "engine answered 200 with content-type application/json, expected text/event-stream",
    ],
    [
      "endless-line" as const,
      /sent a malformed stream: server-sent-events line longer than 1048576 characters/,
    ],
  ])(
    "engine stream %s -> the turn fails INTERNAL at once with a precise message, not retried",
    async (kind, message) => {
      const calls = engine.generateCalls().length;
      engine.badStreamNext.push(kind);
      const t0 = performance.now();
      const bad = terminal(await submit(client, chatTurn({ sessionId: `stream-${kind}` })));
      expect(bad?.$case === "error" && bad.value).toMatchObject({ code: "INTERNAL", retryable: false });
      expect(bad?.$case === "error" && bad.value.message).toMatch(message);
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(engine.generateCalls().length - calls).toBe(1);
      const ok = terminal(await submit(client, chatTurn({ sessionId: `after-${kind}` })));
      expect(ok?.$case).toBe("finished");
    },
  );
});
