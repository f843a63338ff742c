import { rngFor, VirtualTimers } from "@symphony/common";
import { describe, expect, it } from "vitest";
import {
  HINT_GRACE_US,
  NodeCore,
  type Dispatch,
  type NodeCoreConfig,
  type TurnFailure,
  type TurnRequest,
} from "./node-core";
import { HintAwarePolicy, LruPolicy } from "./residency-policy";

/** 1 token = 1 MB; at 1 GB/s one token takes 1000 µs to copy, so 100 tokens = 100 ms. */
const US_PER_TOKEN = 1000;

function harness(overrides: Partial<NodeCoreConfig> = {}) {
  const timers = new VirtualTimers();
  const dispatched: Dispatch[] = [];
  const failures: { id: string; failure: TurnFailure }[] = [];
  const core = new NodeCore(
    {
      gpuBudgetTokens: 1000,
      cpuBudgetTokens: 1000,
      bytesPerToken: 1_000_000,
      offloadGBps: 1,
      maxRunning: 8,
      maxQueue: 16,
      prefetchMarginUs: 0,
      policy: new LruPolicy(),
      ...overrides,
    },
    timers,
    { dispatch: (d) => dispatched.push(d), fail: (id, failure) => failures.push({ id, failure }) },
  );
  const turn = (requestId: string, sessionId: string, more: Partial<TurnRequest> = {}) =>
    core.submit({
      requestId,
      sessionId,
      turnIndex: 0,
      priority: "normal",
      promptTokens: 300,
      maxOutputTokens: 100,
      isLast: false,
      ...more,
    });
  const ids = () => dispatched.map((d) => d.requestId);
  const session = (id: string) => core.sessions.get(id);
  /** Runs turn `requestId` of `sessionId` to completion with prompt+completion = kv tokens. */
  const finish = (requestId: string, kv: number) =>
    core.onFinished(requestId, { promptTokens: kv - 50, completionTokens: 50 });
  return { core, timers, dispatched, failures, turn, ids, session, finish };
}

/**
 * Budgets equal what sessions, transfers and turns hold: GPU = resident GPU sessions + copies
 * heading to the GPU + turn reservations; CPU = resident CPU sessions + copies heading to the CPU.
 */
function expectConsistentAccounting(core: NodeCore): void {
  let gpu = 0;
  let cpu = 0;
  for (const s of core.sessions.values()) {
    if (s.tier === "gpu") gpu += s.kvTokens;
    if (s.tier === "cpu") cpu += s.kvTokens;
    if (s.transfer?.direction === "toCpu") cpu += s.transfer.tokens;
    if (s.transfer?.direction === "toGpu") gpu += s.transfer.tokens;
    if (s.active > 0) expect(s.tier === "gpu" || s.transfer?.direction === "toGpu").toBe(true);
  }
  for (const e of core["entries"].values()) gpu += e.reservedTokens;
  expect({ gpu: core.gpu.usedTokens, cpu: core.cpu.usedTokens }).toEqual({ gpu, cpu });
}

