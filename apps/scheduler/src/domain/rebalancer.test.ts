import { describe, expect, it } from "vitest";
import { DEFAULT_REBALANCE_PARAMS, planRebalance } from "./rebalancer";
import { SessionTable } from "./session-table";
import { node } from "./test-helpers";

function table(sessions: [id: string, nodeId: string, kv: number, busy?: boolean][]): SessionTable {
  const t = new SessionTable();
  for (const [id, nodeId, kv, busy] of sessions) {
    t.assign(id, nodeId, 0);
    t.beginTurn(id, 0, []);
    if (!busy) t.endTurn(id, 0, kv);
  }
  return t;
}

describe("planRebalance", () => {
  const p = { ...DEFAULT_REBALANCE_PARAMS, overloadKvFraction: 0.9, targetKvFraction: 0.75 };

  it("no node overloaded -> no moves", () => {
    const t = table([["s1", "a", 500]]);
    const nodes = [node("a", { kvUsedTokens: 5000 }), node("b")];
    expect(planRebalance(nodes, (id) => t.idleOn(id), p)).toEqual([]);
  });

  it("KV-overloaded node -> cheapest idle sessions move first, until under target, to the emptiest node", () => {
    const t = table([
      ["big", "a", 4000],
      ["small", "a", 1000],
      ["mid", "a", 2000],
      ["busy", "a", 100, true],
    ]);
    const nodes = [
      node("a", { kvUsedTokens: 9500 }),
      node("b", { kvUsedTokens: 3000 }),
      node("c", { kvUsedTokens: 1000 }),
    ];
    const moves = planRebalance(nodes, (id) => t.idleOn(id), p);
    // 9500 - 1000 = 8500 (85%) still over 75%; - 2000 = 6500 (65%): stop.
    expect(moves.map((m) => [m.sessionId, m.toNodeId])).toEqual([
      ["small", "c"],
      ["mid", "c"],
    ]);
    expect(moves.every((m) => m.reason === "kv-overload" && m.fromNodeId === "a")).toBe(true);
  });

  it("only down, draining or overloaded targets -> no moves", () => {
    const t = table([["s1", "a", 2000]]);
    const nodes = [
      node("a", { kvUsedTokens: 9500 }),
      node("b", { up: false }),
      node("c", { draining: true }),
      node("d", { kvUsedTokens: 9900 }),
    ];
    expect(planRebalance(nodes, (id) => t.idleOn(id), p)).toEqual([]);
  });

  it("max moves per round -> capped", () => {
    const t = table(Array.from({ length: 10 }, (_, i) => [`s${i}`, "a", 100] as [string, string, number]));
    const nodes = [node("a", { kvUsedTokens: 9900 }), node("b")];
    expect(planRebalance(nodes, (id) => t.idleOn(id), { ...p, maxMovesPerRound: 3 })).toHaveLength(3);
  });

  it("queue overload (when enabled) -> one session per round moves", () => {
    const t = table([
      ["s1", "a", 100],
      ["s2", "a", 200],
    ]);
    const nodes = [node("a", { queueDepth: 30 }), node("b")];
    const moves = planRebalance(nodes, (id) => t.idleOn(id), { ...p, overloadOutstanding: 10 });
    expect(moves).toMatchObject([{ sessionId: "s1", toNodeId: "b", reason: "queue-overload" }]);
  });
});
