import {
  EXACT_VALUES_LIMIT,
  HISTOGRAM_METHOD,
  StreamingMetric,
  type MetricSummary,
  type RequestRecord,
} from "@symphony/measure";

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
  /** "exact", or "hdr(1%)" once a metric had more than 250,000 values (percentiles within 1%). */
  percentiles: string;
}

/** Running sums of one group of turns' prompt and cached tokens. */
class CacheSums {
  turns = 0;
  prompt = 0;
  cached = 0;
  add(r: RequestRecord): void {
    this.turns++;
    this.prompt += r.prompt_tokens;
    this.cached += r.cached_tokens;
  }
  figures(): CacheFigures {
    const { turns, prompt, cached } = this;
    return { turns, prompt_tokens: prompt, cached_tokens: cached, hit_rate: prompt ? cached / prompt : NaN };
  }
}

class KindSums {
  requests = 0;
  failed = 0;
  readonly ttft: StreamingMetric;
  readonly ttfct: StreamingMetric;
  readonly e2el: StreamingMetric;
  readonly cache = new CacheSums();
  completion = 0;
  reasoning = 0;

  constructor(exactValues: number) {
    this.ttft = new StreamingMetric(exactValues);
    this.ttfct = new StreamingMetric(exactValues);
    this.e2el = new StreamingMetric(exactValues);
  }
}

/** Agent sessions whose nodes are remembered for the sub-agent placement check (the most recently active, at least half of them). */
const NODE_SESSIONS_KEPT = 100_000;

/**
 * Builds the agent report record by record, as a run produces them (records of a sub-agent's
 * first turn come after its parent's earlier turns, which the node check relies on). Memory is
 * bounded however long the run: latencies are exact up to `exactValues` (250,000) each, then histograms
 * (within 1%, `StreamingMetric`); the nodes of the NODE_SESSIONS_KEPT most recently active agent
 * sessions (a sub-agent starts right after its parent's turn, so its parent is among them).
 */
export class AgentReportAccumulator {
  private readonly kinds = new Map<string, KindSums>();
  private readonly toolWaits: StreamingMetric;
  private readonly subagentWaits: StreamingMetric;
  private readonly fanOuts: StreamingMetric;
  private readonly subFirst = new CacheSums();
  private readonly followUps = new CacheSums();
  private subSessions = 0;
  /**
   * Nodes per agent session in two generations: a session seen again moves to the current one;
   * when it is full the previous one is dropped (O(1) per record, no scan of deleted entries).
   */
  private nodesBySession = new Map<string, Set<string>>();
  private nodesBySessionBefore = new Map<string, Set<string>>();
  private offParent = 0;

  /** @param exactValues values per metric kept for exact percentiles (then a histogram, within 1%). */
  constructor(private readonly exactValues = EXACT_VALUES_LIMIT) {
    this.toolWaits = new StreamingMetric(exactValues);
    this.subagentWaits = new StreamingMetric(exactValues);
    this.fanOuts = new StreamingMetric(exactValues);
  }

  add(r: RequestRecord): void {
    const kind = r.session_kind ?? "chat";
    let k = this.kinds.get(kind);
    if (!k) this.kinds.set(kind, (k = new KindSums(this.exactValues)));
    k.requests++;
    // A session's turn 0 is its first record: sub-agent sessions counted once each.
    if (r.parent_session_id && r.turn_index === 0) this.subSessions++;
    if (r.error) {
      k.failed++;
      return;
    }
    if (r.ttft_ms !== null) k.ttft.add(r.ttft_ms);
    if (typeof r.ttfct_ms === "number") k.ttfct.add(r.ttfct_ms);
    k.e2el.add(r.e2el_ms);
    k.cache.add(r);
    k.completion += r.completion_tokens;
    k.reasoning += r.reasoning_tokens ?? 0;
    if (kind !== "agent") return;
    if (typeof r.tool_wait_ms === "number") this.toolWaits.add(r.tool_wait_ms);
    if ((r.fan_out ?? 0) > 0) {
      this.fanOuts.add(r.fan_out!);
      if (typeof r.subagent_wait_ms === "number") this.subagentWaits.add(r.subagent_wait_ms);
    }
    if (r.parent_session_id && r.turn_index === 0) {
      this.subFirst.add(r);
      const parentNodes =
        this.nodesBySession.get(r.parent_session_id) ?? this.nodesBySessionBefore.get(r.parent_session_id);
      if (!parentNodes?.has(r.node_id)) this.offParent++;
    } else if (r.turn_index > 0) this.followUps.add(r);
    let nodes = this.nodesBySession.get(r.session_id);
    if (!nodes) {
      nodes = this.nodesBySessionBefore.get(r.session_id) ?? new Set<string>();
      if (this.nodesBySession.size >= NODE_SESSIONS_KEPT / 2) {
        this.nodesBySessionBefore = this.nodesBySession;
        this.nodesBySession = new Map();
      }
      this.nodesBySession.set(r.session_id, nodes);
    }
    nodes.add(r.node_id);
  }

