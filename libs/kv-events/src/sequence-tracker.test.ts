import { describe, expect, it } from "vitest";
import { SequenceTracker, type TrackerAction } from "./sequence-tracker";

/** Compact form of actions: "d3" deliver live 3, "r3" deliver replayed 3, "gap"/"restart", "req5". */
function short(actions: TrackerAction<string>[]): string[] {
  return actions.map((a) =>
    a.kind === "deliver"
      ? `${a.replayed ? "r" : "d"}${a.seq}`
      : a.kind === "reset"
        ? a.reason
        : `req${a.fromSeq}`,
  );
}

function tracker(replayAvailable = true, maxHeld?: number) {
  const t = new SequenceTracker<string>({ replayAvailable, maxHeld });
  return {
    t,
    live: (seq: number) => short(t.onLive(seq, `p${seq}`)),
    replay: (seq: number) => short(t.onReplayBatch(seq, `p${seq}`)),
    end: () => short(t.onReplayEnd()),
    failed: () => short(t.onReplayFailed()),
  };
}

describe("SequenceTracker", () => {
  it("first batch → accepted as the start, whatever its seq; then in order", () => {
    const s = tracker();
    expect(s.t.lastSeq).toBeNull();
    expect(s.live(41)).toEqual(["d41"]);
    expect(s.live(42)).toEqual(["d42"]);
    expect(s.t.lastSeq).toBe(42);
    expect(s.t.gapsSeen).toBe(0);
  });

  it("payloads travel with their seq", () => {
    const t = new SequenceTracker<string>({ replayAvailable: false });
    expect(t.onLive(0, "a")).toEqual([{ kind: "deliver", seq: 0, payload: "a", replayed: false }]);
  });

  it("gap without replay → reset gap, continue from the live seq", () => {
    const s = tracker(false);
    s.live(0);
    expect(s.live(3)).toEqual(["gap", "d3"]);
    expect(s.live(4)).toEqual(["d4"]);
    expect(s.t.gapsSeen).toBe(1);
  });

  it("seq backwards → reset restart, continue from it", () => {
    const s = tracker();
    s.live(5);
    s.live(6);
    expect(s.live(0)).toEqual(["restart", "d0"]);
    expect(s.live(1)).toEqual(["d1"]);
    expect(s.live(1)).toEqual(["restart", "d1"]); // a repeat also means a new publisher
  });

  it("gap with replay → one request, live batches held, replayed ones in order, then the held ones", () => {
    const s = tracker();
    s.live(0);
    expect(s.live(3)).toEqual(["req1"]);
    expect(s.t.replayOutstanding).toBe(true);
    expect(s.live(4)).toEqual([]); // held
    expect(s.live(6)).toEqual([]); // held, with a gap of its own
    expect(s.replay(1)).toEqual(["r1"]);
    expect(s.replay(2)).toEqual(["r2"]);
    expect(s.replay(3)).toEqual(["r3"]);
    expect(s.replay(4)).toEqual(["r4"]);
    // Held 3 and 4 were replayed already; 6 is a new gap: a new request, nothing delivered twice.
    expect(s.end()).toEqual(["req5"]);
    expect(s.live(7)).toEqual([]);
    expect(s.replay(5)).toEqual(["r5"]);
    expect(s.replay(6)).toEqual(["r6"]);
    expect(s.end()).toEqual(["d7"]);
    expect(s.t.replayOutstanding).toBe(false);
    expect(s.t.gapsSeen).toBe(2);
    expect(s.live(8)).toEqual(["d8"]);
  });

  it("replay answers older than expected → skipped (delivered already)", () => {
    const s = tracker();
    s.live(0);
    s.live(1);
    expect(s.live(3)).toEqual(["req2"]);
    expect(s.replay(0)).toEqual([]);
    expect(s.replay(1)).toEqual([]);
    expect(s.replay(2)).toEqual(["r2"]);
    expect(s.end()).toEqual(["d3"]);
  });

  it("replay buffer no longer reaches back → reset gap at the first replayed seq", () => {
    const s = tracker();
    s.live(0);
    expect(s.live(10)).toEqual(["req1"]);
    expect(s.replay(7)).toEqual(["gap", "r7"]);
    expect(s.replay(8)).toEqual(["r8"]);
    expect(s.replay(9)).toEqual(["r9"]);
    expect(s.replay(10)).toEqual(["r10"]);
    expect(s.end()).toEqual([]);
  });

  it("replay answers nothing useful (end marker at once) → reset gap, held batches delivered", () => {
    const s = tracker();
    s.live(0);
    s.live(5);
    s.live(6);
    expect(s.end()).toEqual(["gap", "d5", "d6"]);
  });

  it("replay times out → reset gap, held batches delivered; late answers ignored", () => {
    const s = tracker();
    s.live(0);
    s.live(5);
    s.live(6);
    expect(s.failed()).toEqual(["gap", "d5", "d6"]);
    expect(s.replay(1)).toEqual([]);
    expect(s.end()).toEqual([]);
    expect(s.live(7)).toEqual(["d7"]);
  });

  it("restart while a replay runs → reset restart at once; the stale replay's answers are ignored; no second request until it ends", () => {
    const s = tracker();
    s.live(0);
    s.live(5);
    expect(s.live(0)).toEqual(["restart", "d0"]);
    expect(s.replay(1)).toEqual([]);
    expect(s.live(1)).toEqual(["d1"]);
    // Another gap while the abandoned request is still out: no second request in flight.
    expect(s.live(4)).toEqual(["gap", "d4"]);
    expect(s.end()).toEqual([]);
    expect(s.live(9)).toEqual(["req5"]);
  });

  it("the held seq repeated while a replay runs → a new publisher: reset restart", () => {
    const s = tracker();
    s.live(0);
    s.live(5);
    expect(s.live(5)).toEqual(["restart", "d5"]);
  });

  it("too many live batches held → replay given up, reset gap, held batches delivered", () => {
    const s = tracker(true, 2);
    s.live(0);
    expect(s.live(5)).toEqual(["req1"]);
    expect(s.live(6)).toEqual([]);
    expect(s.live(7)).toEqual(["gap", "d5", "d6", "d7"]);
    expect(s.replay(1)).toEqual([]);
    expect(s.end()).toEqual([]);
    expect(s.live(8)).toEqual(["d8"]);
  });
});
