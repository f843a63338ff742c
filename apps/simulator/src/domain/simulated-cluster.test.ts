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
  type RequestRecord,
  type SessionPlan,
} from "@symphony/workloadgen/domain";
import { describe, expect, it } from "vitest";
import { FastTokenCache } from "./fast-token-cache";
import { SimulatedCluster, type ClusterSpec } from "./simulated-cluster";

const profile = PROFILES["llama3-8b-h100"]!;
const link = { latencyUs: 100, bandwidthBytesPerSec: 1.25e9 };

function spec(overrides: { nodes?: number; policy?: string; kvBudgetTokens?: number } = {}): ClusterSpec {
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
      maxRunning: 256,
      maxQueue: 1024,
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
