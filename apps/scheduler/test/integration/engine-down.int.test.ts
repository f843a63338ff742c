import type { ClusterStatusResponse, NodeView, SchedulerServiceClient } from "@symphony/runtime";
import { type RunningService, startScheduler as startSchedulerBundle } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTurn, schedulerClient, turn } from "../client";
import { FakeNode } from "../fake-node";

// A node whose engine is unreachable: its turns fail retryably before any
// token, and it reports NOT_SERVING with draining heartbeats. The scheduler must place those turns
// on another node and take the node out of rotation until it serves again.

function clusterStatus(client: SchedulerServiceClient): Promise<ClusterStatusResponse> {
  return new Promise((resolve, reject) =>
    client.clusterStatus({}, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

async function view(client: SchedulerServiceClient, nodeId: string): Promise<NodeView | undefined> {
  return (await clusterStatus(client)).nodes.find((n) => n.nodeId === nodeId);
}

async function waitFor(what: string, pred: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("scheduler with a node whose engine goes down", () => {
  let sick: FakeNode;
  let well: FakeNode;
  let svc: RunningService;
  let client: SchedulerServiceClient;

  beforeAll(async () => {
    sick = await FakeNode.start({ nodeId: "sick", tokens: 3, tokenDelayMs: 2 });
    well = await FakeNode.start({ nodeId: "well", tokens: 3, tokenDelayMs: 2 });
    svc = await startSchedulerBundle(
      [],
      ["--heartbeat-interval-ms", "100", "--heartbeat-timeout-ms", "3000"],
      { name: "scheduler-engine-down" },
    );
    client = schedulerClient(svc.ports.grpc!);
    for (const n of [sick, well]) await n.registerWith(`127.0.0.1:${svc.ports.grpc}`);
    await waitFor("both nodes up", async () => {
      const nodes = (await clusterStatus(client)).nodes;
      return nodes.filter((n) => n.state === "up").length === 2;
    });
  });
  afterAll(async () => {
    client?.close();
    await svc?.stop();
    await Promise.all([sick?.stop(), well?.stop()]);
  });

  it("engine down, node not yet NOT_SERVING -> its sessions' turns are placed on the other node and succeed, the client sees one Started", async () => {
    const sessions = Array.from({ length: 8 }, (_, i) => `s${i}`);
    const homes = new Map<string, string>();
    for (const s of sessions) homes.set(s, (await runTurn(client, turn(s, 0))).nodeId!);
    const onSick = sessions.filter((s) => homes.get(s) === "sick");
    expect(onSick.length).toBeGreaterThan(0);

    sick.engineDown = true;
    for (const s of onSick) {
      const r = await runTurn(client, turn(s, 1));
      expect(r.status).toBeUndefined();
      expect(r.error).toBeUndefined();
      expect(r.nodeId).toBe("well");
      expect(r.text).toBe("t0 t1 t2 ");
      expect(r.events.filter((e) => e.event?.$case === "started")).toHaveLength(1);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${svc.ports.metrics}/metrics`)).text();
    expect(metrics).toMatch(/scheduler_turns_redispatched_total\{code="UNAVAILABLE"\} [1-9]/);
  });

  it("NOT_SERVING with draining heartbeats -> down and kept down (no turn reaches it); serving again -> up", async () => {
    sick.setServing(false);
    sick.draining = true;
    await waitFor("sick down", async () => (await view(client, "sick"))?.state === "down");
    // Heartbeats keep arriving while it is down: it must stay down.
    await new Promise((r) => setTimeout(r, 600));
    expect(await view(client, "sick")).toMatchObject({ state: "down" });
    const before = sick.requests.length;
    for (let i = 0; i < 6; i++) {
      const r = await runTurn(client, turn(`new-${i}`, 0));
      expect(r.error).toBeUndefined();
      expect(r.nodeId).toBe("well");
    }
    expect(sick.requests.length).toBe(before);

    sick.engineDown = false;
    sick.setServing(true);
    sick.draining = false;
    await waitFor("sick up again", async () => (await view(client, "sick"))?.state === "up");
  });
});
