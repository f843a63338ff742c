import { VirtualTimers } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { NO_LOAD, NodeRegistry, type MembershipEvent } from "./node-registry";

function setup(timeoutUs = 3_000_000) {
  const timers = new VirtualTimers();
  const events: MembershipEvent[] = [];
  const reg = new NodeRegistry(timers, { heartbeatTimeoutUs: timeoutUs }, (e) => events.push(e));
  return { timers, events, reg };
}

const load = (queueDepth: number) => ({ ...NO_LOAD, queueDepth });

describe("NodeRegistry", () => {
  it("static node -> down under its address until the first poll, then up under its real id", () => {
    const { reg, events } = setup();
    reg.addStatic("h:1");
    expect(reg.all()).toMatchObject([{ nodeId: "h:1", up: false, source: "static" }]);
    reg.observePoll("h:1", "node-a", load(2), false);
    expect(reg.all()).toMatchObject([{ nodeId: "node-a", up: true, load: { queueDepth: 2 } }]);
    expect(events).toEqual([
      { kind: "renamed", from: "h:1", to: "node-a" },
      { kind: "up", nodeId: "node-a" },
    ]);
  });

  it("registered node -> up at once; heartbeat from an unknown node -> false (must register)", () => {
    const { reg } = setup();
    reg.register("n1", "h:2");
    expect(reg.get("n1")?.up).toBe(true);
    expect(reg.heartbeat("nope", NO_LOAD, false)).toBe(false);
    expect(reg.heartbeat("n1", load(4), false)).toBe(true);
    expect(reg.get("n1")?.load.queueDepth).toBe(4);
  });

  it("heartbeats stop -> marked down after the timeout, with the silence in the reason", () => {
    const { reg, timers, events } = setup(1_000_000);
    reg.start();
    reg.register("n1", "h:2");
    timers.runUntil(900_000);
    reg.heartbeat("n1", NO_LOAD, false);
    timers.runUntil(1_800_000);
    expect(reg.get("n1")?.up).toBe(true);
    timers.runUntil(2_300_000);
    expect(reg.get("n1")?.up).toBe(false);
    expect(events.at(-1)).toMatchObject({
      kind: "down",
      nodeId: "n1",
      reason: expect.stringMatching(/no heartbeat/),
    });
    reg.stop();
  });

  it("node answering calls while heartbeats are late -> stays up; a down node is not revived by it", () => {
    const { reg, timers } = setup(1_000_000);
    reg.start();
    reg.register("n1", "h:2");
    reg.register("n2", "h:3");
    reg.markDown("n2", "refused");
    for (let t = 1; t <= 5; t++) {
      timers.runUntil(t * 500_000);
      reg.noteAlive("n1");
      reg.noteAlive("n2");
    }
    expect(reg.get("n1")?.up).toBe(true);
    expect(reg.get("n2")?.up).toBe(false);
    reg.stop();
  });

  it("down node reports again -> up again, down count kept", () => {
    const { reg } = setup();
    reg.register("n1", "h:2");
    reg.markDown("n1", "relay failed");
    expect(reg.get("n1")).toMatchObject({ up: false, downReason: "relay failed", downs: 1 });
    reg.heartbeat("n1", NO_LOAD, false);
    expect(reg.get("n1")).toMatchObject({ up: true, downReason: "", downs: 1 });
  });

  it("draining heartbeat -> state draining", () => {
    const { reg } = setup();
    reg.register("n1", "h:2");
    reg.heartbeat("n1", NO_LOAD, true);
    expect(reg.state(reg.get("n1")!)).toBe("draining");
  });

  it("static node that also registers itself -> one record", () => {
    const { reg } = setup();
    reg.addStatic("h:1");
    reg.register("node-a", "h:1");
    reg.observePoll("h:1", "node-a", NO_LOAD, false);
    expect(reg.all()).toHaveLength(1);
    expect(reg.all()[0]).toMatchObject({ nodeId: "node-a", up: true });
  });

  it("node restarts under a new id at the same address -> old id goes down, new id comes up", () => {
    const { reg, events } = setup();
    reg.addStatic("h:1");
    reg.observePoll("h:1", "old", NO_LOAD, false);
    events.length = 0;
    reg.observePoll("h:1", "new", NO_LOAD, false);
    expect(events.map((e) => e.kind)).toEqual(["down", "renamed", "up"]);
    expect(reg.all().map((n) => n.nodeId)).toEqual(["new"]);
  });

  it("registration claiming a live node's id from another address -> refused, the live node untouched", () => {
    const { reg, events } = setup();
    reg.register("n1", "h:2");
    events.length = 0;
    const outcome = reg.register("n1", "evil:9");
    expect(outcome).toMatchObject({
      ok: false,
      conflictWith: "n1",
      reason: expect.stringMatching(/live at h:2/),
    });
    expect(reg.get("n1")).toMatchObject({ address: "h:2", up: true });
    expect(events).toEqual([]);
  });

  it("registration under a new id at a live node's address -> refused (no rename)", () => {
    const { reg } = setup();
    reg.register("n1", "h:2");
    expect(reg.register("evil", "h:2")).toMatchObject({ ok: false, conflictWith: "n1" });
    expect(reg.all().map((n) => n.nodeId)).toEqual(["n1"]);
  });

  it("registration from a new address once the old one is down -> accepted (a restarted node)", () => {
    const { reg } = setup();
    reg.register("n1", "h:2");
    reg.markDown("n1", "refused");
    expect(reg.register("n1", "h:3")).toEqual({ ok: true });
    expect(reg.get("n1")).toMatchObject({ address: "h:3", up: true });
  });

  it("same id and address registering again -> accepted", () => {
    const { reg } = setup();
    reg.register("n1", "h:2");
    expect(reg.register("n1", "h:2")).toEqual({ ok: true });
  });

  it("health NOT_SERVING -> down, kept down by draining heartbeats, up again with a heartbeat that is not draining", () => {
    const { reg, events } = setup();
    reg.register("n1", "h:2");
    events.length = 0;
    reg.heartbeat("n1", NO_LOAD, true);
    expect(reg.state(reg.get("n1")!)).toBe("draining");
    reg.markUnhealthy("n1", "health check: NOT_SERVING");
    expect(reg.get("n1")).toMatchObject({
      up: false,
      unhealthy: true,
      downReason: "health check: NOT_SERVING",
    });
    for (let i = 0; i < 3; i++) reg.heartbeat("n1", load(1), true);
    expect(reg.state(reg.get("n1")!)).toBe("down");
    reg.heartbeat("n1", NO_LOAD, false);
    expect(reg.get("n1")).toMatchObject({ up: true, unhealthy: false, draining: false, downReason: "" });
    expect(events.map((e) => e.kind)).toEqual(["down", "up"]);
  });

  it("a plain markDown (no health verdict) -> the next heartbeat brings the node back, draining or not", () => {
    const { reg } = setup();
    reg.register("n1", "h:2");
    reg.markDown("n1", "relay failed");
    reg.heartbeat("n1", NO_LOAD, true);
    expect(reg.state(reg.get("n1")!)).toBe("draining");
  });

  it("snapshots -> load, in-flight count and session count per node", () => {
    const { reg } = setup();
    reg.register("n1", "h:2");
    reg.heartbeat("n1", { ...NO_LOAD, running: 2, kvUsedTokens: 50, kvBudgetTokens: 100 }, false);
    reg.adjustInFlight("n1", +3);
    reg.adjustInFlight("n1", -1);
    expect(reg.snapshots(() => 7)[0]).toMatchObject({
      running: 2,
      inFlight: 2,
      sessions: 7,
      kvUsedTokens: 50,
    });
  });

  it("refreshSnapshots -> what snapshots gives, in the caller's objects, after any change", () => {
    const { reg } = setup();
    const sessions = new Map([["n1", 4]]);
    const sessionsOf = (id: string) => sessions.get(id) ?? 0;
    const out: Parameters<NodeRegistry["refreshSnapshots"]>[0] = [];
    reg.register("n1", "h:1");
    reg.register("n2", "h:2");
    expect(reg.refreshSnapshots(out, sessionsOf)).toEqual(reg.snapshots(sessionsOf));
    const first = out[0];
    reg.heartbeat(
      "n1",
      { ...NO_LOAD, queueDepth: 3, running: 2, kvUsedTokens: 50, kvBudgetTokens: 100 },
      true,
    );
    reg.adjustInFlight("n2", +2);
    reg.markDown("n2", "relay failed");
    sessions.set("n2", 9);
    reg.addStatic("h:3");
    const again = reg.refreshSnapshots(out, sessionsOf);
    expect(again).toBe(out);
    expect(out[0]).toBe(first);
    expect(again).toEqual(reg.snapshots(sessionsOf));
    expect(again).toHaveLength(3);
  });
});