  summary(): AgentReport {
    const metrics = [
      this.toolWaits,
      this.subagentWaits,
      this.fanOuts,
      ...[...this.kinds.values()].flatMap((k) => [k.ttft, k.ttfct, k.e2el]),
    ];
    return {
      by_kind: Object.fromEntries(
        [...this.kinds].map(([kind, k]) => {
          const c = k.cache.figures();
          return [
            kind,
            {
              requests: k.requests,
              completed: k.requests - k.failed,
              failed: k.failed,
              ttft_ms: k.ttft.summary(),
              ttfct_ms: k.ttfct.summary(),
              e2el_ms: k.e2el.summary(),
              prompt_tokens: c.prompt_tokens,
              cached_tokens: c.cached_tokens,
              prefix_cache_hit_rate: c.hit_rate,
              completion_tokens: k.completion,
              reasoning_tokens: k.reasoning,
            },
          ];
        }),
      ),
      tool_wait_ms: this.toolWaits.summary(),
      tool_wait_total_s: this.toolWaits.sum / 1000,
      subagent_wait_ms: this.subagentWaits.summary(),
      fan_out: this.fanOuts.summary(),
      subagent_sessions: this.subSessions,
      subagent_first_turn_cache: this.subFirst.figures(),
      agent_followup_turn_cache: this.followUps.figures(),
      subagents_off_parent_node: this.offParent,
      percentiles: metrics.every((m) => m.method === "exact") ? "exact" : HISTOGRAM_METHOD,
    };
  }
}

/** The agent report of a run's records, in the order the run produced them (by end time). */
export function agentReport(records: readonly RequestRecord[]): AgentReport {
  const acc = new AgentReportAccumulator();
  for (const r of [...records].sort((a, b) => a.end_ms - b.end_ms)) acc.add(r);
  return acc.summary();
}

const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "-");
const pct = (x: number) => (Number.isFinite(x) ? `${(x * 100).toFixed(1)}%` : "-");

/** A few lines for stdout after the main table: per kind, tool waits, fan-out and its cache hits. */
export function formatAgentReport(a: AgentReport): string {
  const rows: string[] = ["=========== Agent sessions ===========".padEnd(50, "=")];
  for (const [kind, k] of Object.entries(a.by_kind)) {
    rows.push(
      `${kind}: ${k.completed}/${k.requests} ok, TTFT p50 ${ms(k.ttft_ms.p50)} ms, TTFCT p50 ` +
        `${ms(k.ttfct_ms.p50)} ms, E2EL p50 ${ms(k.e2el_ms.p50)} ms, cache hit ${pct(k.prefix_cache_hit_rate)}` +
        (k.reasoning_tokens ? `, reasoning ${k.reasoning_tokens} tok` : ""),
    );
  }
  rows.push(
    `tool waits (not in latencies): ${a.tool_wait_ms.count}, mean ${ms(a.tool_wait_ms.mean)} ms, ` +
      `total ${a.tool_wait_total_s.toFixed(1)} s`,
    `sub-agents: ${a.subagent_sessions} in ${a.fan_out.count} fan-outs (mean ${ms(a.fan_out.mean)}), ` +
      `join wait mean ${ms(a.subagent_wait_ms.mean)} ms, ${a.subagents_off_parent_node} off the parent's node`,
    `prefix cache: sub-agent first turns ${pct(a.subagent_first_turn_cache.hit_rate)}, ` +
      `other agent turns ${pct(a.agent_followup_turn_cache.hit_rate)}`,
  );
  return rows.join("\n") + "\n";
}
