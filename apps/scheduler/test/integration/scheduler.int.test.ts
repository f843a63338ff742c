import * as grpc from "@grpc/grpc-js";
import type { ClusterStatusResponse, InferenceEvent, SchedulerServiceClient } from "@symphony/runtime";
import { type RunningService, startScheduler as startSchedulerBundle } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTurn, schedulerClient, turn } from "../client";
import { FakeNode } from "../fake-node";

const FAST_MEMBERSHIP = [
  "--poll-interval-ms",
  "100",
  "--heartbeat-interval-ms",
  "200",
  "--heartbeat-timeout-ms",
  "4000",
];

function clusterStatus(client: SchedulerServiceClient): Promise<ClusterStatusResponse> {
  return new Promise((resolve, reject) =>
    client.clusterStatus({}, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

/** Polls until `pred` holds (bounded: fails after `timeoutMs`). */
async function waitFor(
  what: string,
  pred: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function upNodes(client: SchedulerServiceClient): Promise<string[]> {
  const s = await clusterStatus(client);
  return s.nodes.filter((n) => n.state === "up").map((n) => n.nodeId);
}

/**
 * The scheduler bundle over `nodes` (static membership, fast health checks), once every node
 * is up. If they never come up, the scheduler is stopped before the error is rethrown.
 */
async function startScheduler(
  nodes: readonly FakeNode[],
  name = "scheduler",
  extraArgs: readonly string[] = [],
): Promise<{ svc: RunningService; client: SchedulerServiceClient }> {
  const svc = await startSchedulerBundle(
    nodes.map((n) => n.address),
    [...extraArgs, ...FAST_MEMBERSHIP],
    { name: name },
  );
  const client = schedulerClient(svc.ports.grpc!);
  try {
    const ids = nodes.map((n) => n.nodeId).join(", ");
    await waitFor(`${ids} up`, async () => (await upNodes(client)).length === nodes.length);
  } catch (err) {
    client.close();
    await svc.stop();
    throw err;
  }
  return { svc, client };
}

async function metricsText(svc: RunningService): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${svc.ports.metrics}/metrics`);
  return res.text();
}

/** Sum of a counter's samples whose labels contain `labelFilter` (a substring of the label set). */
function counter(text: string, name: string, labelFilter = ""): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      if (labelFilter && !line.includes(labelFilter)) continue;
      sum += Number(line.split(" ").pop());
    }
  }
  return sum;
}

describe("scheduler with three static nodes", () => {
  let nodes: FakeNode[];
  let svc: RunningService;
  let client: SchedulerServiceClient;

  beforeAll(async () => {
    nodes = await Promise.all(
      ["n1", "n2", "n3"].map((nodeId) => FakeNode.start({ nodeId, tokens: 4, tokenDelayMs: 5 })),
    );
    ({ svc, client } = await startScheduler(nodes));
  });

  afterAll(async () => {
    client?.close();
    await svc?.stop();
    await Promise.all((nodes ?? []).map((n) => n.stop()));
  });

  it("turns of a session, several turns -> all stream from the same node and new sessions spread", async () => {
    const homes = new Map<string, Set<string>>();
    for (let t = 0; t < 3; t++) {
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, s) =>
          runTurn(client, turn(`sticky-${s}`, t)).then((r) => [s, r] as const),
        ),
      );
      for (const [s, r] of results) {
        expect(r.status).toBeUndefined();
        expect(r.error).toBeUndefined();
        expect(r.text).toBe("t0 t1 t2 t3 ");
        const set = homes.get(`sticky-${s}`) ?? new Set();
        set.add(r.nodeId!);
        homes.set(`sticky-${s}`, set);
      }
    }
    for (const set of homes.values()) expect(set.size).toBe(1);
    const used = new Set([...homes.values()].map((s) => [...s][0]));
    expect(used.size).toBe(3);
  });

  it.each([
    ["missing session id", { sessionId: "" }, "session_id"],
    ["zero max_output_tokens", { maxOutputTokens: 0 }, "max_output_tokens"],
    ["negative max_output_tokens sent as uint32", { maxOutputTokens: 4294967295 }, "max_output_tokens"],
    ["neither messages nor prompt", { messages: [], prompt: "" }, "messages/prompt"],
    [
      "100,000 messages (over --max-messages)",
      { messages: Array.from({ length: 100_000 }, () => ({ role: 2, content: "hi" })) },
      "messages: 100000 messages, more than this scheduler's --max-messages 10000",
    ],
    [
      "5 MB of prompt text (over --max-prompt-bytes)",
      { messages: [], prompt: "x".repeat(5_000_000) },
      "prompt: more than 4194304 bytes of text",
    ],
  ])("malformed request, %s -> INVALID_ARGUMENT naming the field", async (_name, patch, field) => {
    const r = await runTurn(client, turn("bad", 0, patch));
    expect(r.status?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.status?.details).toContain(field);
  });

  it("client cancels mid-stream -> the node's call is cancelled too", async () => {
    const slow = await FakeNode.start({ nodeId: "slow", tokens: 200, tokenDelayMs: 20 });
    // A separate scheduler with just the slow node, so routing is certain.
    const { svc: s2, client: c2 } = await startScheduler([slow], "scheduler-cancel");
    try {
      let tokens = 0;
      const r = await runTurn(c2, turn("cancel-me", 0), {
        onEvent: (ev, call) => {
          if (ev.event?.$case === "token" && ++tokens === 2) call.cancel();
        },
      });
      expect(r.status?.code).toBe(grpc.status.CANCELLED);
      await waitFor("node saw the cancellation", () => slow.cancelled === 1, 5000);
    } finally {
      c2.close();
      await s2.stop();
      await slow.stop();
    }
  });

  it("client stops reading a big stream -> the node is held back (back-pressure), then every token arrives in order", async () => {
    const tokens = 400;
    const big = await FakeNode.start({ nodeId: "big", tokens, tokenPadding: 50_000 }); // ~20 MB in all
    const { svc: s2, client: c2 } = await startScheduler([big], "scheduler-backpressure");
    try {
      const call = c2.submit(turn("big-stream", 0), { deadline: new Date(Date.now() + 30_000) });
      const received: string[] = [];
      let paused = false;
      const ended = new Promise<void>((resolve, reject) => {
        call.on("data", (ev: InferenceEvent) => {
          if (ev.event?.$case === "token") received.push(ev.event.value.text.trim());
          if (!paused) {
            paused = true;
            call.pause();
          }
        });
        call.on("end", () => resolve());
        call.on("error", reject);
      });
      await waitFor("the stream to start", () => paused);
      // Held back, the node stops writing once the buffers between it and the client are full
      // (flow-control windows and socket buffers: ~1 MB here, 21 of the 50 kB events); without
      // back-pressure it writes all 400, however slowly. Bounded: at most 20 s of half-second looks.
      let written = -1;
      let stalled = false;
      for (let i = 0; i < 40 && !stalled && big.tokensWritten < tokens; i++) {
        written = big.tokensWritten;
        await new Promise((r) => setTimeout(r, 500));
        stalled = big.tokensWritten === written;
      }
      expect(stalled).toBe(true);
      expect(written).toBeLessThanOrEqual(100); // 5 MB: far below the 20 MB the node has
      call.resume();
      await ended;
      expect(received).toEqual(Array.from({ length: tokens }, (_, i) => `t${i}`));
    } finally {
      c2.close();
      await s2.stop();
      await big.stop();
    }
  });

  it("request deadline_ms shorter than the turn -> DEADLINE_EXCEEDED error event naming the deadline", async () => {
    // Each fake node takes >= 4 x 5 ms of token delays per turn.
    const r = await runTurn(client, turn("hurry", 0, { deadlineMs: 3 }));
    expect(r.status).toBeUndefined();
    expect(r.error?.code).toBe("DEADLINE_EXCEEDED");
    expect(r.error?.message).toContain("3 ms");
  });

  it("Advise for an unknown session -> its node gets the hint and the first turn lands there", async () => {
    const res = await new Promise<{ accepted: boolean; nodeId: string }>((resolve, reject) =>
      client.advise(
        {
          sessionId: "advised",
          clientId: "t",
          expectedArrivalMs: 100,
          expectedPromptTokens: 0,
          nextTurnIndex: 0,
        },
        (err, r) => (err ? reject(err) : resolve(r)),
      ),
    );
    expect(res.accepted).toBe(true);
    expect(nodes.find((n) => n.nodeId === res.nodeId)?.hints).toContain("advised");
    const r = await runTurn(client, turn("advised", 0));
    expect(r.nodeId).toBe(res.nodeId);
  });

  it("CloseSession -> forwarded to the session's node", async () => {
    const r = await runTurn(client, turn("to-close", 0));
    const res = await new Promise<{ released: boolean }>((resolve, reject) =>
      client.closeSession({ sessionId: "to-close" }, (err, x) => (err ? reject(err) : resolve(x))),
    );
    expect(res.released).toBe(true);
    expect(nodes.find((n) => n.nodeId === r.nodeId)?.closed).toContain("to-close");
  });

  it("admin port -> /status lists the nodes and /metrics counts routed requests per node", async () => {
    const status = (await (await fetch(`http://127.0.0.1:${svc.ports.metrics}/status`)).json()) as {
      nodes: { nodeId: string; state: string }[];
    };
    expect(status.nodes.map((n) => n.nodeId).sort()).toEqual(["n1", "n2", "n3"]);
    const text = await metricsText(svc);
    for (const n of nodes)
      expect(counter(text, "scheduler_requests_routed_total", `node="${n.nodeId}"`)).toBeGreaterThan(0);
    expect(counter(text, "scheduler_route_decisions_total", 'reason="sticky"')).toBeGreaterThan(0);
  });
});

