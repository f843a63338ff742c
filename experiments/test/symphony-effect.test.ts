/**
 * The experiment's short version: the four configurations on a small simulated cluster under KV
 * pressure, checking the orderings the design says must hold, never a fixed ratio.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@symphony/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONFIGURATIONS } from "../src/configurations";
import { runScale, writeDataset, type ScaleResult } from "../src/experiment";
import { capacityTable, chartSvg, pointsCsv } from "../src/report";
import type { Scale } from "../src/scale";

const SLO_MS = 1000;
/** 2 nodes whose KV holds a handful of sessions: 24 sessions of ~1-2k tokens need offload to keep theirs. */
const SMALL: Scale = {
  mode: "sim",
  nodes: 2,
  kvTokens: 8192,
  cpuTokens: 65_536,
  sessions: [24],
  durationS: 120,
  warmupS: 20,
  thinkTimeScale: 10,
  engineTimeScale: 1,
};

const dir = mkdtempSync(join(tmpdir(), "symphony-effect-test-"));
const results = new Map<number, ScaleResult>();
const logger = createLogger("experiments-test", "error");

beforeAll(async () => {
  for (const seed of [1, 2]) {
    const dataset = writeDataset(
      join(dir, `dataset-${seed}.json`),
      { conversations: 60, minTurns: 4, maxTurns: 8, meanPromptTokens: 120, meanReplyTokens: 150 },
      seed,
    );
    results.set(
      seed,
      await runScale({
        name: "test",
        scale: SMALL,
        configs: CONFIGURATIONS,
        datasetPath: dataset,
        seed,
        sloP99TtftMs: SLO_MS,
        logger,
      }),
    );
  }
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const at = (seed: number, config: string) => results.get(seed)!.points.find((p) => p.config === config)!;

describe.each([1, 2])("symphony-effect, small simulated cluster, seed %d", (seed) => {
  it("every configuration -> turns completed, none failed", () => {
    for (const c of CONFIGURATIONS) {
      expect(at(seed, c.name).completed, c.name).toBeGreaterThan(0);
      expect(at(seed, c.name).failed, c.name).toBe(0);
    }
  });

  it("hints vs no hints, same workload -> hints never lose on the returning turns' GPU hit rate", () => {
    expect(at(seed, "hints").gpu_hit_rate).toBeGreaterThanOrEqual(at(seed, "residency").gpu_hit_rate);
  });

  it("session affinity vs round-robin -> affinity never loses on the engines' prefix-cache hit rate", () => {
    expect(at(seed, "affinity").prefix_cache_hit_rate).toBeGreaterThanOrEqual(
      at(seed, "baseline").prefix_cache_hit_rate,
    );
  });

  it("knobs -> only config 4 prefetches; configs 1-2 (no CPU tier) never offload, 3-4 do under this pressure", () => {
    expect(at(seed, "hints").prefetches).toBeGreaterThan(0);
    expect(at(seed, "residency").prefetches).toBe(0);
    expect(at(seed, "baseline").offloads + at(seed, "affinity").offloads).toBe(0);
    expect(at(seed, "residency").offloads).toBeGreaterThan(0);
  });
});

describe("report of the short run", () => {
  it("capacity table -> one row per configuration; CSV -> one line per point; chart -> one line per configuration", () => {
    const r = results.get(1)!;
    expect(capacityTable(r).trim().split("\n")).toHaveLength(2 + CONFIGURATIONS.length);
    expect(pointsCsv([r]).trim().split("\n")).toHaveLength(1 + r.points.length);
    expect(chartSvg([r], SLO_MS).match(/<path /g)).toHaveLength(CONFIGURATIONS.length);
  });
});
