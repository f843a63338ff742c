import { loadTokenizer, VirtualTimers } from "@symphony/common";
import {
  ChatTemplate,
  coefficientsFor,
  OutputPlanner,
  PROFILES,
  StepTimeModel,
  type EngineConfig,
} from "@symphony/mock-vllm/domain";
import {
  arraySource,
  LoadRunner,
  PromptSynthesizer,
  ThinkTimeModel,
  type SessionPlan,
} from "@symphony/workloadgen/domain";
import type { RequestRecord } from "@symphony/measure";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FastTokenCache } from "./fast-token-cache";
import { SimulatedCluster, type ClusterSpec } from "./simulated-cluster";
import { DIRECTIVE_DRIVE, type PrefetchMode } from "./simulated-node";

const profile = PROFILES["llama3-8b-h100"]!;
const link = { latencyUs: 100, bandwidthBytesPerSec: 1.25e9 };
const tokenizer = loadTokenizer("cl100k");

interface Case {
  nodes: number;
  policy: string;
  engine: Omit<EngineConfig, "blockSize" | "enablePrefixCaching" | "fastForward" | "cpuOffload">;
  /** The node's engine mode (stock modes send warm-ups and use the engine's own caches). */
  prefetchMode: PrefetchMode;
  /** vLLM's native CPU offload on the engine, in blocks; 0 = off. */
  cpuOffloadBlocks: number;
  kvBudgetTokens: number;
  sessions: {
    turns: number;
    promptTokens: number;
    maxOutputTokens: number;
    startUs: number;
    stream: boolean;
  }[];
  /** A hard end (in-flight turns cancelled), or none. */
  hardEnd: { durationUs: number; graceUs: number } | null;
}

function spec(c: Case, fastForward: boolean): ClusterSpec {
  return {
    nodes: c.nodes,
    routing: {
      policy: c.policy,
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
      gpuBudgetTokens: c.kvBudgetTokens,
      cpuBudgetTokens: 1_048_576,
      bytesPerToken: 131_072,
      offloadGBps: 25,
      maxRunning: 256,
      maxQueue: 1024,
      prefetchMarginUs: 50_000,
      residencyPolicy: "hint-aware",
      hintStaleAfterUs: 10_000_000,
      drive: {
        ...DIRECTIVE_DRIVE,
        prefetchMode: c.prefetchMode,
        warmupTiming: "just-in-time",
        warmupLeadUs: 100_000,
      },
    },
    engine: {
      ...c.engine,
      blockSize: 16,
      enablePrefixCaching: true,
      fastForward,
      ...(c.cpuOffloadBlocks > 0 && {
        cpuOffload: { numCpuBlocks: c.cpuOffloadBlocks, bytesPerBlock: 16 * 131_072, linkBytesPerUs: 25_000 },
      }),
    },
    network: { clientScheduler: link, schedulerNode: link, nodeEngine: link },
  };
}

function plans(c: Case): SessionPlan[] {
  return c.sessions.map((s, i) => ({
    sessionId: `s${i}`,
    clientId: `c${i}`,
    profile: "test",
    startUs: s.startUs,
    priority: "normal",
    stream: s.stream,
    ignoreEos: false,
    mode: "chat",
    turns: Array.from({ length: s.turns }, (_, t) => ({
      turnIndex: t,
      promptTokens: s.promptTokens,
      maxOutputTokens: s.maxOutputTokens,
      delayUs: t === 0 ? 0 : 300_000,
      // Multi-turn sessions replay single-token words: the next turn re-encodes to the very
      // tokens generated, so later turns hit the prefix cache (and warm-ups have work to do).
      ...(s.turns > 1 && {
        expectedResponse: " time year people way day man thing woman life child".repeat(1 + (i % 4)).trim(),
      }),
    })),
  }));
}

