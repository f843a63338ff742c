import { kvUtilization, outstandingRequests } from "./scorers";
import type { SessionEntry } from "./session-table";
import { acceptsNewSessions, type NodeSnapshot } from "./types";

export interface RebalanceParams {
  /** A node at or above this GPU KV utilization (0..1] is overloaded. */
  readonly overloadKvFraction: number;
  /** A node with at least this many outstanding requests is overloaded (0 = ignore queues). */
  readonly overloadOutstanding: number;
  /** Move sessions off an overloaded node until its estimated utilization is below this. */
  readonly targetKvFraction: number;
  /** Most sessions moved per round, cluster-wide. */
  readonly maxMovesPerRound: number;
}

export const DEFAULT_REBALANCE_PARAMS: RebalanceParams = {
  overloadKvFraction: 0.9,
  overloadOutstanding: 0,
  targetKvFraction: 0.75,
  maxMovesPerRound: 8,
};

export interface SessionMove {
  readonly sessionId: string;
  readonly fromNodeId: string;
  readonly toNodeId: string;
  /** Estimated KV tokens the move frees on the source (and recomputes on the target). */
  readonly kvTokens: number;
  readonly reason: "kv-overload" | "queue-overload";
}

function overloadReason(n: NodeSnapshot, p: RebalanceParams): SessionMove["reason"] | undefined {
  if (!n.up) return undefined;
  if (n.kvBudgetTokens > 0 && kvUtilization(n) >= p.overloadKvFraction) return "kv-overload";
  if (p.overloadOutstanding > 0 && outstandingRequests(n) >= p.overloadOutstanding) return "queue-overload";
  return undefined;
}

/**
 * Plans moves of idle sessions (between turns, so no stream is cut) off overloaded nodes onto
 * the least-utilized nodes that accept new sessions and are not overloaded themselves. The
 * cheapest sessions (fewest KV tokens, least to recompute) move first, until the source's
 * estimated utilization is under `targetKvFraction` (for a queue overload: one session per
 * round, since queued work does not move with idle sessions). Pure: applying the moves is the
 * caller's job.
 */
export function planRebalance(
  nodes: readonly NodeSnapshot[],
  idleSessionsOn: (nodeId: string) => readonly SessionEntry[],
  p: RebalanceParams,
): SessionMove[] {
  const moves: SessionMove[] = [];
  // Estimated KV used per node, updated as moves are planned.
  const used = new Map(nodes.map((n) => [n.nodeId, n.kvUsedTokens]));
  const util = (n: NodeSnapshot) => (n.kvBudgetTokens > 0 ? used.get(n.nodeId)! / n.kvBudgetTokens : 0);
  const targets = nodes.filter((n) => acceptsNewSessions(n) && overloadReason(n, p) === undefined);
  if (targets.length === 0) return moves;

  for (const source of nodes) {
    const reason = overloadReason(source, p);
    if (!reason) continue;
    const candidates = [...idleSessionsOn(source.nodeId)].sort(
      (a, b) => a.kvTokens - b.kvTokens || a.sessionId.localeCompare(b.sessionId),
    );
    let movedFromSource = 0;
    for (const s of candidates) {
      if (moves.length >= p.maxMovesPerRound) return moves;
      if (reason === "kv-overload" && util(source) < p.targetKvFraction) break;
      if (reason === "kv-overload" && s.kvTokens <= 0) continue; // frees nothing we know of
      if (reason === "queue-overload" && movedFromSource >= 1) break;
      const to = targets
        .filter((t) => t.nodeId !== source.nodeId && (t.kvBudgetTokens === 0 || util(t) < p.targetKvFraction))
        .sort((a, b) => util(a) - util(b) || a.nodeId.localeCompare(b.nodeId))[0];
      if (!to) break;
      moves.push({
        sessionId: s.sessionId,
        fromNodeId: source.nodeId,
        toNodeId: to.nodeId,
        kvTokens: s.kvTokens,
        reason,
      });
      used.set(source.nodeId, used.get(source.nodeId)! - s.kvTokens);
      used.set(to.nodeId, used.get(to.nodeId)! + s.kvTokens);
      movedFromSource++;
    }
  }
  return moves;
}
