import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ClusterStatusResponse, SchedulerServiceClient } from "@symphony/runtime";
import {
  repoRoot,
  type RunningService,
  startNode,
  startMockVllm,
  startScheduler as startSchedulerBundle,
} from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTurn, schedulerClient, turn, type TurnResult } from "../client";

// The real stack: 3 mock-vllm engines, 3 node-schedulers registering with the scheduler bundle.
const bundlesBuilt = ["scheduler", "node-scheduler", "mock-vllm"].every((app) =>
  existsSync(join(repoRoot, "dist", "apps", app, "main.js")),
);

function clusterStatus(client: SchedulerServiceClient): Promise<ClusterStatusResponse> {
  return new Promise((resolve, reject) =>
    client.clusterStatus({}, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

async function waitFor(what: string, pred: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function upNodes(client: SchedulerServiceClient): Promise<string[]> {
  return (await clusterStatus(client)).nodes.filter((n) => n.state === "up").map((n) => n.nodeId);
}

/** Every turn of a session carries the whole conversation so far, as a real client does. */
function chatTurn(sessionId: string, turnIndex: number, history: string[], maxOutputTokens = 8) {
  const messages = history.map((content, i) => ({ role: i % 2 === 0 ? 2 : 3, content }));
  messages.push({ role: 2, content: `Question ${turnIndex} of ${sessionId}: tell me about gRPC.` });
  return turn(sessionId, turnIndex, { messages, maxOutputTokens, ignoreEos: true });
}

describe.skipIf(!bundlesBuilt)("real stack: scheduler + 3 node-schedulers + 3 mock-vllm", () => {
  const engines: RunningService[] = [];
  const nodes = new Map<string, RunningService>();
  let scheduler: RunningService;
  let client: SchedulerServiceClient;

  const addNode = async (nodeId: string, engine: RunningService) => {
    const svc = await startNode(
      `http://127.0.0.1:${engine.ports.http}/v1`,
      ["--node-id", nodeId, "--scheduler", `127.0.0.1:${scheduler.ports.grpc}`, "--register-retry-ms", "200"],
      { name: nodeId },
    );
    nodes.set(nodeId, svc);
    return svc;
  };

  beforeAll(async () => {
    scheduler = await startSchedulerBundle(
      [],
      [
        "--heartbeat-interval-ms",
        "500",
        // Generous: this machine is shared and heavily loaded; a killed node is detected by its
        // broken connection, not by the timeout.
        "--heartbeat-timeout-ms",
        "8000",
      ],
    );
    client = schedulerClient(scheduler.ports.grpc!);
    for (let i = 0; i < 3; i++)
      engines.push(
        await startMockVllm(["--time-scale", "5", "--kv-connector", "--enable-prompt-tokens-details"], {
          name: `mock-vllm-${i}`,
        }),
      );
    for (let i = 0; i < 3; i++) await addNode(`node-${i}`, engines[i]!);
    await waitFor("three registered nodes", async () => (await upNodes(client)).length === 3);
  }, 120_000);

  afterAll(async () => {
    client?.close();
    for (const n of nodes.values()) await n.stop();
    for (const e of engines) await e.stop();
    await scheduler?.stop();
  });

  it("sessions stick; killing a node fails its in-flight turns clearly, later turns succeed elsewhere; a restarted node rejoins", async () => {
    const sessions = Array.from({ length: 9 }, (_, i) => `real-${i}`);
    const history = new Map<string, string[]>(sessions.map((s) => [s, []]));
    const record = (s: string, r: TurnResult, t: number) => {
      const h = history.get(s)!;
      h.push(`Question ${t} of ${s}: tell me about gRPC.`, r.text);
    };

    const first = await Promise.all(
      sessions.map((s) => runTurn(client, chatTurn(s, 0, []), { timeoutMs: 30_000 })),
    );
    const home = new Map<string, string>();
    for (const [i, s] of sessions.entries()) {
      expect(first[i]!.error).toBeUndefined();
      expect(first[i]!.status).toBeUndefined();
      home.set(s, first[i]!.nodeId!);
      record(s, first[i]!, 0);
    }
    expect(new Set(home.values()).size).toBe(3);

    const second = await Promise.all(
      sessions.map((s) => runTurn(client, chatTurn(s, 1, history.get(s)!), { timeoutMs: 30_000 })),
    );
    for (const [i, s] of sessions.entries()) {
      expect(second[i]!.nodeId).toBe(home.get(s)); // sticky
      record(s, second[i]!, 1);
    }

    // Long turns; kill the victim node-scheduler once one of its sessions is streaming.
    const victim = "node-0";
    let killed = false;
    const third = await Promise.all(
      sessions.map((s) =>
        runTurn(client, chatTurn(s, 2, history.get(s)!, 400), {
          timeoutMs: 60_000,
          onEvent: (ev) => {
            if (!killed && home.get(s) === victim && ev.event?.$case === "token") {
              killed = true;
              void nodes.get(victim)!.kill();
            }
          },
        }),
      ),
    );
    expect(killed).toBe(true);
    let victimFailures = 0;
    for (const [i, s] of sessions.entries()) {
      const r = third[i]!;
      expect(r.status).toBeUndefined();
      if (home.get(s) === victim && r.error !== undefined) {
        // It had streamed output when its node died: it fails clearly (never resent: no duplicates).
        expect(r.error.code).toBe("UNAVAILABLE");
        expect(r.error.message).toContain(victim);
        victimFailures++;
      } else if (home.get(s) === victim) {
        // Nothing of it had reached the client yet: placed on another node and completed there.
        expect(r.nodeId).not.toBe(victim);
        record(s, r, 2);
      } else {
        expect(r.error).toBeUndefined();
        record(s, r, 2);
      }
    }

    // The session whose first token triggered the kill was streaming: at least it failed.
    expect(victimFailures).toBeGreaterThan(0);

    for (let t = 3; t < 5; t++) {
      const results = await Promise.all(
        sessions.map((s) => runTurn(client, chatTurn(s, t, history.get(s)!), { timeoutMs: 30_000 })),
      );
      for (const [i, s] of sessions.entries()) {
        const r = results[i]!;
        expect(r.error).toBeUndefined();
        expect(r.status).toBeUndefined();
        expect(r.nodeId).not.toBe(victim);
        if (home.get(s) !== victim) expect(r.nodeId).toBe(home.get(s));
        record(s, r, t);
      }
    }
    const metrics = await (await fetch(`http://127.0.0.1:${scheduler.ports.metrics}/metrics`)).text();
    const failovers = metrics
      .split("\n")
      .filter((l) => l.startsWith("scheduler_failovers_total{"))
      .reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
    expect(failovers).toBe(sessions.filter((s) => home.get(s) === victim).length);

    // Restart the victim (same id, new port): it registers again and receives new sessions.
    await addNode(victim, engines[0]!);
    await waitFor("restarted node up", async () => (await upNodes(client)).includes(victim));
    const fresh = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        runTurn(client, chatTurn(`fresh-${i}`, 0, []), { timeoutMs: 30_000 }),
      ),
    );
    expect(fresh.every((r) => r.error === undefined && r.status === undefined)).toBe(true);
    expect(fresh.some((r) => r.nodeId === victim)).toBe(true);
  });
});