describe("failover and rejoin", () => {
  let nodes: FakeNode[];
  let svc: RunningService;
  let client: SchedulerServiceClient;

  beforeAll(async () => {
    nodes = await Promise.all(
      ["a", "b", "c"].map((nodeId) => FakeNode.start({ nodeId, tokens: 5, tokenDelayMs: 10 })),
    );
    ({ svc, client } = await startScheduler(nodes));
  });

  afterAll(async () => {
    client?.close();
    await svc?.stop();
    await Promise.all((nodes ?? []).map((n) => n.stop()));
  });

  it("a node dies mid-run -> in-flight turns fail with UNAVAILABLE, later turns succeed elsewhere, a restarted node rejoins", async () => {
    const sessions = Array.from({ length: 9 }, (_, i) => `fo-${i}`);
    const first = await Promise.all(sessions.map((s) => runTurn(client, turn(s, 0))));
    const home = new Map(sessions.map((s, i) => [s, first[i]!.nodeId!]));
    const victim = nodes[0]!;
    const victimSessions = sessions.filter((s) => home.get(s) === victim.nodeId);
    expect(victimSessions.length).toBeGreaterThan(0);

    // Start turn 1 of every session; kill the victim once its turns are streaming.
    let killed = false;
    const second = await Promise.all(
      sessions.map((s) =>
        runTurn(client, turn(s, 1), {
          onEvent: (ev) => {
            if (!killed && home.get(s) === victim.nodeId && ev.event?.$case === "token") {
              killed = true;
              victim.kill();
            }
          },
        }),
      ),
    );
    for (const [i, s] of sessions.entries()) {
      const r = second[i]!;
      expect(r.status).toBeUndefined(); // never a hang or a bare status: a clear event
      if (home.get(s) === victim.nodeId && r.error) {
        expect(r.error.code).toBe("UNAVAILABLE");
        expect(r.error.message).toContain(victim.nodeId);
        expect(r.error.retryable).toBe(true);
      } else {
        expect(r.error).toBeUndefined();
      }
    }
    expect(second.some((r) => r.error?.code === "UNAVAILABLE")).toBe(true);

    // Every later turn succeeds; the victim's sessions moved to the survivors.
    for (let t = 2; t < 4; t++) {
      const results = await Promise.all(sessions.map((s) => runTurn(client, turn(s, t))));
      for (const [i, s] of sessions.entries()) {
        const r = results[i]!;
        expect(r.error).toBeUndefined();
        expect(r.status).toBeUndefined();
        expect(r.nodeId).not.toBe(victim.nodeId);
        if (home.get(s) !== victim.nodeId) expect(r.nodeId).toBe(home.get(s));
      }
    }
    const text = await metricsText(svc);
    expect(counter(text, "scheduler_failovers_total")).toBe(victimSessions.length);

    // Restart the victim at the same address: it rejoins and receives new sessions.
    const restarted = await FakeNode.start({ nodeId: victim.nodeId, port: victim.port, tokens: 2 });
    nodes[0] = restarted;
    await waitFor("restarted node up", async () => (await upNodes(client)).includes(victim.nodeId));
    const fresh = await Promise.all(
      Array.from({ length: 6 }, (_, i) => runTurn(client, turn(`after-restart-${i}`, 0))),
    );
    expect(fresh.every((r) => r.error === undefined)).toBe(true);
    expect(fresh.some((r) => r.nodeId === victim.nodeId)).toBe(true);
  });
});