/** The requests.jsonl content of one simulated run (records in completion order). */
function simulate(c: Case, fastForward: boolean): string {
  const timers = new VirtualTimers();
  const tokens = new FastTokenCache();
  const cluster = new SimulatedCluster(
    timers,
    spec(c, fastForward),
    new StepTimeModel(coefficientsFor(profile)),
    {
      tokens,
      template: new ChatTemplate(tokens),
      planner: new OutputPlanner(0, 64, tokens),
      maxModelLen: profile.model.maxModelLen,
    },
  );
  const records: RequestRecord[] = [];
  let done = false;
  const runner = new LoadRunner(
    {
      timers,
      target: cluster,
      source: arraySource(plans(c)),
      thinkTime: new ThinkTimeModel({ readCharsPerSec: 25, typeCharsPerSec: 6, speedJitter: 0 }),
      synth: new PromptSynthesizer(3, tokenizer),
    },
    {
      mode: "open",
      concurrency: 1,
      maxRequests: Infinity,
      durationUs: c.hardEnd?.durationUs ?? Infinity,
      graceUs: c.hardEnd?.graceUs,
      timeScale: 1,
      hints: true,
      runId: "ff",
    },
    (r) => records.push(r),
    () => {
      done = true;
      cluster.stop();
    },
  );
  cluster.start();
  runner.start();
  for (let i = 0; i < 1000 && !done; i++) timers.runUntil(timers.nowUs() + 1_000_000);
  timers.runAll(2_000_000);
  expect(done).toBe(true);
  return records.map((r) => JSON.stringify(r)).join("\n");
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  nodes: fc.integer({ min: 1, max: 3 }),
  policy: fc.constantFrom("session-affinity", "round-robin", "least-loaded", "kv-aware"),
  engine: fc.record({
    maxNumSeqs: fc.integer({ min: 1, max: 32 }),
    maxNumBatchedTokens: fc.integer({ min: 64, max: 4096 }),
    // Small pools preempt; the largest never does.
    numGpuBlocks: fc.integer({ min: 60, max: 3000 }),
    timeScale: fc.constantFrom(1, 10),
  }),
  prefetchMode: fc.constantFrom<PrefetchMode>("directive", "warmup", "off"),
  cpuOffloadBlocks: fc.constantFrom(0, 0, 50, 2000),
  kvBudgetTokens: fc.constantFrom(2_000, 262_144),
  sessions: fc.array(
    fc.record({
      turns: fc.integer({ min: 1, max: 3 }),
      promptTokens: fc.integer({ min: 1, max: 700 }),
      maxOutputTokens: fc.integer({ min: 1, max: 200 }),
      startUs: fc.integer({ min: 0, max: 1_500_000 }),
      stream: fc.boolean(),
    }),
    { minLength: 1, maxLength: 24 },
  ),
  hardEnd: fc.option(
    fc.record({
      durationUs: fc.integer({ min: 100_000, max: 1_500_000 }),
      graceUs: fc.integer({ min: 0, max: 500_000 }),
    }),
    { nil: null },
  ),
});

describe("engine fast-forward in the simulated cluster", () => {
  it("gives byte-identical request records to stepping every request every step", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        expect(simulate(c, true)).toBe(simulate(c, false));
      }),
      { numRuns: 30, seed: 21 },
    );
  }, 120_000);

  it("a hard end mid-stream keeps exactly the tokens that reached the client before it", () => {
    const c: Case = {
      nodes: 1,
      policy: "session-affinity",
      engine: { maxNumSeqs: 8, maxNumBatchedTokens: 2048, numGpuBlocks: 2000, timeScale: 1 },
      prefetchMode: "directive",
      cpuOffloadBlocks: 0,
      kvBudgetTokens: 262_144,
      sessions: [{ turns: 1, promptTokens: 100, maxOutputTokens: 200, startUs: 0, stream: true }],
      hardEnd: { durationUs: 100_000, graceUs: 50_000 },
    };
    for (const ff of [true, false]) {
      const r = JSON.parse(simulate(c, ff)) as RequestRecord;
      expect(r.error).toMatch(/^CANCELLED/);
      // Every token counted arrived before the hard end (150 ms after the start); the next
      // one would have arrived after it (one more decode step, about 7 ms).
      const lastMs = r.first_token_ms! + r.itl_ms.reduce((a, b) => a + b, 0);
      expect(r.token_count).toBe(r.itl_ms.length + 1);
      expect(lastMs).toBeLessThan(150);
      expect(lastMs + 10).toBeGreaterThan(150);
    }
  });
});
