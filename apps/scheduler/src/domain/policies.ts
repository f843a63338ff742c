import { kvFreeScorer, prefixScorer, queueScorer, scoreNodes, type WeightedScorer } from "./scorers";
import {
  acceptsNewSessions,
  type NodeSnapshot,
  type RouteContext,
  type RouteDecision,
  type RouteRequest,
} from "./types";

/**
 * Decides which node serves one turn. Policies are synchronous and pure apart from their own
 * small state (the round-robin cursor), so the same objects run live and in simulation.
 * `pick` returns undefined when no node can take the request; the caller reports why.
 */
export interface RoutingPolicy {
  readonly name: PolicyName;
  /** The router should fill `RouteRequest.predictedHitByNode` (it costs a prefix-index lookup). */
  readonly usesPrefixHits: boolean;
  /**
   * A session whose node is up always stays there, whatever the other nodes' state: the router
   * may then skip building snapshots and calling `pick` (the common case, on every turn).
   */
  readonly sticksWhileUp: boolean;
  pick(req: RouteRequest, nodes: readonly NodeSnapshot[], ctx: RouteContext): RouteDecision | undefined;
}

/** Weights and knobs shared by the scoring policies. */
export interface PolicyParams {
  /** Weight of the queue scorer (outstanding requests). */
  readonly queueWeight: number;
  /** Weight of the KV scorer (free GPU KV fraction). */
  readonly kvWeight: number;
  /** Weight of the prefix scorer (predicted cache hit fraction); kv-aware only. */
  readonly prefixWeight: number;
  /** Outstanding requests at which the queue scorer gives 1/2. */
  readonly queueHalfScoreRequests: number;
}

export const DEFAULT_POLICY_PARAMS: PolicyParams = {
  queueWeight: 1,
  kvWeight: 1,
  prefixWeight: 2,
  queueHalfScoreRequests: 4,
};

export const POLICY_NAMES = ["session-affinity", "round-robin", "least-loaded", "kv-aware"] as const;
export type PolicyName = (typeof POLICY_NAMES)[number];

export function isPolicyName(name: string): name is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(name);
}

/**
 * Highest score wins. Exact ties (e.g. several idle nodes) go to the node with the fewest
 * sessions, so new sessions spread evenly, then at random.
 */
function best(
  scores: Record<string, number>,
  nodes: readonly NodeSnapshot[],
  ctx: RouteContext,
): string | undefined {
  let top = -Infinity;
  let tied: string[] = [];
  // for-in visits keys in the same order as Object.entries, without a [key, value] pair each.
  for (const id in scores) {
    const s = scores[id]!;
    if (s > top) {
      top = s;
      tied = [id];
    } else if (s === top) tied.push(id);
  }
  if (tied.length <= 1) return tied[0];
  const sessions = (id: string) => nodes.find((n) => n.nodeId === id)?.sessions ?? 0;
  const fewest = Math.min(...tied.map(sessions));
  tied = tied.filter((id) => sessions(id) === fewest);
  return tied.length === 1 ? tied[0] : tied[ctx.rng.int(0, tied.length - 1)];
}

function loadScorers(p: PolicyParams): WeightedScorer[] {
  return [
    { name: "queue", weight: p.queueWeight, score: queueScorer(p.queueHalfScoreRequests) },
    { name: "kv", weight: p.kvWeight, score: kvFreeScorer },
  ];
}

/** The session's node, if it is still up (draining nodes keep serving their own sessions). */
function liveSessionNode(req: RouteRequest, nodes: readonly NodeSnapshot[]): NodeSnapshot | undefined {
  if (req.sessionNodeId === undefined) return undefined;
  const node = nodes.find((n) => n.nodeId === req.sessionNodeId);
  return node?.up ? node : undefined;
}

/** Every request to the next node in id order; ignores sessions and load (a baseline). */
class RoundRobinPolicy implements RoutingPolicy {
  readonly name = "round-robin";
  readonly usesPrefixHits = false;
  readonly sticksWhileUp = false;
  private cursor = 0;

  pick(_req: RouteRequest, nodes: readonly NodeSnapshot[]): RouteDecision | undefined {
    const eligible = nodes.filter(acceptsNewSessions).sort((a, b) => a.nodeId.localeCompare(b.nodeId));
    if (eligible.length === 0) return undefined;
    const node = eligible[this.cursor % eligible.length]!;
    this.cursor = (this.cursor + 1) % 1_000_000_007;
    return { nodeId: node.nodeId, reason: "round-robin", scores: {} };
  }
}

