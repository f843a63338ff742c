import { silentLogger } from "@symphony/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTurn, schedulerClient, turn } from "../test/client";
import { FakeNode } from "../test/fake-node";
import { startScheduler, type RunningScheduler } from "./app";
import { parseConfig } from "./config";

/**
 * The scheduler in process on port 0 over in-process fake nodes: the relay and TurnPlacement
 * through real gRPC, without a built bundle.
 */
describe("scheduler app (in process, gRPC on port 0, fake nodes)", () => {
  let nodes: FakeNode[];
  let scheduler: RunningScheduler;
  let client: ReturnType<typeof schedulerClient>;

  beforeAll(async () => {
    nodes = await Promise.all(["a", "b"].map((nodeId) => FakeNode.start({ nodeId, tokens: 3 })));
    const config = parseConfig([
      ...["--port", "0", "--metrics-port", "0", "--nodes", nodes.map((n) => n.address).join(",")],
      ...["--poll-interval-ms", "100", "--heartbeat-timeout-ms", "4000"],
    ]);
    scheduler = await startScheduler(config, silentLogger());
    client = schedulerClient(scheduler.grpcPort);
    // Static nodes are up once polled.
    for (let i = 0; i < 100 && !nodes.every((n) => scheduler.router.registry.get(n.nodeId)?.up); i++)
      await new Promise((r) => setTimeout(r, 20));
  });
  afterAll(async () => {
    client?.close();
    await scheduler?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it("a session's turns -> relayed from one node, started to finished, and the router's bookkeeping ends", async () => {
    const first = await runTurn(client, turn("s1", 0));
    const second = await runTurn(client, turn("s1", 1));
    expect(first.error).toBeUndefined();
    expect(first.events.map((e) => e.event?.$case)).toEqual([
      "started",
      "token",
      "token",
      "token",
      "finished",
    ]);
    expect(second.nodeId).toBe(first.nodeId);
    expect(scheduler.router.sessions.get("s1")?.inFlight).toBe(0);
  });

  it("the session's node fails before any output -> the turn is placed on the other node; the client sees one Started", async () => {
    const home = (await runTurn(client, turn("s2", 0))).nodeId!;
    const homeNode = nodes.find((n) => n.nodeId === home)!;
    homeNode.engineDown = true;
    try {
      const moved = await runTurn(client, turn("s2", 1));
      expect(moved.error).toBeUndefined();
      expect(moved.nodeId).not.toBe(home);
      expect(moved.events.filter((e) => e.event?.$case === "started")).toHaveLength(1);
      expect(scheduler.router.sessions.get("s2")?.nodeId).toBe(moved.nodeId);
    } finally {
      homeNode.engineDown = false;
    }
  });

  it("metrics port -> the redispatch counted under the node's error code", async () => {
    const text = await (await fetch(`http://127.0.0.1:${scheduler.metricsPort}/metrics`)).text();
    expect(text).toMatch(/^scheduler_turns_redispatched_total\{code="UNAVAILABLE"\} 1$/m);
  });
});

describe("scheduler app, kv-aware (in process)", () => {
  it("a long conversation -> its prompt blocks reach the router, and the next turn lands where they were sent", async () => {
    const nodes = await Promise.all(["k1", "k2"].map((nodeId) => FakeNode.start({ nodeId, tokens: 1 })));
    const config = parseConfig([
      ...["--port", "0", "--metrics-port", "0", "--nodes", nodes.map((n) => n.address).join(",")],
      ...["--policy", "kv-aware", "--poll-interval-ms", "100"],
    ]);
    const scheduler = await startScheduler(config, silentLogger());
    const client = schedulerClient(scheduler.grpcPort);
    try {
      for (let i = 0; i < 100 && !nodes.every((n) => scheduler.router.registry.get(n.nodeId)?.up); i++)
        await new Promise((r) => setTimeout(r, 20));
      const history = [{ role: 2, content: "q".repeat(3000) }];
      const first = await runTurn(client, turn("kv", 0, { messages: history }));
      expect(scheduler.router.sessions.get("kv")?.lastBlockHashes.length).toBeGreaterThan(0);
      const next = [...history, { role: 3, content: "a".repeat(500) }, { role: 2, content: "more" }];
      const second = await runTurn(client, turn("kv", 1, { messages: next }));
      expect(second.nodeId).toBe(first.nodeId);
    } finally {
      client.close();
      await scheduler.stop();
      await Promise.all(nodes.map((n) => n.stop()));
    }
  });
});
