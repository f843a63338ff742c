import { readdirSync } from "node:fs";
import { join } from "node:path";
import { defaultsOf } from "@symphony/common";
import { helpDefaultMismatches } from "@symphony/runtime";
import { mockVllmOptions } from "@symphony/mock-vllm";
import { nodeSchedulerOptions } from "@symphony/node-scheduler";
import { DEFAULT_POLICY_PARAMS, schedulerOptions } from "@symphony/scheduler";
import { repoRoot } from "@symphony/testkit";
import { parseConfig as parseWorkloadConfig } from "@symphony/workloadgen";
import { describe, expect, it } from "vitest";
import { buildProgram, parseConfig, simulatorOptions } from "./config";

describe("simulatorOptions", () => {
  it("--help -> shows exactly the schema's defaults", () => {
    expect(helpDefaultMismatches(buildProgram(), simulatorOptions)).toEqual([]);
  });
});

describe("cluster defaults", () => {
  const cluster = parseConfig([]).cluster;

  it("no cluster file -> the scheduler's own defaults", () => {
    const d = defaultsOf(schedulerOptions);
    expect(cluster.routing.policy).toBe(d.policy);
    expect(cluster.routing.pollIntervalUs).toBe(d.pollIntervalMs! * 1000);
    expect(cluster.routing.router).toMatchObject({
      heartbeatTimeoutUs: d.heartbeatTimeoutMs! * 1000,
      rebalanceIntervalUs: d.rebalanceIntervalMs! * 1000,
      rebalance: {
        overloadKvFraction: d.overloadKvFraction,
        targetKvFraction: d.targetKvFraction,
        overloadOutstanding: d.overloadQueue,
        maxMovesPerRound: d.maxMovesPerRound,
      },
      sessionTtlUs: d.sessionTtlMs! * 1000,
      prefixBlockChars: d.prefixBlockChars,
    });
    // Left out, the policy's parameters are its own defaults, which are the scheduler's flags'.
    expect(cluster.routing.params).toEqual({});
    expect(DEFAULT_POLICY_PARAMS).toEqual({
      queueWeight: d.queueWeight,
      kvWeight: d.kvWeight,
      prefixWeight: d.prefixWeight,
      queueHalfScoreRequests: d.queueHalfScore,
    });
  });

  it("no cluster file -> the node-scheduler's own defaults", () => {
    const d = defaultsOf(nodeSchedulerOptions);
    expect(cluster.node).toMatchObject({
      gpuBudgetTokens: d.kvBudgetTokens,
      cpuBudgetTokens: d.cpuBudgetTokens,
      // Llama 3.1 8B, the default profile's model, is also the node-scheduler's default.
      bytesPerToken: d.kvBytesPerToken,
      offloadGBps: d.offloadGbps,
      maxRunning: d.maxRunning,
      maxQueue: d.maxQueue,
      prefetchMarginUs: d.prefetchMarginMs! * 1000,
      residencyPolicy: d.residencyPolicy,
      hintStaleAfterUs: d.hintStaleMs! * 1000,
    });
  });

  it("no cluster file -> mock-vllm's own defaults", () => {
    const d = defaultsOf(mockVllmOptions);
    const c = parseConfig([]);
    expect(c.engineInfo).toMatchObject({ profile: d.profile, eosMeanTokens: d.eosMeanTokens, seed: d.seed });
    expect(c.cluster.engine).toMatchObject({
      blockSize: d.blockSize,
      enablePrefixCaching: d.enablePrefixCaching,
      timeScale: d.timeScale,
    });
    expect(c.file.engine).toMatchObject({
      gpu_memory_utilization: d.gpuMemoryUtilization,
      kv_offloading_size: d.kvOffloadingSize,
    });
  });
});

describe("workload files", () => {
  const examples = join(repoRoot, "apps", "workloadgen", "examples");

  it.each(readdirSync(examples).filter((f) => /\.ya?ml$/.test(f)))(
    "workloadgen's %s -> read by the simulator as workloadgen reads it",
    (name) => {
      const path = join(examples, name);
      const own = parseWorkloadConfig(["--config", path, "--tokenizer", "cl100k"]);
      const simulated = parseConfig(["--config", path]).workload;
      expect(simulated).toEqual(own);
    },
  );
});
