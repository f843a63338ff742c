/**
 * The live path on the real processes: the local stack with configuration 4's knobs, one short
 * point, figures from workloadgen's records and KV counters from the node-schedulers' /metrics.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@symphony/runtime";
import type { LocalStack } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configurationNamed } from "../../src/configurations";
import { writeDataset } from "../../src/experiment";
import { runLivePoint, startStackFor } from "../../src/live-point";
import type { Scale } from "../../src/scale";

const scale: Scale = {
  mode: "live",
  nodes: 1,
  kvTokens: 2048,
  cpuTokens: 32_768,
  sessions: [8],
  durationS: 15,
  warmupS: 0,
  thinkTimeScale: 60,
  engineTimeScale: 1,
};
const hints = configurationNamed("hints");
const dir = mkdtempSync(join(tmpdir(), "symphony-effect-live-"));
let stack: LocalStack;

beforeAll(async () => {
  stack = await startStackFor(scale, hints, 1);
}, 60_000);
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("live point, configuration 4 on one node", () => {
  it("8 sessions for 15 s -> turns completed without errors, KV counters read", async () => {
    const dataset = writeDataset(
      join(dir, "d.json"),
      { conversations: 12, minTurns: 3, maxTurns: 5, meanPromptTokens: 120, meanReplyTokens: 80 },
      1,
    );
    const p = await runLivePoint(stack, scale, hints, 8, dataset, 1, createLogger("t", "error"));
    expect(p.completed).toBeGreaterThan(8);
    expect(p.failed).toBe(0);
    expect(p.ttft_p99_ms).toBeGreaterThan(0);
    // 8 sessions of ~200-1000 tokens against a 2048-token GPU budget: the node must move KV.
    expect(p.offloads + p.evictions).toBeGreaterThan(0);
  }, 60_000);
});