describe("a single failed relay", () => {
  let nodes: FakeNode[];
  let svc: RunningService;
  let client: SchedulerServiceClient;

  beforeAll(async () => {
    nodes = await Promise.all(["p", "q"].map((nodeId) => FakeNode.start({ nodeId, tokens: 2 })));
    ({ svc, client } = await startScheduler(nodes));
  });

  afterAll(async () => {
    client?.close();
    await svc?.stop();
    await Promise.all((nodes ?? []).map((n) => n.stop()));
  });

  it("one Submit fails UNAVAILABLE on a healthy node -> turn placed elsewhere, node stays up for its other sessions", async () => {
    const sessions = ["one-0", "one-1", "one-2", "one-3"];
    const first = await Promise.all(sessions.map((s) => runTurn(client, turn(s, 0))));
    const home = new Map(sessions.map((s, i) => [s, first[i]!.nodeId!]));
    const flaky = nodes.find((n) => [...home.values()].includes(n.nodeId))!;
    const [victim, ...others] = sessions.filter((s) => home.get(s) === flaky.nodeId);

    flaky.failNextSubmits = 1;
    const retried = await runTurn(client, turn(victim!, 1));
    expect(retried.error).toBeUndefined();
    expect(retried.nodeId).not.toBe(flaky.nodeId);

    // Not marked down on one failure: still up, and its other sessions keep landing there.
    await new Promise((r) => setTimeout(r, 300)); // a few poll rounds
    expect(await upNodes(client)).toContain(flaky.nodeId);
    for (const s of others) expect((await runTurn(client, turn(s, 1))).nodeId).toBe(flaky.nodeId);
    expect(counter(await metricsText(svc), "scheduler_failovers_total")).toBe(1);
  });
});

