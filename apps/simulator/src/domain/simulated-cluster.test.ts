import { loadTokenizer, VirtualTimers } from "@symphony/common";
import {
  ChatTemplate,
  coefficientsFor,
  deriveNumGpuBlocks,
  OutputPlanner,
  PROFILES,
  StepTimeModel,
} from "@symphony/mock-vllm/domain";
import {
  arraySource,
  LoadRunner,
  PromptSynthesizer,
  ThinkTimeModel,
  type SessionPlan,
} from "@symphony/workloadgen/domain";
import type { RequestRecord } from "@symphony/measure";
import { describe, expect, it } from "vitest";
import { FastTokenCache } from "./fast-token-cache";
import { SimulatedCluster, type ClusterSpec } from "./simulated-cluster";
import { DIRECTIVE_DRIVE, type EngineDrive } from "./simulated-node";

const profile = PROFILES["llama3-8b-h100"]!;
const link = { latencyUs: 100, bandwidthBytesPerSec: 1.25e9 };

function spec(
  overrides: {
    nodes?: number;
    policy?: string;
    kvBudgetTokens?: number;
    maxRunning?: number;
    maxQueue?: number;
  } = {},
): ClusterSpec {
  return {
    nodes: overrides.nodes ?? 2,
    routing: {
      policy: overrides.policy ?? "session-affinity",
      params: {},
      router: {
        heartbeatTimeoutUs: 3_000_000,
        rebalanceIntervalUs: 2_000_000,
        rebalance: {
          overloadKvFraction: 0.9,
          targetKvFraction: 0.75,
          overloadOutstanding: 0,
          maxMovesPerRound: 8,
        },
        sessionTtlUs: 1_800_000_000,
        prefixBlockChars: 256,
        prefixCapacityBlocksPerNode: 200_000,
      },
      pollIntervalUs: 500_000,
      seed: 1,
    },
    node: {
      gpuBudgetTokens: overrides.kvBudgetTokens ?? 262_144,
      cpuBudgetTokens: 1_048_576,
      bytesPerToken: 131_072,
      offloadGBps: 25,
      maxRunning: overrides.maxRunning ?? 256,
      maxQueue: overrides.maxQueue ?? 1024,
      prefetchMarginUs: 50_000,
      residencyPolicy: "hint-aware",
      hintStaleAfterUs: 10_000_000,
    },
    engine: {
      maxNumSeqs: 256,
      maxNumBatchedTokens: 8192,
      numGpuBlocks: deriveNumGpuBlocks(profile, 16, 0.9),
      blockSize: 16,
      enablePrefixCaching: true,
      timeScale: 1,
    },
    network: { clientScheduler: link, schedulerNode: link, nodeEngine: link },
  };
}

/** A chat session of `turns` synthetic turns, 1 s apart. */
function session(
  id: string,
  turns: number,
  promptTokens = 200,
  maxOutputTokens = 20,
  startUs = 0,
): SessionPlan {
  return {
    sessionId: id,
    clientId: `c-${id}`,
    profile: "test",
    startUs,
    priority: "normal",
    stream: true,
    ignoreEos: true,
    mode: "chat",
    turns: Array.from({ length: turns }, (_, i) => ({
      turnIndex: i,
      promptTokens,
      maxOutputTokens,
      delayUs: i === 0 ? 0 : 1_000_000,
    })),
  };
}

/** Runs `plans` (open loop) through a simulated cluster; returns the records in completion order. */
function simulate(plans: SessionPlan[], clusterSpec = spec()) {
  const timers = new VirtualTimers();
  const tokens = new FastTokenCache();
  const stepModel = new StepTimeModel(coefficientsFor(profile));
  const cluster = new SimulatedCluster(timers, clusterSpec, stepModel, {
    tokens,
    template: new ChatTemplate(tokens),
    planner: new OutputPlanner(0, 256, tokens),
    maxModelLen: profile.model.maxModelLen,
  });
  const records: RequestRecord[] = [];
  let done = false;
  const runner = new LoadRunner(
    {
      timers,
      target: cluster,
      source: arraySource(plans),
      thinkTime: new ThinkTimeModel({ readCharsPerSec: 25, typeCharsPerSec: 6, speedJitter: 0 }),
      synth: new PromptSynthesizer(3, loadTokenizer("cl100k")),
    },
    {
      mode: "open",
      concurrency: 1,
      maxRequests: Infinity,
      durationUs: Infinity,
      timeScale: 1,
      hints: true,
      runId: "t",
    },
    (r) => records.push(r),
    () => {
      done = true;
      cluster.stop();
    },
  );
  cluster.start();
  runner.start();
  for (let i = 0; i < 10_000 && !done; i++) timers.runUntil(timers.nowUs() + 1_000_000);
  timers.runAll(1_000_000);
  return { records, cluster, stepModel, done };
}