describe("NodeCore admission", () => {
  it("turn that fits an empty node -> dispatched at once, queue time 0, tier new", () => {
    const h = harness();
    expect(h.turn("r1", "s1")).toEqual({ accepted: true, kvTier: "new" });
    expect(h.dispatched).toEqual([
      {
        requestId: "r1",
        sessionId: "s1",
        kvTier: "new",
        queueTimeUs: 0,
        kvRestoreUs: 0,
        residentKvTokens: 0,
      },
    ]);
    expect(h.core.gpu.usedTokens).toBe(400); // prompt 300 + max output 100
    expect(h.core.stats.newSessions).toBe(1);
  });

  it("max-running slots taken -> next turn waits, then runs when one finishes", () => {
    const h = harness({ maxRunning: 2, gpuBudgetTokens: 10_000 });
    h.turn("r1", "a");
    h.turn("r2", "b");
    h.turn("r3", "c");
    expect(h.ids()).toEqual(["r1", "r2"]);
    expect(h.core.queueDepth).toBe(1);
    h.timers.runUntil(5_000);
    h.finish("r1", 350);
    expect(h.ids()).toEqual(["r1", "r2", "r3"]);
    expect(h.dispatched[2]!.queueTimeUs).toBe(5_000);
  });

  it("waiting turns of different priorities -> high first, then FCFS", () => {
    const h = harness({ maxRunning: 1, gpuBudgetTokens: 10_000 });
    h.turn("busy", "x");
    h.turn("low", "a", { priority: "low" });
    h.turn("normal", "b");
    h.turn("high", "c", { priority: "high" });
    for (const id of ["busy", "high", "normal"]) h.finish(id, 350);
    expect(h.ids()).toEqual(["busy", "high", "normal", "low"]);
  });

  it("queue at --max-queue -> RESOURCE_EXHAUSTED, retryable", () => {
    const h = harness({ maxRunning: 1, maxQueue: 1 });
    h.turn("r1", "a");
    h.turn("r2", "b");
    const r = h.turn("r3", "c");
    expect(r.accepted).toBe(false);
    if (!r.accepted) {
      expect(r.failure.code).toBe("RESOURCE_EXHAUSTED");
      expect(r.failure.retryable).toBe(true);
      expect(r.failure.message).toContain("queue is full");
    }
    expect(h.core.stats.rejectedQueueFull).toBe(1);
  });

  it("turn larger than the whole GPU budget -> RESOURCE_EXHAUSTED naming the numbers, not retryable", () => {
    const h = harness();
    const r = h.turn("big", "s", { promptTokens: 950, maxOutputTokens: 100 });
    expect(r.accepted).toBe(false);
    if (!r.accepted) {
      expect(r.failure).toMatchObject({ code: "RESOURCE_EXHAUSTED", retryable: false });
      expect(r.failure.message).toContain("1050 KV tokens");
      expect(r.failure.message).toContain("1000 tokens");
    }
    expect(h.core.queueDepth).toBe(0);
  });

  it("GPU budget taken by running turns -> next turn waits for KV, not for a slot", () => {
    const h = harness({ gpuBudgetTokens: 800, cpuBudgetTokens: 0 });
    h.turn("r1", "a");
    h.turn("r2", "b");
    h.turn("r3", "c");
    expect(h.ids()).toEqual(["r1", "r2"]);
    h.core.onFailed("r1"); // frees r1's 400 tokens; session a holds nothing
    expect(h.ids()).toEqual(["r1", "r2", "r3"]);
  });

  it("second turn of a session -> only its growth is reserved on top of its resident KV", () => {
    const h = harness();
    h.turn("t0", "s");
    h.finish("t0", 350);
    expect(h.core.gpu.usedTokens).toBe(350);
    expect(h.turn("t1", "s", { turnIndex: 1, promptTokens: 400 })).toEqual({ accepted: true, kvTier: "gpu" });
    expect(h.core.gpu.usedTokens).toBe(500); // max(400, 350) + 100
    // The engine is told the 350 tokens of earlier context are on the GPU (a KV connector loads them).
    expect(h.dispatched.map((d) => d.residentKvTokens)).toEqual([0, 350]);
    h.finish("t1", 480);
    expect(h.core.gpu.usedTokens).toBe(480);
    expect(h.core.stats.hitsGpu).toBe(1);
  });

  it("deadline passes while queued -> fail(DEADLINE_EXCEEDED), removed from the queue", () => {
    const h = harness({ maxRunning: 1 });
    h.turn("busy", "x");
    h.turn("late", "a", { deadlineUs: 2_000 });
    h.timers.runUntil(2_000);
    expect(h.failures).toEqual([
      { id: "late", failure: expect.objectContaining({ code: "DEADLINE_EXCEEDED", retryable: false }) },
    ]);
    expect(h.core.queueDepth).toBe(0);
    h.finish("busy", 350);
    expect(h.ids()).toEqual(["busy"]);
  });

  it("deadline passes while running -> fail, GPU reservation freed, later finish ignored", () => {
    const h = harness();
    h.turn("r", "a", { deadlineUs: 1_000 });
    h.timers.runUntil(1_000);
    expect(h.failures.map((f) => f.id)).toEqual(["r"]);
    expect(h.core.running).toBe(0);
    expect(h.core.gpu.usedTokens).toBe(0);
    h.finish("r", 350);
    expect(h.core.stats.completed).toBe(0);
  });

  it("cancel queued and running turns -> both gone, budget back to 0", () => {
    const h = harness({ maxRunning: 1 });
    h.turn("run", "a");
    h.turn("wait", "b");
    expect(h.core.cancel("wait")).toBe(true);
    expect(h.core.cancel("run")).toBe(true);
    expect(h.core.cancel("unknown")).toBe(false);
    expect(h.core.queueDepth + h.core.running).toBe(0);
    expect(h.core.gpu.usedTokens).toBe(0);
    expect(h.ids()).toEqual(["run"]);
  });
});

