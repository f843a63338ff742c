import { describe, expect, it } from "vitest";
import { createPolicy, POLICY_NAMES } from "./policies";
import { ctx, node, request } from "./test-helpers";

describe("createPolicy", () => {
  it.each(POLICY_NAMES)("name %s -> a policy of that name", (name) => {
    expect(createPolicy(name).name).toBe(name);
  });

  it("unknown name -> error listing every valid policy", () => {
    expect(() => createPolicy("random")).toThrow(
      /unknown routing policy "random"; valid policies: .*kv-aware/,
    );
  });
});

describe.each(POLICY_NAMES)("policy %s", (name) => {
  it("no usable node (all down or draining) -> undefined", () => {
    const nodes = [node("a", { up: false }), node("b", { draining: true })];
    expect(createPolicy(name).pick(request(), nodes, ctx())).toBeUndefined();
  });

  it("never picks a down or draining node for a new session", () => {
    const nodes = [node("a", { up: false }), node("b", { draining: true }), node("c", { queueDepth: 50 })];
    const p = createPolicy(name);
    for (let i = 0; i < 10; i++)
      expect(p.pick(request({ sessionId: `s${i}` }), nodes, ctx(i))?.nodeId).toBe("c");
  });
});

describe("round-robin", () => {
  it("successive requests -> nodes in id order, cycling, ignoring load", () => {
    const p = createPolicy("round-robin");
    const nodes = [node("b", { queueDepth: 100 }), node("a"), node("c")];
    const picks = Array.from({ length: 6 }, () => p.pick(request(), nodes, ctx())?.nodeId);
    expect(picks).toEqual(["a", "b", "c", "a", "b", "c"]);
  });
});

describe("least-loaded", () => {
  it.each([
    ["shorter queue", [node("a", { queueDepth: 5 }), node("b", { queueDepth: 1 })], "b"],
    ["in-flight count beats a stale report", [node("a", { inFlight: 6 }), node("b", { queueDepth: 2 })], "b"],
    ["more free KV", [node("a", { kvUsedTokens: 9000 }), node("b", { kvUsedTokens: 1000 })], "b"],
  ])("%s -> the lighter node", (_name, nodes, expected) => {
    expect(createPolicy("least-loaded").pick(request(), nodes, ctx())?.nodeId).toBe(expected);
  });

  it("idle tie -> the node with fewer sessions", () => {
    const nodes = [node("a", { sessions: 3 }), node("b", { sessions: 1 }), node("c", { sessions: 2 })];
    expect(createPolicy("least-loaded").pick(request(), nodes, ctx())?.nodeId).toBe("b");
  });
});

describe("session-affinity", () => {
  const p = createPolicy("session-affinity");

  it("session's node up, even if busier -> sticky", () => {
    const nodes = [node("a", { queueDepth: 20 }), node("b")];
    const d = p.pick(request({ sessionNodeId: "a" }), nodes, ctx());
    expect(d).toMatchObject({ nodeId: "a", reason: "sticky" });
  });

  it("session's node draining -> still sticky (draining only refuses new sessions)", () => {
    const d = p.pick(request({ sessionNodeId: "a" }), [node("a", { draining: true }), node("b")], ctx());
    expect(d?.nodeId).toBe("a");
  });

  it("session's node down -> reassigned to the least loaded", () => {
    const nodes = [node("a", { up: false }), node("b", { queueDepth: 3 }), node("c")];
    expect(p.pick(request({ sessionNodeId: "a" }), nodes, ctx())).toMatchObject({
      nodeId: "c",
      reason: "reassigned",
    });
  });

  it("new session -> least loaded, reason new-session, with scores", () => {
    const d = p.pick(request(), [node("a", { queueDepth: 3 }), node("b")], ctx());
    expect(d?.nodeId).toBe("b");
    expect(d?.reason).toBe("new-session");
    expect(d!.scores.b!).toBeGreaterThan(d!.scores.a!);
  });
});

describe("kv-aware", () => {
  const p = createPolicy("kv-aware", { prefixWeight: 2, queueWeight: 1, kvWeight: 1 });

  it("equal load, one node holds the prefix -> that node", () => {
    const hits = new Map([
      ["a", 0],
      ["b", 0.9],
    ]);
    expect(p.pick(request({ predictedHitByNode: hits }), [node("a"), node("b")], ctx())?.nodeId).toBe("b");
  });

  it("cached node heavily loaded -> the idle node wins despite the lost hit", () => {
    const hits = new Map([["a", 0.5]]);
    const nodes = [node("a", { queueDepth: 40, kvUsedTokens: 9500 }), node("b")];
    expect(p.pick(request({ predictedHitByNode: hits, sessionNodeId: "a" }), nodes, ctx())).toMatchObject({
      nodeId: "b",
      reason: "moved-for-load",
    });
  });

  it("session's node draining but holding its cache -> still a candidate", () => {
    const hits = new Map([["a", 1]]);
    const nodes = [node("a", { draining: true }), node("b")];
    expect(p.pick(request({ predictedHitByNode: hits, sessionNodeId: "a" }), nodes, ctx())?.nodeId).toBe("a");
  });

  it("prefix weight 0 -> behaves like least-loaded", () => {
    const p0 = createPolicy("kv-aware", { prefixWeight: 0 });
    const hits = new Map([["a", 1]]);
    const nodes = [node("a", { queueDepth: 2 }), node("b")];
    expect(p0.pick(request({ predictedHitByNode: hits }), nodes, ctx())?.nodeId).toBe("b");
  });
});
