import type { ClusterStatusResponse, SchedulerServiceClient } from "@symphony/runtime";
import {
  bundlePath,
  spawnService,
  type RunningService,
  startMockVllm,
  startScheduler as startSchedulerBundle,
} from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTurn, schedulerClient, turn, type TurnResult } from "../client";

// Fault test: kill -9 the mock-vllm behind one of two node-schedulers mid-run.
// Its node must leave rotation (NOT_SERVING, draining heartbeats -> down at the scheduler), turns
// failing before any token must be placed on the other node, and every later turn must succeed.

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

function chatTurn(sessionId: string, turnIndex: number, maxOutputTokens: number) {
  return turn(sessionId, turnIndex, {
    messages: [{ role: 2, content: `Question ${turnIndex} of ${sessionId}: tell me about gRPC.` }],
    maxOutputTokens,
    ignoreEos: true,
  });
}

describe("real stack: the engine behind one of two nodes is killed mid-run", () => {
  const engines: RunningService[] = [];
  const nodes: RunningService[] = [];
  let scheduler: RunningService;
  let client: SchedulerServiceClient;

  beforeAll(async () => {
    scheduler = await startSchedulerBundle(
      [],
      ["--heartbeat-interval-ms", "200", "--heartbeat-timeout-ms", "8000"],
    );
    client = schedulerClient(scheduler.ports.grpc!);
    for (let i = 0; i < 2; i++)
      engines.push(await startMockVllm(["--time-scale", "5"], { name: `mock-vllm-${i}` }));
    for (let i = 0; i < 2; i++)
      nodes.push(
        await spawnService(
          `node-${i}`,
          bundlePath("node-scheduler"),
          [
            ...["--port", "0", "--metrics-port", "0", "--node-id", `node-${i}`],
            ...["--engine-url", `http://127.0.0.1:${engines[i]!.ports.http}/v1`],
            ...["--scheduler", `127.0.0.1:${scheduler.ports.grpc}`, "--register-retry-ms", "200"],
            ...["--engine-health-interval-ms", "200", "--engine-health-failures", "2"],
            ...["--engine-retries", "1", "--engine-retry-backoff-ms", "50"],
          ],
          ["grpc"],
        ),
      );
    await waitFor("two nodes up", async () => {
      const s = await clusterStatus(client);
      return s.nodes.filter((n) => n.state === "up").length === 2;
    });
  }, 120_000);

  afterAll(async () => {
    client?.close();
    for (const n of nodes) await n.stop();
    for (const e of engines) await e.stop();
    await scheduler?.stop();
  });

  it("failed turns are at most those in flight; the node leaves rotation; every later turn succeeds", async () => {
    const sessions = Array.from({ length: 8 }, (_, i) => `k${i}`);
    const first = await Promise.all(
      sessions.map((s) => runTurn(client, chatTurn(s, 0, 4), { timeoutMs: 30_000 })),
    );
    const home = new Map(sessions.map((s, i) => [s, first[i]!.nodeId!]));
    expect(first.every((r) => r.error === undefined && r.status === undefined)).toBe(true);
    expect(new Set(home.values()).size).toBe(2);
    const victim = "node-0";

    // Long turns everywhere; kill -9 the victim's engine once one of its turns streams.
    let killed = false;
    const inFlight = await Promise.all(
      sessions.map((s) =>
        runTurn(client, chatTurn(s, 1, 200), {
          timeoutMs: 60_000,
          onEvent: (ev) => {
            if (!killed && home.get(s) === victim && ev.event?.$case === "token") {
              killed = true;
              void engines[0]!.kill();
            }
          },
        }),
      ),
    );
    expect(killed).toBe(true);
    const failed = inFlight.filter((r) => r.error !== undefined || r.status !== undefined);
    // Only turns that were on the victim when its engine died may fail, each with a clear error.
    expect(failed.length).toBeLessThanOrEqual(sessions.filter((s) => home.get(s) === victim).length);
    for (const r of failed)
      expect(r.error?.message ?? r.status?.details).toMatch(/engine|unreachable|node-0/);

    await waitFor("node-0 out of rotation", async () => {
      const n = (await clusterStatus(client)).nodes.find((v) => v.nodeId === victim);
      return n?.state === "down";
    });

    // Every later turn of every session succeeds, on the surviving node.
    for (let t = 2; t <= 3; t++) {
      const later: TurnResult[] = await Promise.all(
        sessions.map((s) => runTurn(client, chatTurn(s, t, 4), { timeoutMs: 30_000 })),
      );
      for (const r of later) {
        expect(r.error).toBeUndefined();
        expect(r.status).toBeUndefined();
        expect(r.nodeId).toBe("node-1");
      }
    }
    const victimLogs = nodes[0]!.logs.map((l) => String(l.message));
    expect(victimLogs).toContain("engine unhealthy: NOT_SERVING and draining");
  });
});
