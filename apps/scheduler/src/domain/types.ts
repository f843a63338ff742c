import type { Rng } from "@symphony/common";

/** Membership state of a node as the scheduler sees it. */
export type NodeState = "up" | "down" | "draining";

/**
 * What routing policies see of one node: a copy, so a policy can never mutate the registry.
 * Load figures come from the node's last heartbeat or Status poll, except `inFlight`, which the
 * scheduler counts itself and is therefore always current.
 */
export interface NodeSnapshot {
  readonly nodeId: string;
  /** host:port of the node's NodeSchedulerService. */
  readonly address: string;
  /** Reachable and reporting (heartbeats/polls arriving, health SERVING). */
  readonly up: boolean;
  /** Finishing its work: it keeps its sessions but gets no new ones. */
  readonly draining: boolean;
  /** Requests waiting in the node's queue (last report). */
  readonly queueDepth: number;
  /** Requests running on the node's engine (last report). */
  readonly running: number;
  /** Requests this scheduler is relaying to the node right now. */
  readonly inFlight: number;
  /** GPU KV-cache tokens in use (last report); 0 when unknown. */
  readonly kvUsedTokens: number;
  /** GPU KV-cache budget in tokens (last report); 0 when unknown. */
  readonly kvBudgetTokens: number;
  /** Sessions this scheduler has assigned to the node. */
  readonly sessions: number;
  /** When the last report arrived, µs on the scheduler's Timers. */
  readonly observedAtUs: number;
}

/** One turn to place. */
export interface RouteRequest {
  readonly sessionId: string;
  readonly turnIndex: number;
  /** The node the session was last assigned to (it may be down now); undefined for a new session. */
  readonly sessionNodeId: string | undefined;
  /** Estimated prompt length in tokens (0 = unknown). */
  readonly promptTokens: number;
  /**
   * Predicted fraction of the prompt already in each node's cache (see PrefixIndex), keyed by
   * node id. Only filled in for policies with `usesPrefixHits`; otherwise empty.
   */
  readonly predictedHitByNode: ReadonlyMap<string, number>;
}

export interface RouteContext {
  readonly nowUs: number;
  readonly rng: Rng;
}

export interface RouteDecision {
  readonly nodeId: string;
  /** Short machine-readable reason, used as a metric label ("sticky", "new-session", "score", ...). */
  readonly reason: string;
  /** Final score per candidate node id (policies that do not score leave it empty). */
  readonly scores: Readonly<Record<string, number>>;
}

/** A node can take a new session: up and not draining. */
export function acceptsNewSessions(n: NodeSnapshot): boolean {
  return n.up && !n.draining;
}
