import { rngFor, VirtualTimers } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { NO_LOAD } from "./node-registry";
import { createPolicy, type PolicyName } from "./policies";
import { prefixBlocks } from "./prefix-index";
import { DEFAULT_REBALANCE_PARAMS } from "./rebalancer";
import { Router, type RouterListener } from "./router";

function setup(policy: PolicyName = "session-affinity", listener: RouterListener = {}) {
  const timers = new VirtualTimers();
  const router = new Router(timers, rngFor(1, "router-test"), createPolicy(policy), {
    heartbeatTimeoutUs: 3_000_000,
    rebalanceIntervalUs: 1_000_000,
    rebalance: DEFAULT_REBALANCE_PARAMS,
    sessionTtlUs: 60_000_000,
    prefixBlockChars: 16,
    prefixCapacityBlocksPerNode: 1000,
  });
  router.setListener(listener);
  for (const id of ["a", "b", "c"]) router.registry.register(id, `${id}:1`);
  return { timers, router };
}

const turnOf = (sessionId: string, text = "") => ({
  sessionId,
  turnIndex: 0,
  promptTokens: 0,
  blocks: prefixBlocks(text, 16),
});

function place(router: Router, sessionId: string, text = ""): string {
  const out = router.route(turnOf(sessionId, text));
  if (!out.ok) throw new Error(out.message);
  return out.decision.nodeId;
}