describe("rebalancing", () => {
  it("a node reports KV overload -> its idle sessions move (counted, old node told to release), next turns land elsewhere", async () => {
    const hot = await FakeNode.start({ nodeId: "hot", tokens: 2 });
    const { svc, client: c } = await startScheduler([hot], "scheduler-rebalance", [
      "--rebalance-interval-ms",
      "200",
    ]);
    let cool: FakeNode | undefined;
    try {
      const sessions = ["rb-0", "rb-1", "rb-2"];
      for (const s of sessions) expect((await runTurn(c, turn(s, 0))).nodeId).toBe("hot");
      // A second node joins, then the first one reports its GPU KV nearly full.
      cool = await FakeNode.start({ nodeId: "cool", tokens: 2 });
      await cool.registerWith(`127.0.0.1:${svc.ports.grpc}`);
      hot.load.kvUsedTokens = 99_000; // of 100,000
      await waitFor(
        "sessions moved",
        async () => counter(await metricsText(svc), "scheduler_sessions_moved_total") >= 1,
      );
      await waitFor("hot told to release", () => hot.closed.length >= 1);
      const moved = hot.closed.filter((s) => sessions.includes(s));
      expect(moved.length).toBeGreaterThan(0);
      for (const s of moved) expect((await runTurn(c, turn(s, 1))).nodeId).toBe("cool");
    } finally {
      c.close();
      await svc.stop();
      await hot.stop();
      await cool?.stop();
    }
  });
});