describe("NodeCore residency", () => {
  /** Fills the GPU with idle sessions a (older) and b (newer), 450 tokens each. */
  function twoIdleSessions(h: ReturnType<typeof harness>) {
    h.turn("a0", "a");
    h.finish("a0", 450);
    h.timers.runUntil(1_000);
    h.turn("b0", "b");
    h.finish("b0", 450);
    h.timers.runUntil(2_000);
  }

  it("no GPU room for a new turn -> LRU session offloaded, turn dispatched when the copy lands", () => {
    const h = harness();
    twoIdleSessions(h);
    h.turn("c0", "c");
    expect(h.ids()).toEqual(["a0", "b0"]); // waits for the offload
    expect(h.core.stats.offloads).toBe(1);
    h.timers.runUntil(2_000 + 450 * US_PER_TOKEN);
    expect(h.ids()).toEqual(["a0", "b0", "c0"]);
    expect(h.dispatched[2]!.queueTimeUs).toBe(450 * US_PER_TOKEN);
    expect(h.session("a")!.tier).toBe("cpu");
    expect(h.session("b")!.tier).toBe("gpu");
    expect(h.core.cpu.usedTokens).toBe(450);
  });

  it("no CPU tier (--cpu-budget-tokens 0) -> victim evicted at once, its next turn is a miss", () => {
    const h = harness({ cpuBudgetTokens: 0 });
    twoIdleSessions(h);
    h.turn("c0", "c");
    expect(h.ids()).toContain("c0");
    expect(h.session("a")!.tier).toBe("evicted");
    expect(h.core.stats.evictions).toBe(1);
    h.finish("c0", 350);
    expect(h.turn("a1", "a", { turnIndex: 1 })).toEqual({ accepted: true, kvTier: "evicted" });
    expect(h.core.stats.misses).toBe(1);
    // Evicted: nothing resident, the engine recomputes the whole context.
    expect(h.dispatched.at(-1)).toMatchObject({ requestId: "a1", residentKvTokens: 0 });
  });

  it("returning turn of an offloaded session -> restore first: kvRestoreUs = copy time, cpu hit", () => {
    const h = harness();
    twoIdleSessions(h);
    h.turn("c0", "c");
    h.timers.runAll();
    h.finish("c0", 100);
    h.core.closeSession("b"); // room for a's restore
    h.turn("a1", "a", { turnIndex: 1, promptTokens: 460 });
    expect(h.session("a")!.transfer?.reason).toBe("restore");
    h.timers.runAll();
    const d = h.dispatched.find((x) => x.requestId === "a1")!;
    expect(d).toMatchObject({ kvTier: "cpu", kvRestoreUs: 450 * US_PER_TOKEN });
    expect(h.core.stats).toMatchObject({ hitsCpu: 1, restores: 1, restoreTokens: 450 });
    expect(h.core.cpu.usedTokens).toBe(0);
  });

  it("modelTransfers false (stock engine) -> offload and restore complete at once, no turn waits for a copy", () => {
    const h = harness({ modelTransfers: false });
    twoIdleSessions(h);
    h.turn("c0", "c");
    // The offload frees the GPU at once: c0 runs without waiting for a modelled copy.
    expect(h.ids()).toEqual(["a0", "b0", "c0"]);
    expect(h.dispatched[2]!.queueTimeUs).toBe(0);
    expect(h.session("a")!.tier).toBe("cpu");
    h.finish("c0", 100);
    h.core.closeSession("b");
    h.turn("a1", "a", { turnIndex: 1, promptTokens: 460 });
    const d = h.dispatched.find((x) => x.requestId === "a1")!;
    expect(d).toMatchObject({ kvTier: "cpu", kvRestoreUs: 0 });
    expect(h.core.stats).toMatchObject({ hitsCpu: 1, restores: 1 });
    expect(h.timers.pendingCount).toBe(0);
    expectConsistentAccounting(h.core);
  });

  it("session returns while its offload is still copying -> offload abandoned, gpu hit", () => {
    const h = harness();
    twoIdleSessions(h);
    h.turn("c0", "c", { promptTokens: 100 }); // needs 200 > free 100: offloads a
    expect(h.session("a")!.transfer?.reason).toBe("offload");
    h.core.cancel("c0");
    expect(h.turn("a1", "a", { turnIndex: 1, promptTokens: 450, maxOutputTokens: 10 })).toEqual({
      accepted: true,
      kvTier: "gpu",
    });
    expect(h.core.stats.offloadsCancelled).toBe(1);
    expect(h.core.cpu.usedTokens).toBe(0);
    expect(h.ids()).toContain("a1");
  });

  it("CPU tier full -> policy evicts the CPU session worth least to make room for a fresher offload", () => {
    const h = harness({ cpuBudgetTokens: 500 });
    twoIdleSessions(h);
    h.turn("c0", "c"); // offloads a (450) to cpu
    h.timers.runAll();
    h.finish("c0", 450); // gpu: b 450 + c 450
    h.timers.runUntil(5_000_000);
    h.turn("d0", "d"); // offloads b; cpu must evict a first
    h.timers.runAll();
    expect(h.session("a")!.tier).toBe("evicted");
    expect(h.session("b")!.tier).toBe("cpu");
    expect(h.core.stats.evictions).toBe(1);
  });

  it.each([
    ["lru", "a", new LruPolicy()],
    ["hint-aware", "b", new HintAwarePolicy(1_000_000)],
  ])("room needed, a hinted soon and b hinted late (%s) -> %s demoted", (_name, victim, policy) => {
    const h = harness({ policy });
    twoIdleSessions(h);
    h.core.advise({ sessionId: "a", expectedArrivalMs: 100, expectedPromptTokens: 0, nextTurnIndex: 1 });
    h.core.advise({ sessionId: "b", expectedArrivalMs: 60_000, expectedPromptTokens: 0, nextTurnIndex: 1 });
    h.turn("c0", "c");
    expect(h.session(victim)!.transfer?.reason).toBe("offload");
  });

  it.each([
    // policy, expected tier of the hinted turn, its restore wait
    ["hint-aware", "gpu", 0, new HintAwarePolicy(1_000_000)],
    ["lru", "cpu", 450 * US_PER_TOKEN, new LruPolicy()],
  ])(
    "offloaded session hinted 2 s ahead (%s) -> arrives on %s, restore wait %i µs",
    (_n, tier, restoreUs, policy) => {
      const h = harness({ policy, prefetchMarginUs: 10_000 });
      twoIdleSessions(h);
      h.turn("c0", "c", { promptTokens: 150, maxOutputTokens: 50 });
      h.timers.runAll(); // a offloaded, c running
      h.finish("c0", 100);
      expect(h.session("a")!.tier).toBe("cpu");
      const t0 = h.timers.nowUs();
      expect(
        h.core.advise({
          sessionId: "a",
          expectedArrivalMs: 2_000,
          expectedPromptTokens: 0,
          nextTurnIndex: 1,
        }),
      ).toBe(true);
      h.timers.runUntil(t0 + 2_000_000);
      const r = h.turn("a1", "a", { turnIndex: 1, promptTokens: 460, maxOutputTokens: 40 });
      expect(r).toEqual({ accepted: true, kvTier: tier });
      h.timers.runAll();
      expect(h.dispatched.find((d) => d.requestId === "a1")!.kvRestoreUs).toBe(restoreUs);
    },
  );

  it("prefetch due but GPU full of sessions needed sooner -> no displacement, no prefetch", () => {
    const h = harness({ policy: new HintAwarePolicy(1_000_000) });
    twoIdleSessions(h);
    h.turn("c0", "c", { promptTokens: 150, maxOutputTokens: 50 });
    h.timers.runAll();
    h.finish("c0", 100); // gpu: b 450 + c 100; cpu: a 450
    h.turn("d0", "d", { promptTokens: 350, maxOutputTokens: 100 }); // fills gpu to 1000
    h.core.advise({ sessionId: "b", expectedArrivalMs: 100, expectedPromptTokens: 0, nextTurnIndex: 1 });
    h.core.advise({ sessionId: "c", expectedArrivalMs: 100, expectedPromptTokens: 0, nextTurnIndex: 1 });
    h.core.advise({ sessionId: "a", expectedArrivalMs: 1_000, expectedPromptTokens: 0, nextTurnIndex: 1 });
    h.timers.runUntil(h.timers.nowUs() + 900_000);
    expect(h.core.stats.prefetches).toBe(0);
    expect(h.session("b")!.tier).toBe("gpu");
    expect(h.session("c")!.tier).toBe("gpu");
  });

  it("GPU full of idle sessions that all have queued turns -> still demotes them, nothing deadlocks", () => {
    const h = harness({ maxRunning: 1, cpuBudgetTokens: 0 });
    twoIdleSessions(h); // a, b: 450 each
    h.turn("x0", "x", { promptTokens: 50, maxOutputTokens: 50 }); // runs: 100 => gpu full
    h.turn("big", "c", { promptTokens: 500, maxOutputTokens: 100 }); // head, needs 600
    h.turn("a1", "a", { turnIndex: 1, promptTokens: 460, maxOutputTokens: 10 });
    h.turn("b1", "b", { turnIndex: 1, promptTokens: 460, maxOutputTokens: 10 });
    h.finish("x0", 100);
    for (const id of ["big", "a1", "b1"]) {
      expect(h.ids()).toContain(id);
      h.finish(id, 300);
    }
    expect(h.core.queueDepth).toBe(0);
  });

  describe("--gpu-free-target (proactive offload)", () => {
    /** a and b idle on the GPU (450 each), then time passes beyond the hint grace period. */
    function idlePair(h: ReturnType<typeof harness>) {
      h.turn("a0", "a");
      h.finish("a0", 450);
      h.turn("b0", "b");
      h.finish("b0", 450);
      h.timers.runUntil(HINT_GRACE_US + 1);
    }

    it("GPU fuller than the target -> idle sessions offloaded before any turn needs the room", () => {
      const h = harness({ gpuFreeTarget: 0.5 });
      idlePair(h);
      h.turn("x0", "x", { promptTokens: 10, maxOutputTokens: 10 });
      expect(h.core.stats.offloads).toBe(1);
      h.timers.runAll();
      expect(h.core.gpu.freeTokens).toBeGreaterThanOrEqual(500);
    });

    it("session hinted to return soon -> kept, the other one offloaded", () => {
      const h = harness({ gpuFreeTarget: 0.5, policy: new HintAwarePolicy(1_000_000) });
      idlePair(h);
      h.core.advise({ sessionId: "a", expectedArrivalMs: 60_000, expectedPromptTokens: 0, nextTurnIndex: 1 });
      h.core.advise({ sessionId: "b", expectedArrivalMs: 100, expectedPromptTokens: 0, nextTurnIndex: 1 });
      h.turn("x0", "x", { promptTokens: 10, maxOutputTokens: 10 });
      expect(h.session("a")!.transfer?.reason).toBe("offload");
      expect(h.session("b")!.transfer).toBeUndefined();
    });

    it("CPU tier full -> nothing evicted to make headroom", () => {
      const h = harness({ gpuFreeTarget: 0.5, cpuBudgetTokens: 100 });
      idlePair(h);
      h.turn("x0", "x", { promptTokens: 10, maxOutputTokens: 10 });
      expect(h.core.stats.offloads + h.core.stats.evictions).toBe(0);
    });

    it("session that just finished -> not offloaded during the hint grace period", () => {
      const h = harness({ gpuFreeTarget: 0.9 });
      h.turn("a0", "a");
      h.finish("a0", 450);
      h.turn("x0", "x", { promptTokens: 10, maxOutputTokens: 10 });
      expect(h.core.stats.offloads).toBe(0);
    });
  });

  it("advise for an unknown session -> false", () => {
    const h = harness({ policy: new HintAwarePolicy(0) });
    expect(
      h.core.advise({ sessionId: "nope", expectedArrivalMs: 10, expectedPromptTokens: 0, nextTurnIndex: 1 }),
    ).toBe(false);
  });
});

