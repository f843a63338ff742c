import type { RequestRecord } from "./load-runner";
import { summarize, type MetricSummary } from "./stats";

/** Latency and size figures of one session kind (chat or agent). Failed requests are excluded from latencies. */
export interface KindSummary {
  requests: number;
  completed: number;
  failed: number;
  /** Time to first token of any kind (reasoning or content). */
  ttft_ms: MetricSummary;
  /** Time to first content token. */
  ttfct_ms: MetricSummary;
  e2el_ms: MetricSummary;
  prompt_tokens: number;
  cached_tokens: number;
  /** cached / prompt tokens (server usage). */
  prefix_cache_hit_rate: number;
  completion_tokens: number;
  reasoning_tokens: number;
}

/** Prefix-cache figures of a group of turns. */
export interface CacheFigures {
  turns: number;
  prompt_tokens: number;
  cached_tokens: number;
  hit_rate: number;
}

/**
 * What agent sessions did, beside the latency figures: tool waits (never part of TTFT/E2EL, which
 * start at the send; shown here), sub-agent fan-out and the prefix-cache hits it produced.
 */
export interface AgentReport {
  by_kind: Record<string, KindSummary>;
  /** Waits for tool calls before agent turns (scaled ms), and their total in s. */
  tool_wait_ms: MetricSummary;
  tool_wait_total_s: number;
  /** Parent turns' waits for their sub-agents (spawn to the last one's end). */
  subagent_wait_ms: MetricSummary;
  /** Sub-agents per fan-out (from join turns that were sent). */
  fan_out: MetricSummary;
  subagent_sessions: number;
  /**
   * Sub-agents' FIRST turns: their prompt is the parent's context plus a task, so a hit rate well
   * above the other turns' shows the shared prefix being reused on the parent's node.
   */
  subagent_first_turn_cache: CacheFigures;
  /** All other agent turns after the first (each resends its own session's context). */
  agent_followup_turn_cache: CacheFigures;
  /** Sub-agent sessions whose first turn ran on a different node than their parent's last turn. */
  subagents_off_parent_node: number;
}

function cache(records: readonly RequestRecord[]): CacheFigures {
  const prompt = records.reduce((s, r) => s + r.prompt_tokens, 0);
  const cached = records.reduce((s, r) => s + r.cached_tokens, 0);
  return {
    turns: records.length,
    prompt_tokens: prompt,
    cached_tokens: cached,
    hit_rate: prompt ? cached / prompt : NaN,
  };
}

const numbers = (values: readonly (number | null | undefined)[]) =>
  values.filter((v): v is number => typeof v === "number");

/** Builds the agent report from a run's records (any order). */
export function agentReport(records: readonly RequestRecord[]): AgentReport {
  const byKind: Record<string, RequestRecord[]> = {};
  for (const r of records) (byKind[r.session_kind ?? "chat"] ??= []).push(r);
  const ok = records.filter((r) => !r.error);
  const agentOk = ok.filter((r) => r.session_kind === "agent");
  const subFirst = agentOk.filter((r) => r.parent_session_id && r.turn_index === 0);
  const followUps = agentOk.filter((r) => r.turn_index > 0);
  const toolWaits = numbers(agentOk.map((r) => r.tool_wait_ms));
  const joins = agentOk.filter((r) => (r.fan_out ?? 0) > 0);

  // Where each parent's turns ran, to check that sub-agents followed their parent.
  const nodesBySession = new Map<string, Set<string>>();
  for (const r of agentOk) {
    const set = nodesBySession.get(r.session_id) ?? new Set<string>();
    set.add(r.node_id);
    nodesBySession.set(r.session_id, set);
  }
  const offParent = subFirst.filter((r) => !nodesBySession.get(r.parent_session_id!)?.has(r.node_id)).length;

  return {
    by_kind: Object.fromEntries(
      Object.entries(byKind).map(([kind, rs]) => {
        const done = rs.filter((r) => !r.error);
        const c = cache(done);
        return [
          kind,
          {
            requests: rs.length,
            completed: done.length,
            failed: rs.length - done.length,
            ttft_ms: summarize(numbers(done.map((r) => r.ttft_ms))),
            ttfct_ms: summarize(numbers(done.map((r) => r.ttfct_ms))),
            e2el_ms: summarize(done.map((r) => r.e2el_ms)),
            prompt_tokens: c.prompt_tokens,
            cached_tokens: c.cached_tokens,
            prefix_cache_hit_rate: c.hit_rate,
            completion_tokens: done.reduce((s, r) => s + r.completion_tokens, 0),
            reasoning_tokens: done.reduce((s, r) => s + (r.reasoning_tokens ?? 0), 0),
          },
        ];
      }),
    ),
    tool_wait_ms: summarize(toolWaits),
    tool_wait_total_s: toolWaits.reduce((s, w) => s + w, 0) / 1000,
    subagent_wait_ms: summarize(numbers(joins.map((r) => r.subagent_wait_ms))),
    fan_out: summarize(joins.map((r) => r.fan_out!)),
    subagent_sessions: new Set(records.filter((r) => r.parent_session_id).map((r) => r.session_id)).size,
    subagent_first_turn_cache: cache(subFirst),
    agent_followup_turn_cache: cache(followUps),
    subagents_off_parent_node: offParent,
  };
}
