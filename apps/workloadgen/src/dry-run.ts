import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "@symphony/common";
import { toJson } from "@symphony/measure";
import type { Config } from "./config";
import {
  AgentPlanStats,
  agentPlanLine,
  planLine,
  shareOf,
  summarizePlan,
  type SessionSource,
} from "./domain";
import { WHOLE } from "./shard";
import type { Workload } from "./workload";

/**
 * Most sessions a dry run lists: its summary keeps every turn's lengths, so a plan that (nearly)
 * never ends must stop with a message instead of filling memory.
 */
export const MAX_DRY_RUN_SESSIONS = 5_000_000;

/** `source`, refusing to go past `max` sessions. */
export function boundedSource(source: SessionSource, max: number): SessionSource {
  let count = 0;
  return {
    next() {
      const plan = source.next();
      if (plan && ++count > max)
        throw new UsageError(
          `--dry-run: the plan has more than ${max} sessions; shorten workload.total_duration or lower the arrival rate`,
        );
      return plan;
    },
  };
}

/**
 * `--dry-run`: drains the workload's plan without sending anything. Prints the first
 * `--plan-size` sessions and a summary; with `--out`, writes every session to plan.jsonl and the
 * summary to plan-summary.json (same seed -> byte-identical files).
 */
export function dryRun(config: Readonly<Config>, workload: Workload): void {
  // Closed-loop sources cycle forever: list --plan-size sessions (a shard: its part of them).
  const shard = config.shard ?? WHOLE;
  const limit =
    config.workload === "closed" ? shareOf(Math.max(config.planSize, 1), shard.index, shard.count) : Infinity;
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
  const summary = summarizePlan(boundedSource(workload.source, MAX_DRY_RUN_SESSIONS), limit, (plan, i) => {
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