describe("dynamic registration", () => {
  let svc: RunningService;
  let client: SchedulerServiceClient;
  const nodes: FakeNode[] = [];

  beforeAll(async () => {
    svc = await startSchedulerBundle([], ["--wait-for-node-ms", "0", ...FAST_MEMBERSHIP]);
    client = schedulerClient(svc.ports.grpc!);
  });

  afterAll(async () => {
    client?.close();
    await svc?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
  });

  it("no nodes at all -> an UNAVAILABLE error event saying none are known, not a hang", async () => {
    const r = await runTurn(client, turn("lonely", 0));
    expect(r.error?.code).toBe("UNAVAILABLE");
    expect(r.error?.message).toContain("no nodes known");
  });

  it("registered nodes get sessions; one that stops heartbeating is marked down and its sessions move", async () => {
    for (const nodeId of ["r1", "r2"]) {
      const n = await FakeNode.start({ nodeId, tokens: 2 });
      await n.registerWith(`127.0.0.1:${svc.ports.grpc}`);
      nodes.push(n);
    }
    await waitFor("two registered nodes up", async () => (await upNodes(client)).length === 2);
    const r = await runTurn(client, turn("dyn", 0));
    expect(r.error).toBeUndefined();
    const home = nodes.find((n) => n.nodeId === r.nodeId)!;
    home.stopHeartbeats(); // alive but silent: the heartbeat timeout must catch it
    await waitFor("silent node down", async () => !(await upNodes(client)).includes(home.nodeId), 12_000);
    const r2 = await runTurn(client, turn("dyn", 1));
    expect(r2.error).toBeUndefined();
    expect(r2.nodeId).not.toBe(home.nodeId);
  });
});

describe("a turn arriving while no node is up (a scheduler just restarted)", () => {
  let svc: RunningService;
  let client: SchedulerServiceClient;
  let node: FakeNode | undefined;

  beforeAll(async () => {
    svc = await startSchedulerBundle([], ["--wait-for-node-ms", "3000", ...FAST_MEMBERSHIP]);
    client = schedulerClient(svc.ports.grpc!);
  });

  afterAll(async () => {
    client?.close();
    await svc?.stop();
    await node?.stop();
  });

  it("no node registers within --wait-for-node-ms -> UNAVAILABLE after waiting, not at once", async () => {
    const t0 = performance.now();
    const r = await runTurn(client, turn("early", 0));
    expect(r.error?.code).toBe("UNAVAILABLE");
    expect(performance.now() - t0).toBeGreaterThan(2500);
  });

  it("a node registers while the turn waits -> the turn runs there", async () => {
    const pending = runTurn(client, turn("patient", 0));
    await new Promise((r) => setTimeout(r, 500));
    node = await FakeNode.start({ nodeId: "late", tokens: 2 });
    await node.registerWith(`127.0.0.1:${svc.ports.grpc}`);
    const r = await pending;
    expect(r.error).toBeUndefined();
    expect(r.nodeId).toBe("late");
  });
});
