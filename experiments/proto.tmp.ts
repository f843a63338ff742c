import { writeFileSync } from "node:fs";
import { createLogger, parseWithSchema } from "@symphony/common";
import { clusterFileSchema, resolveConfig } from "@symphony/simulator/src/config";
import { runSimulation } from "@symphony/simulator/src/simulate";
import { rowOf } from "@symphony/simulator/src/sweep";
import { synthesizeChatDataset, DEFAULT_DATASET_SHAPE } from "./src/domain/sharegpt-synth";
import { CONFIGURATIONS } from "./src/configurations";

async function main() {
  const ds = "/tmp/exp-ds.json";
  writeFileSync(ds, JSON.stringify(synthesizeChatDataset(DEFAULT_DATASET_SHAPE, 1)));
  const [nodes, clients, dur, ts, budget] = process.argv.slice(2).map(Number);
  const which = process.env.CFGS ? process.env.CFGS.split(",") : ["baseline", "hints"];
  for (const c of CONFIGURATIONS.filter((c) => which.includes(c.name))) {
    const file = parseWithSchema(clusterFileSchema, {
      nodes, policy: c.routing, seed: 1,
      engine: { profile: "llama3-8b-h100", eos_mean_tokens: 0, num_gpu_blocks: Math.ceil(budget / 16) },
      node: { kv_budget_tokens: budget, cpu_budget_tokens: c.cpuTier ? budget * 4 : 0, residency_policy: c.residencyPolicy },
      workload: { type: "closed", dataset: ds, num_clients: clients, duration: dur, time_scale: ts },
    }, "x");
    const cfg = resolveConfig(file, { hints: c.hints }, { configFile: undefined, out: undefined, sweep: [], progressIntervalS: 30, logLevel: "warn" });
    const r = await runSimulation(cfg, createLogger("p", "warn"));
    const row = rowOf(c.name, {}, r);
    console.log(c.name, JSON.stringify(row), JSON.stringify(r.summary.nodes["node-1"]));
  }
}
void main();