describe("NodeCore session lifecycle", () => {
  it("CloseSession on an idle session -> KV freed and reported; unknown -> released false", () => {
    const h = harness();
    h.turn("r", "s");
    h.finish("r", 350);
    expect(h.core.closeSession("s")).toEqual({ released: true, releasedKvTokens: 350 });
    expect(h.core.gpu.usedTokens).toBe(0);
    expect(h.session("s")).toBeUndefined();
    expect(h.core.closeSession("s")).toEqual({ released: false, releasedKvTokens: 0 });
  });

  it("CloseSession while a turn runs -> freed when the turn ends", () => {
    const h = harness();
    h.turn("r", "s");
    h.core.closeSession("s");
    expect(h.session("s")).toBeDefined();
    h.finish("r", 350);
    expect(h.session("s")).toBeUndefined();
    expect(h.core.gpu.usedTokens).toBe(0);
  });

  it("is_last turn finishes -> session released", () => {
    const h = harness();
    h.turn("r", "s", { isLast: true });
    h.finish("r", 350);
    expect(h.session("s")).toBeUndefined();
    expect(h.core.gpu.usedTokens).toBe(0);
  });

  it("CloseSession during an offload -> both tiers freed", () => {
    const h = harness();
    h.turn("a0", "a");
    h.finish("a0", 450);
    h.turn("b0", "b");
    h.finish("b0", 450);
    h.turn("c0", "c");
    expect(h.session("a")!.transfer).toBeDefined();
    h.core.closeSession("a");
    h.timers.runAll();
    expect(h.core.cpu.usedTokens).toBe(0);
    expect(h.core.gpu.usedTokens).toBe(450 + 400);
    expect(h.ids()).toContain("c0");
  });

  it.each([0, 0.3])(
    "random mix of turns, hints, failures and closes (seeded, gpu-free-target %s) -> accounting consistent at every step, all freed at the end",
    (gpuFreeTarget) => {
      const rng = rngFor(7, "node-core.fuzz");
      const h = harness({
        gpuFreeTarget,
        policy: new HintAwarePolicy(500_000),
        gpuBudgetTokens: 3000,
        cpuBudgetTokens: 2000,
        maxRunning: 4,
      });
      const running = new Set<string>();
      h.core["hooks"].dispatch = (d: Dispatch) => {
        h.dispatched.push(d);
        running.add(d.requestId);
      };
      const turns = new Map<string, number>();
      for (let i = 0; i < 2000; i++) {
        const op = rng.int(0, 9);
        const sid = `s${rng.int(0, 11)}`;
        if (op <= 3) {
          const t = turns.get(sid) ?? 0;
          turns.set(sid, t + 1);
          h.turn(`r${i}`, sid, {
            turnIndex: t,
            promptTokens: rng.int(10, 600),
            maxOutputTokens: rng.int(1, 200),
            priority: (["high", "normal", "low"] as const)[rng.int(0, 2)],
          });
        } else if (op <= 6 && running.size > 0) {
          const id = [...running][rng.int(0, running.size - 1)]!;
          running.delete(id);
          if (rng.next() < 0.9)
            h.core.onFinished(id, { promptTokens: rng.int(10, 700), completionTokens: rng.int(0, 200) });
          else h.core.onFailed(id);
        } else if (op === 7) {
          h.core.advise({
            sessionId: sid,
            expectedArrivalMs: rng.int(0, 2000),
            expectedPromptTokens: 0,
            nextTurnIndex: 99,
          });
        } else if (op === 8 && rng.next() < 0.2) {
          h.core.closeSession(sid);
        }
        expectConsistentAccounting(h.core);
        h.timers.runUntil(h.timers.nowUs() + rng.int(0, 200_000));
        expectConsistentAccounting(h.core);
        expect(h.core.cpu.usedTokens).toBeLessThanOrEqual(2000);
      }
      // Drain: finish everything, then close all sessions.
      for (let guard = 0; guard < 1000 && (running.size > 0 || h.core.queueDepth > 0); guard++) {
        for (const id of [...running]) {
          running.delete(id);
          h.core.onFinished(id, { promptTokens: 100, completionTokens: 10 });
        }
        h.timers.runAll();
      }
      for (let i = 0; i < 12; i++) h.core.closeSession(`s${i}`);
      h.timers.runAll();
      expect(h.core.running).toBe(0);
      expect(h.core.gpu.usedTokens).toBe(0);
      expect(h.core.cpu.usedTokens).toBe(0);
      expect(h.core.stats.completed).toBeGreaterThan(100);
    },
  );
});

describe("NodeCore with bad usage counts", () => {
  it.each([
    ["NaN", { promptTokens: Number.NaN, completionTokens: 5 }],
    ["negative", { promptTokens: 300, completionTokens: -1000 }],
    ["fractional", { promptTokens: 300, completionTokens: 1.5 }],
  ])(
    "onFinished with %s usage -> the session keeps a valid size, budgets stay consistent, later turns run",
    (_what, usage) => {
      const h = harness();
      h.turn("r1", "s1");
      h.core.onFinished("r1", usage);
      expect(Number.isSafeInteger(h.session("s1")!.kvTokens)).toBe(true);
      expect(Number.isSafeInteger(h.core.gpu.usedTokens)).toBe(true);
      expectConsistentAccounting(h.core);
      h.turn("r2", "s1");
      h.turn("r3", "s2");
      expect(h.ids()).toEqual(["r1", "r2", "r3"]);
      h.finish("r2", 350);
      h.finish("r3", 350);
      expectConsistentAccounting(h.core);
    },
  );
});
