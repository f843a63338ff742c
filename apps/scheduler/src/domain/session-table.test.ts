import { describe, expect, it } from "vitest";
import { SessionTable } from "./session-table";

describe("SessionTable", () => {
  it("assign and reassign -> per-node counts follow", () => {
    const t = new SessionTable();
    t.assign("s1", "a", 0);
    t.assign("s2", "a", 0);
    t.assign("s2", "b", 0);
    expect([t.countOn("a"), t.countOn("b"), t.size]).toEqual([1, 1, 2]);
  });

  it("turn in flight -> not idle; after it ends -> idle with its KV estimate", () => {
    const t = new SessionTable();
    t.assign("s1", "a", 0);
    t.beginTurn("s1", 10, []);
    expect(t.idleOn("a")).toHaveLength(0);
    t.endTurn("s1", 20, 1234);
    expect(t.idleOn("a")).toMatchObject([{ sessionId: "s1", kvTokens: 1234, turns: 1 }]);
  });

  it("node dies -> its sessions detached and remember the lost node", () => {
    const t = new SessionTable();
    t.assign("s1", "a", 0);
    t.assign("s2", "b", 0);
    expect(t.detachNode("a")).toBe(1);
    expect(t.get("s1")).toMatchObject({ nodeId: undefined, lostNodeId: "a", kvTokens: 0 });
    expect(t.countOn("a")).toBe(0);
    t.assign("s1", "b", 1);
    expect(t.get("s1")).toMatchObject({ nodeId: "b", lostNodeId: undefined });
  });

  it("idle past the TTL -> expired; busy sessions are kept", () => {
    const t = new SessionTable();
    t.assign("old", "a", 0);
    t.assign("busy", "a", 0);
    t.beginTurn("busy", 0, []);
    t.assign("new", "a", 100);
    expect(t.expireIdle(50).map((s) => s.sessionId)).toEqual(["old"]);
    expect(t.size).toBe(2);
  });

  it("claim: first owner of an existing session keeps it; another owner is refused; unknown -> allowed", () => {
    const t = new SessionTable();
    expect(t.claim("s", 1)).toBe(true);
    t.assign("s", "n1", 0);
    expect(t.claim("s", 1)).toBe(true);
    expect(t.claim("s", 2)).toBe(false);
    expect(t.get("s")?.owner).toBe(1);
    t.remove("s");
    expect(t.claim("s", 2)).toBe(true);
  });
});
