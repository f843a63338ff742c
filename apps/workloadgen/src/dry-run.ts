import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "./config";
import { AgentPlanStats, agentPlanLine, planLine, summarizePlan } from "./domain";
import { toJson } from "./output/report";
import type { Workload } from "./workload";

/**
 * `--dry-run`: drains the workload's plan without sending anything. Prints the first
 * `--plan-size` sessions and a summary; with `--out`, writes every session to plan.jsonl and the
 * summary to plan-summary.json (same seed -> byte-identical files).
 */
export function dryRun(config: Readonly<Config>, workload: Workload): void {
  // Closed-loop sources cycle forever: list one pass (or --plan-size sessions).
  const limit = config.workload === "closed" ? Math.max(config.planSize, 1) : Infinity;
  // Synchronous writes: the plan is produced synchronously, and nothing piles up in memory.
  const planFd = config.out ? openSync(join(config.out, "plan.jsonl"), "w") : undefined;
  const shown: string[] = [];
  // Lines are batched: one write per ~1 MB keeps a 360k-session plan to a few seconds.
  let batch: string[] = [];
  let batchChars = 0;
  const flush = () => {
    if (batch.length > 0 && planFd !== undefined) writeSync(planFd, batch.join(""));
    batch = [];
    batchChars = 0;
  };
  const agents = config.workload === "agent" ? new AgentPlanStats() : undefined;
  const summary = summarizePlan(workload.source, limit, (plan, i) => {
    agents?.add(plan);
    const line = agents ? agentPlanLine(plan) : planLine(plan);
    if (planFd !== undefined) {
      batch.push(line + "\n");
      batchChars += line.length + 1;
      if (batchChars > 1 << 20) flush();
    }
    if (i < config.planSize) shown.push(line);
  });
  flush();
  if (planFd !== undefined) closeSync(planFd);
  const result = {
    workload: config.workload,
    seed: config.seed,
    ...workload.info,
    plan: summary,
    ...(agents ? { agents: agents.summary() } : {}),
  };
  if (config.out) writeFileSync(join(config.out, "plan-summary.json"), toJson(result) + "\n");
  process.stdout.write(shown.join("\n") + (shown.length ? "\n" : "") + toJson(result) + "\n");
}
