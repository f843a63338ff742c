import type { NodeSnapshot, RouteRequest } from "./types";

/**
 * Scorers rate one candidate node for one request in [0, 1], higher = better, in the style of
 * llm-d's endpoint picker: a policy sums weighted scorer outputs and picks the best node.
 * Scores are absolute (not rescaled among candidates) so a small load difference between two
 * nodes never outweighs a large difference in predicted cache hit.
 */
export type Scorer = (node: NodeSnapshot, req: RouteRequest) => number;

/**
 * Outstanding work on a node in requests: the larger of what it last reported (queued +
 * running) and what this scheduler has in flight to it right now. The in-flight count is always
 * fresh, so a burst between two heartbeats still spreads out.
 */
export function outstandingRequests(node: NodeSnapshot): number {
  return Math.max(node.queueDepth + node.running, node.inFlight);
}

/**
 * Queue scorer: 1 for an idle node, 1/2 at `halfScoreRequests` outstanding requests, towards 0
 * beyond. `halfScoreRequests` > 0.
 */
export function queueScorer(halfScoreRequests: number): Scorer {
  return (node) => 1 / (1 + outstandingRequests(node) / halfScoreRequests);
}

/** Fraction of the GPU KV budget in use, in [0, 1]; 0 when the node has not reported a budget. */
export function kvUtilization(node: NodeSnapshot): number {
  if (node.kvBudgetTokens <= 0) return 0;
  return Math.min(1, node.kvUsedTokens / node.kvBudgetTokens);
}

/** KV scorer: free fraction of the GPU KV budget (1 when unknown, so it neither helps nor hurts). */
export const kvFreeScorer: Scorer = (node) => 1 - kvUtilization(node);

/**
 * Prefix scorer: the predicted fraction of the prompt already cached on the node, from
 * `hitByNode` (see PrefixIndex.predictHits). Missing nodes score 0.
 */
export function prefixScorer(hitByNode: ReadonlyMap<string, number>): Scorer {
  return (node) => hitByNode.get(node.nodeId) ?? 0;
}

/** A weighted sum of scorers. */
export interface WeightedScorer {
  readonly name: string;
  readonly weight: number;
  readonly score: Scorer;
}

/** Score of every candidate under the weighted scorers, keyed by node id. */
export function scoreNodes(
  candidates: readonly NodeSnapshot[],
  req: RouteRequest,
  scorers: readonly WeightedScorer[],
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const node of candidates) {
    let total = 0;
    for (const s of scorers) if (s.weight !== 0) total += s.weight * s.score(node, req);
    out[node.nodeId] = total;
  }
  return out;
}
