import { rngFor, VirtualTimers } from "@symphony/common";
import { expect, it } from "vitest";
import { HintAwarePolicy, LruPolicy, NodeCore, type ResidencyPolicy } from "../src/domain";

/**
 * Domain throughput: turns per second of wall time through NodeCore (submit -> dispatch ->
 * finish) with 1000 sessions under a GPU budget that holds ~100 of them, so most turns involve
 * offloads, restores and victim selection. Virtual time: no I/O, pure scheduling cost.
 */
function run(policy: ResidencyPolicy, turns: number) {
  const timers = new VirtualTimers();
  const rng = rngFor(1, "bench.node-core");
  const running: string[] = [];
  const core = new NodeCore(
    {
      gpuBudgetTokens: 100 * 2000,
      cpuBudgetTokens: 400 * 2000,
      bytesPerToken: 131072,
      offloadGBps: 25,
      maxRunning: 64,
      maxQueue: 100_000,
      prefetchMarginUs: 1000,
      policy,
    },
    timers,
    { dispatch: (d) => running.push(d.requestId), fail: () => undefined },
  );
  const turnOf = new Map<string, number>();
  const sessionOf = new Map<string, string>();
  const t0 = performance.now();
  for (let i = 0; i < turns; i++) {
    const sessionId = `s${rng.int(0, 999)}`;
    const t = turnOf.get(sessionId) ?? 0;
    turnOf.set(sessionId, t + 1);
    sessionOf.set(`r${i}`, sessionId);
    core.submit({
      requestId: `r${i}`,
      sessionId,
      turnIndex: t,
      priority: "normal",
      promptTokens: Math.min(1500, 200 + 150 * t),
      maxOutputTokens: 200,
      isLast: false,
    });
    while (running.length > 32) {
      const id = running.shift()!;
      core.onFinished(id, { promptTokens: 300, completionTokens: 150 });
      // Half the finished turns announce their session's next turn (not its real arrival: random).
      const finished = sessionOf.get(id)!;
      if (rng.next() < 0.5) {
        core.advise({
          sessionId: finished,
          expectedArrivalMs: rng.int(100, 5000),
          expectedPromptTokens: 0,
          nextTurnIndex: 0,
        });
      }
    }
    timers.runUntil(timers.nowUs() + 2000);
  }
  const wallMs = performance.now() - t0;
  return { turnsPerSec: Math.round(turns / (wallMs / 1000)), stats: core.stats };
}

it.each([
  ["lru", new LruPolicy()],
  ["hint-aware", new HintAwarePolicy(10_000_000)],
])("NodeCore %s: 20000 turns over 1000 sessions -> turns/s printed", (name, policy) => {
  const r = run(policy, 20_000);
  console.info(
    `[bench] node-core ${name}: ${r.turnsPerSec} turns/s; offloads ${r.stats.offloads}, prefetches ${r.stats.prefetches}, ` +
      `restores ${r.stats.restores}, evictions ${r.stats.evictions}, hits gpu/cpu/miss ` +
      `${r.stats.hitsGpu}/${r.stats.hitsCpu}/${r.stats.misses}`,
  );
  // Floor: scheduling must never be the bottleneck next to an engine doing ~1000 turns/s.
  expect(r.turnsPerSec).toBeGreaterThan(1000);
});
