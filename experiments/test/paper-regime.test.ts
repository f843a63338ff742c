/**
 * The paper-regime experiment's short version: the five configurations on a 2-GPU simulated
 * Llama-2-13B/A100 cluster loaded past its KV cache, checking what the configurations' mechanisms
 * guarantee (who warms up, who copies KV back from host memory, who recomputes), never a ratio
 * or a capacity ordering (those depend on load and noise).
 */
import { createLogger } from "@symphony/runtime";
import { beforeAll, describe, expect, it } from "vitest";
import { parseRegimeConfig } from "../src/paper-regime/config";
import { capacityCsv, regimeMarkdown } from "../src/paper-regime/report";
import { runRegime, type RegimeResult } from "../src/paper-regime/run";

const logger = createLogger("paper-regime-test", "error");
const base = [
  "paper-regime",
  "--profiles",
  "llama2-13b-a100",
  "--gpus",
  "2",
  "--duration",
  "60",
  "--warmup",
  "20",
  "--log-level",
  "error",
];
// 40 users per GPU of long chats (prompts ~300, replies ~500 tokens): more context than the
// 60k-token KV cache holds, so idle sessions' KV must leave the GPU.
const fixed = parseRegimeConfig([
  "--prompt-median",
  "300",
  "--reply-median",
  "500",
  ...base,
  "--seeds",
  "1,2",
  "--fixed-sessions-per-gpu",
  "40",
  "--no-capacity",
  "--no-hint-variants",
]);
const searched = parseRegimeConfig([
  ...base,
  "--seeds",
  "1",
  "--configs",
  "round-robin,warmup",
  "--fixed-sessions-per-gpu",
  "0",
  "--search-tolerance-pct",
  "50",
  "--search-start-per-gpu",
  "16",
]);
let atLoad: RegimeResult;
let capacity: RegimeResult;

beforeAll(async () => {
  atLoad = await runRegime(fixed, "llama2-13b-a100", "chat-gaps", logger);
  capacity = await runRegime(searched, "llama2-13b-a100", "chat-gaps", logger);
}, 300_000);

const point = (seed: number, config: string) =>
  atLoad.fixed.find((p) => p.seed === seed && p.config === config)!;

describe.each([1, 2])("paper-regime at 40 sessions per GPU, seed %d", (seed) => {
  it("every configuration -> turns completed, none failed", () => {
    for (const c of fixed.configs) {
      expect(point(seed, c.name).completed).toBeGreaterThan(0);
      expect(point(seed, c.name).failed).toBe(0);
    }
  });

  it("only configuration 4 sends warm-ups; each ends useful or wasted at most once", () => {
    for (const name of ["round-robin", "affinity", "offload", "directive"])
      expect(point(seed, name).warmups_sent).toBe(0);
    const w = point(seed, "warmup");
    expect(w.warmups_sent).toBeGreaterThan(0);
    expect(w.warmups_useful).toBeGreaterThan(0);
    expect(w.warmups_useful + w.warmups_wasted).toBeLessThanOrEqual(w.warmups_sent);
  });

  it("no KV comes back from host memory without a CPU tier (1, 2); it does with one (3, 4, 5)", () => {
    expect(point(seed, "round-robin").cpu_to_gpu_bytes).toBe(0);
    expect(point(seed, "affinity").cpu_to_gpu_bytes).toBe(0);
    for (const name of ["offload", "warmup", "directive"])
      expect(point(seed, name).cpu_to_gpu_bytes).toBeGreaterThan(0);
  });

  it("the directive engine recomputes nothing: its host tier holds every session here", () => {
    expect(point(seed, "directive").recomputed_tokens).toBe(0);
  });

  it("session affinity finds returning turns' context on the GPU at least as often as round-robin", () => {
    expect(point(seed, "affinity").gpu_hit_rate).toBeGreaterThanOrEqual(
      point(seed, "round-robin").gpu_hit_rate,
    );
  });
});

describe("paper-regime capacity search", () => {
  it("unloaded reference measured per seed; both criteria searched for each configuration", () => {
    expect(capacity.unloaded.map((u) => u.seed)).toEqual([1]);
    expect(capacity.unloaded[0]!.normalized_latency_ms).toBeGreaterThan(0);
    for (const config of ["round-robin", "warmup"])
      for (const criterion of ["slo", "latency"] as const) {
        const k = capacity.capacities.find((x) => x.config === config && x.criterion === criterion)!;
        expect(k.search.capacity).toBeGreaterThan(0);
        expect(k.search.probes.length).toBeGreaterThan(0);
      }
  });

  it("report -> headline, capacity table and one CSV line per configuration, seed and criterion", () => {
    const md = regimeMarkdown(searched, [capacity], "t", 1);
    expect(md).toContain("## Headline: configurations 4 and 5 vs configuration 1");
    expect(md).toContain("| llama2-13b-a100, 2 GPUs, chat-gaps |");
    expect(md).toContain("4 vLLM, affinity + offload + Symphony warm-ups");
    expect(capacityCsv([capacity]).trim().split("\n")).toHaveLength(1 + 2 * 2);
    const fixedMd = regimeMarkdown(fixed, [atLoad], "t", 1);
    expect(fixedMd).toContain("### At 80 sessions (40 per GPU)");
  });
});