/** Every request to the node with the best load score; ignores sessions (a baseline). */
class LeastLoadedPolicy implements RoutingPolicy {
  readonly name = "least-loaded";
  readonly usesPrefixHits = false;
  readonly sticksWhileUp = false;
  private readonly scorers: readonly WeightedScorer[];
  constructor(params: PolicyParams) {
    this.scorers = loadScorers(params);
  }

  pick(req: RouteRequest, nodes: readonly NodeSnapshot[], ctx: RouteContext): RouteDecision | undefined {
    const scores = scoreNodes(nodes.filter(acceptsNewSessions), req, this.scorers);
    const nodeId = best(scores, nodes, ctx);
    return nodeId === undefined ? undefined : { nodeId, reason: "least-loaded", scores };
  }
}

/**
 * A session sticks to its node while that node is up; a new session (or one whose node died)
 * goes to the node with the best load score. The default: it keeps each session's KV cache
 * where the session's turns land.
 */
class SessionAffinityPolicy implements RoutingPolicy {
  readonly name = "session-affinity";
  readonly usesPrefixHits = false;
  readonly sticksWhileUp = true;
  private readonly scorers: readonly WeightedScorer[];
  constructor(params: PolicyParams) {
    this.scorers = loadScorers(params);
  }

  pick(req: RouteRequest, nodes: readonly NodeSnapshot[], ctx: RouteContext): RouteDecision | undefined {
    const home = liveSessionNode(req, nodes);
    if (home) return { nodeId: home.nodeId, reason: "sticky", scores: {} };
    const scores = scoreNodes(nodes.filter(acceptsNewSessions), req, this.scorers);
    const nodeId = best(scores, nodes, ctx);
    if (nodeId === undefined) return undefined;
    return { nodeId, reason: req.sessionNodeId === undefined ? "new-session" : "reassigned", scores };
  }
}

/**
 * Trades predicted cache hit against load, like the cost functions of SGLang's cache-aware
 * router, Dynamo's KV router and llm-d's prefix scorer: score = prefixWeight * hit +
 * queueWeight * queueScore + kvWeight * kvFree. The session's own node is a candidate even
 * when draining (its cache is there); other nodes must accept new sessions. A session moves
 * when another node's load advantage outweighs the cache it would lose.
 */
class KvAwarePolicy implements RoutingPolicy {
  readonly name = "kv-aware";
  readonly usesPrefixHits = true;
  readonly sticksWhileUp = false;
  constructor(private readonly params: PolicyParams) {}

  pick(req: RouteRequest, nodes: readonly NodeSnapshot[], ctx: RouteContext): RouteDecision | undefined {
    const home = liveSessionNode(req, nodes);
    const candidates = nodes.filter((n) => acceptsNewSessions(n) || n === home);
    const scorers: WeightedScorer[] = [
      { name: "prefix", weight: this.params.prefixWeight, score: prefixScorer(req.predictedHitByNode) },
      ...loadScorers(this.params),
    ];
    const scores = scoreNodes(candidates, req, scorers);
    const nodeId = best(scores, nodes, ctx);
    if (nodeId === undefined) return undefined;
    const reason =
      home === undefined
        ? req.sessionNodeId === undefined
          ? "new-session"
          : "reassigned"
        : nodeId === home.nodeId
          ? "sticky"
          : "moved-for-load";
    return { nodeId, reason, scores };
  }
}

/** Builds a policy by name; throws an Error listing the valid names for an unknown one. */
export function createPolicy(name: string, params: Partial<PolicyParams> = {}): RoutingPolicy {
  const p: PolicyParams = { ...DEFAULT_POLICY_PARAMS, ...params };
  if (!isPolicyName(name))
    throw new Error(`unknown routing policy "${name}"; valid policies: ${POLICY_NAMES.join(", ")}`);
  const factories: Record<PolicyName, () => RoutingPolicy> = {
    "round-robin": () => new RoundRobinPolicy(),
    "least-loaded": () => new LeastLoadedPolicy(p),
    "session-affinity": () => new SessionAffinityPolicy(p),
    "kv-aware": () => new KvAwarePolicy(p),
  };
  return factories[name]();
}
