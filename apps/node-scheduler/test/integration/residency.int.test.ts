import { existsSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, type RunningService, startNode, startMockVllm } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeEngine } from "../fake-engine";
import { nodeClient } from "../grpc-client";
import { scrapeNode } from "../metrics-scrape";
import { gpuHitRate, runRoundRobin, type RoundRobinResult } from "../round-robin";

/**
 * Under a GPU budget that holds only a couple of sessions, 5 sessions visited round-robin must
 * be offloaded between turns. With hints the node prefetches them back before they return;
 * without hints they come back to the CPU tier and wait for a restore.
 */
const SESSIONS = 5;
const TURNS = 4;
const NODE_ARGS = [
  // The node's modelled tiers and prefetches are what this suite checks (a directive engine).
  "--prefetch-mode",
  "directive",
  "--kv-budget-tokens",
  "900",
  "--cpu-budget-tokens",
  "100000",
  "--offload-gbps",
  "1",
  "--residency-policy",
  "hint-aware",
  // Generous margin: under a loaded test machine turn times vary, and an early prefetch costs nothing here.
  "--prefetch-margin-ms",
  "150",
];

interface Run {
  result: RoundRobinResult;
  metric: (name: string) => number;
}

async function runScenario(node: RunningService, prefix: string, hints: boolean): Promise<Run> {
  const client = nodeClient(node.ports.grpc!);
  try {
    const result = await runRoundRobin({
      client,
      prefix,
      sessions: SESSIONS,
      turns: TURNS,
      hints,
      maxOutputTokens: 32,
    });
    return { result, metric: await scrapeNode(node.ports.metrics!) };
  } finally {
    client.close();
  }
}

function describeResidency(
  engineName: string,
  startEngine: () => Promise<{ url: string; stop: () => Promise<unknown> }>,
) {
  describe(`node-scheduler residency under a small budget (${engineName})`, () => {
    let engine: { url: string; stop: () => Promise<unknown> };
    let hinted: RunningService;
    let unhinted: RunningService;
    let withHints: Run;
    let withoutHints: Run;

    beforeAll(async () => {
      engine = await startEngine();
      [hinted, unhinted] = await Promise.all([
        startNode(engine.url, NODE_ARGS, { name: "node-hinted" }),
        startNode(engine.url, NODE_ARGS, { name: "node-unhinted" }),
      ]);
      // One after the other: the two runs would otherwise compete for the engine and skew timing.
      withHints = await runScenario(hinted, "hinted", true);
      withoutHints = await runScenario(unhinted, "plain", false);
    }, 120_000);

    afterAll(async () => {
      await hinted?.stop();
      await unhinted?.stop();
      await engine?.stop();
    });

    it("every turn of every session -> finished, none lost or evicted", () => {
      for (const run of [withHints, withoutHints]) {
        expect(run.result.errors).toEqual([]);
        expect(run.result.finished).toBe(SESSIONS * TURNS);
        expect(run.result.returning.evicted + run.result.returning.new).toBe(0);
        expect(run.metric("symphony_node_evictions_total")).toBe(0);
      }
    });

    it("budget too small for all sessions -> sessions offloaded in both runs", () => {
      expect(withHints.metric("symphony_node_offloads_total")).toBeGreaterThan(0);
      expect(withoutHints.metric("symphony_node_offloads_total")).toBeGreaterThan(0);
      expect(withoutHints.result.returning.cpu).toBeGreaterThan(0);
    });

    it("hints sent in time -> prefetches happen and the GPU hit rate beats the run without hints", () => {
      expect(withHints.result.hintsAccepted).toBe(SESSIONS * (TURNS - 1));
      expect(withHints.metric("symphony_node_prefetches_total")).toBeGreaterThan(0);
      expect(withoutHints.metric("symphony_node_prefetches_total")).toBe(0);
      expect(gpuHitRate(withHints.result)).toBeGreaterThan(gpuHitRate(withoutHints.result));
      // A prefetched session needs no restore when it comes back.
      expect(withHints.metric("symphony_node_restores_total")).toBeLessThan(
        withoutHints.metric("symphony_node_restores_total"),
      );
    });
  });
}

describeResidency("fake engine", async () => {
  const fake = await new FakeEngine().start();
  fake.chunkDelayMs = 4; // ~20 chunks => ~80 ms per turn, so sessions return ~300 ms later
  return { url: fake.url, stop: () => fake.stop() };
});

const mockBundle = join(repoRoot, "dist", "apps", "mock-vllm", "main.js");
describe.runIf(existsSync(mockBundle))("with the built mock-vllm", () => {
  describeResidency("mock-vllm", async () => {
    const mock = await startMockVllm(["--seed", "1", "--kv-connector", "--enable-prompt-tokens-details"]);
    return { url: mock.url, stop: () => mock.stop() };
  });
});
