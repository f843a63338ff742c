import type { SessionPlan } from "./plan";
import { summarize, type MetricSummary } from "@symphony/measure";

/** Shape of the agent sessions of a plan, for `--dry-run` (sub-agents included). */
export interface AgentPlanSummary {
  agent_sessions: number;
  subagent_sessions: number;
  /** LLM calls of top-level agents / of sub-agents. */
  turns_per_agent: MetricSummary;
  turns_per_subagent: MetricSummary;
  /** Planned tool latencies, s (before --time-scale). */
  tool_latency_s: MetricSummary;
  tool_output_tokens: MetricSummary;
  /** Fan-outs and sub-agents per fan-out. */
  fan_outs: number;
  fan_out: MetricSummary;
  /** Planned requests including sub-agents' turns. */
  requests_with_subagents: number;
}

/** Collects agent-plan statistics session by session (a plan can be too large to hold). */
export class AgentPlanStats {
  private agents = 0;
  private subAgents = 0;
  private readonly agentTurns: number[] = [];
  private readonly subTurns: number[] = [];
  private readonly latencies: number[] = [];
  private readonly toolTokens: number[] = [];
  private readonly fanOuts: number[] = [];
  private requests = 0;

  add(plan: SessionPlan, depth = 0): void {
    if (plan.kind !== "agent") return;
    if (depth === 0) {
      this.agents++;
      this.agentTurns.push(plan.turns.length);
    } else {
      this.subAgents++;
      this.subTurns.push(plan.turns.length);
    }
    this.requests += plan.turns.length;
    for (const t of plan.turns) {
      if (t.kind === "tool") {
        this.latencies.push((t.delayUs ?? 0) / 1e6);
        this.toolTokens.push(t.promptTokens);
      }
      if (t.subAgents?.length) {
        this.fanOuts.push(t.subAgents.length);
        for (const child of t.subAgents) this.add(child, depth + 1);
      }
    }
  }

  summary(): AgentPlanSummary {
    return {
      agent_sessions: this.agents,
      subagent_sessions: this.subAgents,
      turns_per_agent: summarize(this.agentTurns),
      turns_per_subagent: summarize(this.subTurns),
      tool_latency_s: summarize(this.latencies),
      tool_output_tokens: summarize(this.toolTokens),
      fan_outs: this.fanOuts.length,
      fan_out: summarize(this.fanOuts),
      requests_with_subagents: this.requests,
    };
  }
}

/** One agent session as a plan.jsonl line: turns with their kind, tool latency and nested sub-agents. */
export function agentPlanLine(plan: SessionPlan): string {
  return JSON.stringify(agentPlanObject(plan));
}

function agentPlanObject(plan: SessionPlan): Record<string, unknown> {
  return {
    session_id: plan.sessionId,
    client_id: plan.clientId,
    profile: plan.profile,
    kind: plan.kind ?? "chat",
    ...(plan.parentSessionId !== undefined ? { parent_session_id: plan.parentSessionId } : {}),
    start_ms: plan.startUs === undefined ? null : plan.startUs / 1000,
    priority: plan.priority,
    stream: plan.stream,
    turns: plan.turns.map((t) => ({
      turn_index: t.turnIndex,
      kind: t.kind ?? "user",
      delay_ms: t.delayUs === undefined ? null : t.delayUs / 1000,
      ...(t.adviseDelayUs !== undefined ? { advise_ms: t.adviseDelayUs / 1000 } : {}),
      prompt_tokens: t.promptTokens,
      max_output_tokens: t.maxOutputTokens,
      ...(t.expectedResponse !== undefined && t.expectedResponse.startsWith("<think>")
        ? { reasoning: true }
        : {}),
      ...(t.subAgents ? { subagents: t.subAgents.map(agentPlanObject) } : {}),
    })),
  };
}
