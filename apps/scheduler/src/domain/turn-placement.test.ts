import { rngFor, VirtualTimers } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { createPolicy, type PolicyName } from "./policies";
import { conversationText, prefixBlocks } from "./prefix-index";
import { DEFAULT_REBALANCE_PARAMS } from "./rebalancer";
import { Router } from "./router";
import { MAX_REPLACEMENTS, TurnPlacement, type TurnToPlace } from "./turn-placement";

function setup(policy: PolicyName = "session-affinity", nodes = ["a", "b", "c"]) {
  const timers = new VirtualTimers();
  const router = new Router(timers, rngFor(1, "placement-test"), createPolicy(policy), {
    heartbeatTimeoutUs: 3_000_000,
    rebalanceIntervalUs: 0,
    rebalance: DEFAULT_REBALANCE_PARAMS,
    sessionTtlUs: 0,
    prefixBlockChars: 16,
    prefixCapacityBlocksPerNode: 1000,
  });
  for (const id of nodes) router.registry.register(id, `${id}:1`);
  return { timers, router };
}

const turn = (patch: Partial<TurnToPlace> = {}): TurnToPlace => ({
  sessionId: "s1",
  turnIndex: 0,
  promptTokens: 10,
  isLast: false,
  ...patch,
});

function placed(p: TurnPlacement) {
  const out = p.place();
  if (!out.ok) throw new Error(out.message);
  return out;
}

describe("TurnPlacement", () => {
  it("place -> turn started on the chosen node; end -> ended once, context recorded", () => {
    const { router } = setup();
    const p = new TurnPlacement(router, turn());
    const out = placed(p);
    expect(out).toMatchObject({ attemptNo: 0, address: `${out.nodeId}:1`, failoverFrom: undefined });
    expect(router.registry.get(out.nodeId)!.inFlight).toBe(1);
    expect(p.end(120)).toBe(true);
    expect(p.end(120)).toBe(false);
    expect(router.registry.get(out.nodeId)!.inFlight).toBe(0);
    expect(router.sessions.get("s1")).toMatchObject({ kvTokens: 120, inFlight: 0 });
  });

  it("end before any placement -> nothing recorded", () => {
    const { router } = setup();
    expect(new TurnPlacement(router, turn()).end(5)).toBe(false);
  });

  it("last turn ends -> session forgotten", () => {
    const { router } = setup();
    const p = new TurnPlacement(router, turn({ isLast: true }));
    placed(p);
    p.end(0);
    expect(router.sessions.get("s1")).toBeUndefined();
  });

  it("node fails before output -> placed again elsewhere, counted as a failover from it", () => {
    const { router } = setup();
    const p = new TurnPlacement(router, turn());
    const first = placed(p);
    p.end(0);
    expect(p.failedBeforeOutput("UNAVAILABLE: gone")).toBe(true);
    const second = placed(p);
    expect(second.nodeId).not.toBe(first.nodeId);
    expect(second).toMatchObject({ attemptNo: 1, failoverFrom: first.nodeId });
    expect(second.decision.reason).toBe("failover");
  });

  it(`every node fails before output -> placed at most ${MAX_REPLACEMENTS} more times, then refused`, () => {
    const { router } = setup("session-affinity", ["a", "b", "c", "d"]);
    const p = new TurnPlacement(router, turn());
    const tried: string[] = [];
    for (;;) {
      tried.push(placed(p).nodeId);
      p.end(0);
      if (!p.failedBeforeOutput("RESOURCE_EXHAUSTED: queue full")) break;
    }
    expect(tried).toHaveLength(1 + MAX_REPLACEMENTS);
    expect(new Set(tried).size).toBe(tried.length);
    expect(p.mayPlaceAgain).toBe(false);
  });

  it("only node failed this turn -> refused, the message names it, not a wait for nodes", () => {
    const { router } = setup("session-affinity", ["a"]);
    const p = new TurnPlacement(router, turn());
    placed(p);
    p.end(0);
    p.failedBeforeOutput("CANCELLED: dropped");
    const out = p.place();
    expect(out.ok).toBe(false);
    expect(!out.ok && out).toMatchObject({ noNodeUp: false });
    expect(!out.ok && out.message).toContain("a failed this turn (CANCELLED: dropped)");
  });

  it("no node up -> refused with noNodeUp (the caller may wait for one)", () => {
    const { router } = setup("session-affinity", []);
    const out = new TurnPlacement(router, turn()).place();
    expect(out).toMatchObject({ ok: false, noNodeUp: true });
  });

  it("relay failures in a row -> the node is marked down by the third", () => {
    const { router } = setup();
    const p = new TurnPlacement(router, turn());
    const { nodeId } = placed(p);
    expect([p.relayFailed("x"), p.relayFailed("x"), p.relayFailed("x")]).toEqual([false, false, true]);
    expect(router.registry.get(nodeId)!.up).toBe(false);
  });

  it("kv-aware -> blocks of the conversation text; other policies -> no blocks", () => {
    const messages = [{ role: "user" as const, content: "q".repeat(40) }];
    const kv = new TurnPlacement(setup("kv-aware").router, turn({ messages }));
    expect(kv.blocks).toEqual(prefixBlocks(conversationText(messages), 16));
    const affinity = new TurnPlacement(setup().router, turn({ messages }));
    expect(affinity.blocks.hashes).toEqual([]);
  });

  it("kv-aware, completion prompt -> blocks of the prompt, not of the messages", () => {
    const p = new TurnPlacement(setup("kv-aware").router, turn({ prompt: "p".repeat(40) }));
    expect(p.blocks).toEqual(prefixBlocks("p".repeat(40), 16));
  });
});