describe("Router", () => {
  it("new sessions spread over idle nodes; later turns stick", () => {
    const { router } = setup();
    const homes = ["s1", "s2", "s3"].map((s) => place(router, s));
    expect(new Set(homes).size).toBe(3);
    expect(["s1", "s2", "s3"].map((s) => place(router, s))).toEqual(homes);
  });

  it("session-affinity, session's node draining -> later turns still stick to it (sticky fast path)", () => {
    const { router } = setup();
    const home = place(router, "s1");
    router.registry.heartbeat(home, NO_LOAD, true);
    const out = router.route(turnOf("s1"));
    expect(out.ok && out.decision).toMatchObject({ nodeId: home, reason: "sticky" });
    expect(place(router, "s2")).not.toBe(home); // a draining node gets no new session
  });

  it("new sub-agent session with a known parent -> lands on the parent's node, even when busier", () => {
    const { router } = setup();
    const parentHome = place(router, "agent-1");
    // Make the parent's node the busiest, so plain least-load placement would go elsewhere.
    router.turnStarted("agent-1", parentHome, prefixBlocks("", 16));
    const placements = ["agent-1/sub-0", "agent-1/sub-1", "agent-1/sub-2"].map((id) => {
      const out = router.route({ ...turnOf(id), parentSessionId: "agent-1" });
      return out.ok && out.decision.nodeId;
    });
    expect(placements).toEqual([parentHome, parentHome, parentHome]);
    // Without the parent link the same kind of session spreads by load.
    expect(place(router, "unrelated")).not.toBe(parentHome);
  });

  it("session's node dies -> next turn elsewhere, reported as failover from that node", () => {
    const { router } = setup();
    const home = place(router, "s1");
    router.registry.markDown(home, "connection refused");
    const out = router.route(turnOf("s1"));
    expect(out.ok && out.decision.nodeId).not.toBe(home);
    expect(out.ok && out.failoverFrom).toBe(home);
    expect(out.ok && out.decision.reason).toBe("failover");
    const again = router.route(turnOf("s1"));
    expect(again.ok && again.failoverFrom).toBeUndefined();
  });

  it("every node down -> not ok, message names each node and why", () => {
    const { router } = setup();
    router.registry.markDown("a", "connection refused");
    router.registry.markDown("b", "connection refused");
    router.registry.heartbeat("c", NO_LOAD, true);
    const out = router.route(turnOf("s1"));
    expect(out.ok).toBe(false);
    expect(!out.ok && out.message).toMatch(
      /no usable node among 3 known: a down \(connection refused\).*c draining/,
    );
  });

  it("one relay failure -> node stays up; the failed turn is placed elsewhere and counted as a failover", () => {
    const { router } = setup();
    const home = place(router, "s1");
    expect(router.relayFailed(home, "UNAVAILABLE: reset")).toBe(false);
    expect(router.registry.get(home)?.up).toBe(true);
    const retry = router.route({ ...turnOf("s1"), avoidNodes: new Map([[home, "UNAVAILABLE: reset"]]) });
    expect(retry.ok && retry.decision.nodeId).not.toBe(home);
    expect(retry.ok && retry.failoverFrom).toBe(home);
    // Other sessions on that node keep it.
    expect(place(router, "s1")).toBe(retry.ok && retry.decision.nodeId);
  });

  it.each([
    [1, 1],
    [3, 3],
  ])("relayFailuresToDown %i -> node marked down by failure number %i in a row", (threshold, downAt) => {
    const timers = new VirtualTimers();
    const router = new Router(timers, rngFor(1, "x"), createPolicy("session-affinity"), {
      heartbeatTimeoutUs: 3_000_000,
      relayFailuresToDown: threshold,
      rebalanceIntervalUs: 0,
      rebalance: DEFAULT_REBALANCE_PARAMS,
      sessionTtlUs: 0,
      prefixBlockChars: 16,
      prefixCapacityBlocksPerNode: 10,
    });
    router.registry.register("a", "a:1");
    const downs = Array.from({ length: 4 }, () => router.relayFailed("a", "reset"));
    expect(downs.indexOf(true) + 1).toBe(downAt);
    expect(router.registry.get("a")?.downReason).toMatch(new RegExp(`^${downAt} relays failed in a row`));
  });

  it("relay failures separated by a finished turn -> not in a row, node stays up", () => {
    const { router } = setup();
    for (let i = 0; i < 5; i++) {
      router.relayFailed("a", "reset");
      router.relayFailed("a", "reset");
      router.registry.noteAlive("a");
    }
    expect(router.registry.get("a")?.up).toBe(true);
  });

  it("every node failed this turn -> not ok, message names the failures", () => {
    const { router } = setup();
    const avoid = new Map(["a", "b", "c"].map((id) => [id, `UNAVAILABLE at ${id}`]));
    const out = router.route({ ...turnOf("s1"), avoidNodes: avoid });
    expect(!out.ok && out.message).toMatch(/a failed this turn \(UNAVAILABLE at a\)/);
  });

  it("no nodes at all -> message says how to add some", () => {
    const timers = new VirtualTimers();
    const router = new Router(timers, rngFor(1, "x"), createPolicy("round-robin"), {
      heartbeatTimeoutUs: 1,
      rebalanceIntervalUs: 0,
      rebalance: DEFAULT_REBALANCE_PARAMS,
      sessionTtlUs: 0,
      prefixBlockChars: 16,
      prefixCapacityBlocksPerNode: 10,
    });
    const out = router.route(turnOf("s1"));
    expect(!out.ok && out.message).toMatch(/no nodes known/);
  });

  it("kv-aware, a new session sharing another's prefix -> lands with it", () => {
    const { router } = setup("kv-aware");
    const system = "You are a helpful assistant. ".repeat(10);
    const home = place(router, "s1", system + "first user");
    expect(place(router, "s2", system + "second user")).toBe(home);
  });

  it("kv-aware, the home engine reports the session's context evicted -> moves for load; held -> stays", () => {
    const { router } = setup("kv-aware");
    const text = "You are a helpful assistant. ".repeat(20);
    const home = place(router, "s1", text);
    // The home node is busy; the prefix index alone says its cache holds the whole prompt.
    const busy = { ...NO_LOAD, queueDepth: 20, running: 20 };
    const turn = { ...turnOf("s1", text + "next"), turnIndex: 1, promptTokens: 1000 };
    router.registry.heartbeat(home, busy, false);
    const estimated = router.route(turn);
    expect(estimated.ok && estimated.decision.nodeId).toBe(home);
    // The home engine's KV events say the session's context was evicted: moving costs nothing.
    router.registry.heartbeat(home, { ...busy, engineResidency: new Map([["s1", 0]]) }, false);
    const evicted = router.route(turn);
    expect(evicted.ok && evicted.decision).toMatchObject({ reason: "moved-for-load" });
    expect(evicted.ok && evicted.decision.nodeId).not.toBe(home);
    // Its new engine holds the context: the session stays there.
    const now = evicted.ok ? evicted.decision.nodeId : "";
    router.registry.heartbeat(now, { ...busy, engineResidency: new Map([["s1", 990]]) }, false);
    router.registry.heartbeat(home, { ...NO_LOAD, engineResidency: new Map() }, false);
    const held = router.route(turn);
    expect(held.ok && held.decision.nodeId).toBe(now);
  });

  it("Advise for an unknown session -> placed now; its first turn goes there", () => {
    const { router } = setup();
    place(router, "other");
    const target = router.nodeForSession("hinted", true);
    expect(target && "nodeId" in target).toBe(true);
    expect(place(router, "hinted")).toBe((target as { nodeId: string }).nodeId);
  });

  it("Advise for a session whose node died -> re-placed now and reported as a failover once", () => {
    const { router } = setup();
    const home = place(router, "s1");
    router.registry.markDown(home, "gone");
    const target = router.nodeForSession("s1", true) as { nodeId: string; failoverFrom?: string };
    expect(target.nodeId).not.toBe(home);
    expect(target.failoverFrom).toBe(home);
    const next = router.route(turnOf("s1"));
    expect(next.ok && next.failoverFrom).toBeUndefined();
    expect(next.ok && next.decision.nodeId).toBe(target.nodeId);
  });

  it("isLast turn ends -> session forgotten", () => {
    const { router } = setup();
    const home = place(router, "s1");
    router.turnStarted("s1", home, prefixBlocks("", 16));
    expect(router.registry.get(home)?.inFlight).toBe(1);
    router.turnEnded("s1", home, 100, true);
    expect(router.sessions.get("s1")).toBeUndefined();
    expect(router.registry.get(home)?.inFlight).toBe(0);
  });

  it("overloaded node at a rebalancing tick -> idle sessions moved and reported", () => {
    const moved: string[] = [];
    const { router, timers } = setup("session-affinity", {
      moved: (ms) => moved.push(...ms.map((m) => m.sessionId)),
    });
    router.start();
    const home = place(router, "s1");
    router.turnStarted("s1", home, prefixBlocks("", 16));
    router.turnEnded("s1", home, 5000, false);
    for (const id of ["a", "b", "c"])
      router.registry.heartbeat(
        id,
        { ...NO_LOAD, kvBudgetTokens: 10_000, kvUsedTokens: id === home ? 9500 : 0 },
        false,
      );
    timers.runUntil(1_000_000);
    expect(moved).toEqual(["s1"]);
    expect(router.sessions.get("s1")?.nodeId).not.toBe(home);
    router.stop();
  });

  it("idle session past its TTL -> expired and reported", () => {
    const expired: string[] = [];
    const { router, timers } = setup("session-affinity", {
      expired: (ss) => expired.push(...ss.map((s) => s.sessionId)),
    });
    router.start();
    place(router, "s1");
    // Keep the nodes alive meanwhile.
    for (let t = 1; t <= 80; t++) {
      timers.runUntil(t * 1_000_000);
      for (const id of ["a", "b", "c"]) router.registry.heartbeat(id, NO_LOAD, false);
    }
    expect(expired).toEqual(["s1"]);
    router.stop();
  });
});
