import { StreamingMetric } from "./histogram";
import type { RequestRecord } from "./record";
import type { MetricSummary } from "./stats";

/** Turn indices from this one up are pooled into one "N+" group (as the summary's by_turn_index). */
const TURN_GROUPS = 10;
const turnGroup = (t: number) => (t >= TURN_GROUPS ? `${TURN_GROUPS}+` : String(t));

/** What summary.json `sessions` holds: how returning turns fared, turn index by turn index. */
export interface SessionPanels {
  /**
   * Where each turn's KV context was found, as the scheduler's `Started.kv_tier` says (gRPC
   * target; an HTTP server does not say: "unknown"), counted per turn-index group.
   */
  kv_tier_by_turn: Record<string, Record<string, number>>;
  /**
   * Hint lead time: from the end of a session's previous turn (when the client sends the Advise
   * hint for the next one) to the next turn's send, ms; only for turns that had a hint.
   */
  hint_lead_ms: MetricSummary;
  hint_lead_by_turn: Record<string, MetricSummary>;
}

/**
 * Builds the session-centric figures one record at a time. A session's previous turn end is
 * kept per session (a few bytes per session); values are exact up to `exactValues`, then
 * histograms (within 1%).
 */
export class SessionPanelAccumulator {
  private readonly tiers = new Map<string, Map<string, number>>();
  private readonly lead: StreamingMetric;
  private readonly leadByTurn = new Map<string, StreamingMetric>();
  /** Per session: the turn index and end time (ms) of its last finished turn. */
  private readonly lastTurn = new Map<string, { turn: number; endMs: number }>();

  /**
   * @param hinted whether the run sent hints the target took (gRPC with hints on); without
   *   them no lead time is recorded.
   */
  constructor(
    private readonly hinted: boolean,
    private readonly exactValues?: number,
  ) {
    this.lead = new StreamingMetric(exactValues);
  }

  add(r: RequestRecord): void {
    const group = turnGroup(r.turn_index);
    let byTier = this.tiers.get(group);
    if (!byTier) this.tiers.set(group, (byTier = new Map()));
    const tier = r.kv_tier || "unknown";
    byTier.set(tier, (byTier.get(tier) ?? 0) + 1);
    // The hint for turn k went out when turn k-1 ended (agents' tool turns too). A sub-agent
    // join is not hinted (it waits for its sub-agents, whose length is not known in advance).
    const previous = this.lastTurn.get(r.session_id);
    if (this.hinted && previous && previous.turn === r.turn_index - 1 && r.subagent_wait_ms == null) {
      const leadMs = r.sent_ms - previous.endMs;
      this.lead.add(leadMs);
      let m = this.leadByTurn.get(group);
      if (!m) this.leadByTurn.set(group, (m = new StreamingMetric(this.exactValues)));
      m.add(leadMs);
    }
    if (!previous || r.turn_index > previous.turn)
      this.lastTurn.set(r.session_id, { turn: r.turn_index, endMs: r.end_ms });
  }

  result(): SessionPanels {
    const order = (keys: Iterable<string>) =>
      [...keys].sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10));
    return {
      kv_tier_by_turn: Object.fromEntries(
        order(this.tiers.keys()).map((g) => [
          g,
          Object.fromEntries([...this.tiers.get(g)!].sort(([a], [b]) => a.localeCompare(b))),
        ]),
      ),
      hint_lead_ms: this.lead.summary(),
      hint_lead_by_turn: Object.fromEntries(
        order(this.leadByTurn.keys()).map((g) => [g, this.leadByTurn.get(g)!.summary()]),
      ),
    };
  }
}