describe("SimulatedCluster", () => {
  it("one single-turn request on an idle cluster -> TTFT = network path + the engine's cold prefill step", () => {
    const { records, cluster, stepModel, done } = simulate([session("a", 1)]);
    expect(done).toBe(true);
    expect(records).toHaveLength(1);
    const r = records[0]!;
    expect(r.error).toBeNull();
    expect(r.completion_tokens).toBe(20);
    expect(r.token_count).toBe(20);
    expect(r.itl_ms).toHaveLength(19);
    const net = cluster.net;
    // Request: client -> scheduler -> node -> engine; first token: engine -> node -> scheduler -> client.
    const bytes = 96 + r.request_id.length + r.session_id.length + r.client_id.length + 200 * 6;
    const up = ["clientScheduler", "schedulerNode", "nodeEngine"] as const;
    const upUs = up.map((l) => net.delayUs(l, bytes)).reduce((a, b) => a + b, 0);
    const prefillUs = Math.ceil(stepModel.coldTtftUs(r.prompt_tokens));
    const expectedMs = (upUs + prefillUs + net.eventEngineToClientUs) / 1000;
    // The request size is estimated from text length (words are ~6 chars), so allow a few µs.
    expect(r.ttft_ms!).toBeGreaterThan(expectedMs - 0.05);
    expect(r.ttft_ms!).toBeLessThan(expectedMs + 0.05);
  });

  it("multi-turn sessions, session-affinity -> every turn of a session on one node, later turns hit its KV", () => {
    const { records } = simulate([session("a", 3), session("b", 3), session("c", 3), session("d", 3)]);
    expect(records).toHaveLength(12);
    const bySession = new Map<string, RequestRecord[]>();
    for (const r of records) bySession.set(r.session_id, [...(bySession.get(r.session_id) ?? []), r]);
    for (const turns of bySession.values()) {
      expect(new Set(turns.map((t) => t.node_id)).size).toBe(1);
      for (const t of turns.filter((x) => x.turn_index > 0)) {
        expect(t.kv_tier).toBe("gpu");
        expect(t.cached_tokens).toBeGreaterThan(0);
      }
    }
    expect(new Set(records.map((r) => r.node_id))).toEqual(new Set(["node-1", "node-2"]));
  });

  it("multi-turn sessions, round-robin -> turns of one session spread over the nodes", () => {
    const { records } = simulate([session("a", 4)], spec({ policy: "round-robin" }));
    expect(new Set(records.map((r) => r.node_id)).size).toBe(2);
  });

  it("a turn larger than the node's KV budget -> fails with RESOURCE_EXHAUSTED, the run still ends", () => {
    const { records, done } = simulate([session("a", 1, 2000, 20)], spec({ kvBudgetTokens: 1000 }));
    expect(done).toBe(true);
    expect(records[0]!.error).toMatch(/^RESOURCE_EXHAUSTED/);
  });

  it("node queue full before any output -> the turn is placed on another node and succeeds", () => {
    // Round-robin over 2 nodes of one running + one queued turn: node-1 runs a and queues c (both
    // long), so e, which round-robin sends to node-1, is refused there (retryable) and moves to node-2.
    const { records, cluster } = simulate(
      [
        session("a", 1, 200, 2000),
        session("b", 1, 200, 5),
        session("c", 1, 200, 2000),
        session("d", 1, 200, 5, 500_000),
        session("e", 1, 200, 5, 500_010),
      ],
      spec({ policy: "round-robin", maxRunning: 1, maxQueue: 1 }),
    );
    const e = records.find((r) => r.session_id === "e")!;
    expect(e.error).toBeNull();
    expect(e.node_id).toBe("node-2");
    expect(records.every((r) => r.error === null)).toBe(true);
    expect(cluster.node("node-1")!.core.stats.rejectedQueueFull).toBe(1);
  });

  it("every node refuses before any output -> placed on 3 nodes in all, then the last refusal reaches the client", () => {
    const { records, cluster } = simulate(
      [session("a", 1)],
      spec({ nodes: 4, policy: "round-robin", maxRunning: 1, maxQueue: 0 }),
    );
    expect(records[0]!.error).toMatch(/^RESOURCE_EXHAUSTED: node queue is full/);
    const refusals = cluster.nodes.map((n) => n.core.stats.rejectedQueueFull);
    expect(refusals.reduce((a, b) => a + b, 0)).toBe(3);
    expect(Math.max(...refusals)).toBe(1);
  });

  it("2 nodes, both refuse before any output -> UNAVAILABLE naming why each failed the turn", () => {
    const { records } = simulate(
      [session("a", 1)],
      spec({ policy: "round-robin", maxRunning: 1, maxQueue: 0 }),
    );
    expect(records[0]!.error).toMatch(
      /^UNAVAILABLE: no usable node among 2 known: node-1 failed this turn \(RESOURCE_EXHAUSTED/,
    );
  });

  it("hints on, multi-turn sessions -> the nodes accept the Advise hints", () => {
    const { cluster } = simulate([session("a", 3), session("b", 3)]);
    expect(cluster.counters.hintsAccepted).toBe(4);
    expect(cluster.counters.hintErrors).toBe(0);
  });

  it("same plans twice -> identical records", () => {
    const plans = () => [
      session("a", 3, 300, 30),
      session("b", 2, 500, 40, 200_000),
      session("c", 2, 100, 10, 300_000),
    ];
    const a = simulate(plans()).records;
    const b = simulate(plans()).records;
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });
});

/**
 * One node whose engine holds 40 blocks (640 tokens): session a's first turn (~230 tokens) is
 * evicted from the prefix cache by session b's single 560-token turn at 1 s; a returns 5 s after
 * its first turn ended.
 */
function evictionScenario(drive: Partial<EngineDrive>, cpuOffload: boolean) {
  const base = spec({ nodes: 1 });
  const clusterSpec: ClusterSpec = {
    ...base,
    node: { ...base.node, drive: { ...DIRECTIVE_DRIVE, ...drive } },
    engine: {
      ...base.engine,
      numGpuBlocks: 40,
      ...(cpuOffload && {
        cpuOffload: { numCpuBlocks: 1000, bytesPerBlock: 16 * 131_072, linkBytesPerUs: 25_000 },
      }),
    },
  };
  const a = session("a", 2, 200, 20);
  a.turns[1]!.delayUs = 5_000_000;
  // A replayed reply of single-token words: the next turn re-encodes it to the very tokens the
  // engine generated, so its whole context can hit (a sampled reply may re-encode differently).
  for (const t of a.turns)
    t.expectedResponse = " time year people way day man thing woman life child".repeat(2).trim();
  const b = session("b", 1, 560, 20, 1_000_000);
  const run = simulate([a, b], clusterSpec);
  const aTurn1 = run.records.find((r) => r.session_id === "a" && r.turn_index === 1)!;
  return { ...run, aTurn1 };
}

describe("SimulatedCluster, stock engine", () => {
  it("off, no CPU offload -> the evicted session recomputes its context (kv_tier evicted)", () => {
    const { aTurn1, cluster } = evictionScenario({ prefetchMode: "off" }, false);
    expect(aTurn1.error).toBeNull();
    expect(aTurn1.kv_tier).toBe("evicted");
    expect(aTurn1.cached_tokens).toBeLessThan(200);
    expect(cluster.nodes[0]!.core.stats.prefetches).toBe(0);
    expect(cluster.nodes[0]!.warmupStats).toBeUndefined();
  });

  it("off, native CPU offload -> the context is loaded back from the CPU tier (kv_tier cpu, cached)", () => {
    const { aTurn1, cluster } = evictionScenario({ prefetchMode: "off" }, true);
    expect(aTurn1.kv_tier).toBe("cpu");
    expect(aTurn1.cached_tokens).toBeGreaterThanOrEqual(208);
    expect(cluster.nodes[0]!.engine.stats().offload!.cpuToGpuBytes).toBeGreaterThan(0);
  });

  it("warmup just-in-time -> the warm-up puts the context back on the GPU before the turn (useful)", () => {
    const { aTurn1, cluster } = evictionScenario(
      { prefetchMode: "warmup", warmupTiming: "just-in-time", warmupLeadUs: 500_000 },
      true,
    );
    expect(aTurn1.kv_tier).toBe("gpu");
    const w = cluster.nodes[0]!.warmupStats!;
    expect(w.sent).toBe(1);
    expect(w.useful).toBe(1);
  });

  it("warmup at the hint -> warmed before b's turn, evicted again by it: wasted (not cached)", () => {
    const { aTurn1, cluster } = evictionScenario({ prefetchMode: "warmup", warmupTiming: "at-hint" }, false);
    expect(aTurn1.kv_tier).not.toBe("gpu");
    const w = cluster.nodes[0]!.warmupStats!;
    expect(w.sent).toBe(1);
    expect(w.wasted.not_cached).toBe(1);
  });

  it("hint ETA error -> the just-in-time warm-up moves with it; same seed, same records", () => {
    // ETA × (1 ± 0.9): a warm-up may land up to 4.5 s early (before b's turn) or late.
    const drive = {
      prefetchMode: "warmup" as const,
      warmupTiming: "just-in-time" as const,
      hintEtaError: 0.9,
    };
    const seeds = [1, 2, 3, 4, 5, 6].map((seed) => evictionScenario({ ...drive, seed }, false));
    const useful = seeds.map((r) => r.cluster.nodes[0]!.warmupStats!.useful);
    expect(useful.some((u) => u === 0)).toBe(true);
    expect(JSON.stringify(evictionScenario({ ...drive, seed: 3 }, false).records)).toBe(
      JSON.stringify(seeds[2]!.records),
    );
  });
});
