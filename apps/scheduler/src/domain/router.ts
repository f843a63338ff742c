import type { Rng, TimerHandle, Timers } from "@symphony/common";
import { NodeRegistry, type MembershipEvent, type MutableNodeSnapshot, type NodeLoad } from "./node-registry";
import type { RoutingPolicy } from "./policies";
import { PrefixIndex, prefixBlocks, type PromptBlocks } from "./prefix-index";
import { planRebalance, type RebalanceParams, type SessionMove } from "./rebalancer";
import { SessionTable } from "./session-table";
import type { NodeSnapshot, RouteDecision } from "./types";

/** One turn to place, as the transport describes it. */
export interface TurnToRoute {
  readonly sessionId: string;
  readonly turnIndex: number;
  readonly promptTokens: number;
  /** The prompt cut into blocks (for kv-aware routing and the prefix index). */
  readonly blocks: PromptBlocks;
  /** A sub-agent's parent session: a new child session starts where the parent's KV lives. */
  readonly parentSessionId?: string;
  /**
   * Nodes that already failed this turn (a relay broke before the node sent anything), with
   * why: treated as unusable for this placement only. A session whose node is avoided is
   * placed elsewhere and that counts as a failover from it.
   */
  readonly avoidNodes?: ReadonlyMap<string, string>;
}

export type RouteOutcome =
  | {
      readonly ok: true;
      readonly decision: RouteDecision;
      readonly address: string;
      /** The session's previous node died and this turn lands elsewhere (its KV is recomputed). */
      readonly failoverFrom: string | undefined;
    }
  | { readonly ok: false; readonly message: string };

export interface RouterOptions {
  readonly heartbeatTimeoutUs: number;
  /** Relays failing in a row that mark a node down without a failed health check (default 3). */
  readonly relayFailuresToDown?: number;
  /** Period of the rebalancing round, µs (0 = never rebalance). */
  readonly rebalanceIntervalUs: number;
  readonly rebalance: RebalanceParams;
  /** Idle sessions are forgotten after this long without a turn, µs (0 = never). */
  readonly sessionTtlUs: number;
  /** Prefix index: characters per block and blocks remembered per node. */
  readonly prefixBlockChars: number;
  readonly prefixCapacityBlocksPerNode: number;
}

/** Things the router did on its own that the transport must carry out or count. */
export interface RouterListener {
  /** A node changed membership state. */
  membership?(event: MembershipEvent, sessionsDetached: number): void;
  /** Rebalancing moved sessions; the old nodes should be told to release them. */
  moved?(moves: readonly SessionMove[]): void;
  /** Idle sessions expired; their nodes may be told to release them. */
  expired?(sessions: readonly { sessionId: string; nodeId: string | undefined }[]): void;
}

/**
 * The scheduler's brain, free of transport: membership (NodeRegistry), session placement
 * (SessionTable), the prefix index and a routing policy, plus the periodic rebalancing and
 * session-expiry rounds on injected Timers.
 */
export class Router {
  readonly registry: NodeRegistry;
  readonly sessions = new SessionTable();
  readonly prefixIndex: PrefixIndex;
  private readonly handles: TimerHandle[] = [];
  private listener: RouterListener = {};

  constructor(
    private readonly timers: Timers,
    private readonly rng: Rng,
    readonly policy: RoutingPolicy,
    private readonly options: RouterOptions,
  ) {
    this.prefixIndex = new PrefixIndex(options.prefixBlockChars, options.prefixCapacityBlocksPerNode);
    this.registry = new NodeRegistry(
      timers,
      { heartbeatTimeoutUs: options.heartbeatTimeoutUs, relayFailuresToDown: options.relayFailuresToDown },
      (e) => this.onMembership(e),
    );
  }

  setListener(listener: RouterListener): void {
    this.listener = listener;
  }

  start(): void {
    this.registry.start();
    this.every(this.options.rebalanceIntervalUs, () => this.rebalance());
    this.every(
      this.options.sessionTtlUs > 0 ? Math.max(1, Math.floor(this.options.sessionTtlUs / 4)) : 0,
      () => this.expireSessions(),
    );
  }

  stop(): void {
    this.registry.stop();
    for (const h of this.handles) this.timers.cancel(h);
    this.handles.length = 0;
  }

  /**
   * The prompt's blocks for the prefix index, reusing the session's previous prompt's hashes
   * when this prompt extends it (see prefixBlocks): the cost is the new text, not the whole
   * conversation each turn.
   */
  promptBlocks(sessionId: string, text: string): PromptBlocks {
    return prefixBlocks(text, this.prefixIndex.blockChars, this.sessions.get(sessionId)?.lastBlockHashes);
  }

  snapshots(): NodeSnapshot[] {
    return this.registry.snapshots(this.sessionsOn);
  }

  private readonly sessionsOn = (nodeId: string): number => this.sessions.countOn(nodeId);
  /** route's snapshots, rewritten for each placement (one is made per new session or turn). */
  private readonly routeSnapshots: MutableNodeSnapshot[] = [];

  /**
   * Picks the node for one turn and records the placement (session affinity, prefix index).
   * Call `turnStarted`/`turnEnded` around the relay.
   */
  route(turn: TurnToRoute): RouteOutcome {
    const avoid = turn.avoidNodes;
    const sticky = this.stickyPlacement(turn);
    if (sticky) return sticky;
    let nodes = this.registry.refreshSnapshots(this.routeSnapshots, this.sessionsOn);
    if (avoid !== undefined && avoid.size > 0)
      nodes = nodes.map((n) => (avoid.has(n.nodeId) ? { ...n, up: false } : n));
    const session = this.sessions.get(turn.sessionId);
    // A new sub-agent session inherits its parent's node: its prompt begins with the parent's context.
    const parentNodeId =
      session === undefined && turn.parentSessionId
        ? this.sessions.get(turn.parentSessionId)?.nodeId
        : undefined;
    const predictedHitByNode = this.policy.usesPrefixHits
      ? this.predictHits(
          turn,
          nodes.filter((n) => n.up).map((n) => n.nodeId),
        )
      : NO_HITS;
    const decision = this.policy.pick(
      {
        sessionId: turn.sessionId,
        turnIndex: turn.turnIndex,
        sessionNodeId: session?.nodeId ?? parentNodeId,
        promptTokens: turn.promptTokens,
        predictedHitByNode,
      },
      nodes,
      { nowUs: this.timers.nowUs(), rng: this.rng },
    );
    if (!decision) return { ok: false, message: this.whyNoNode(nodes, avoid) };
    const node = this.registry.get(decision.nodeId)!;
    // The session lost its node: it died (lostNodeId), or it just failed this turn (avoided).
    const lost =
      session?.lostNodeId ??
      (session?.nodeId !== undefined && avoid?.has(session.nodeId) ? session.nodeId : undefined);
    const failoverFrom = lost !== undefined && lost !== decision.nodeId ? lost : undefined;
    this.sessions.assign(turn.sessionId, decision.nodeId, this.timers.nowUs());
    this.prefixIndex.record(decision.nodeId, turn.blocks);
    return {
      ok: true,
      decision: failoverFrom ? { ...decision, reason: "failover" } : decision,
      address: node.address,
      failoverFrom,
    };
  }

  /**
   * Cached fraction of the turn's prompt per node. The prefix index estimates it from what this
   * scheduler sent where; a node that reads its engine's KV-cache events reports how much of each
   * session's context the engine really holds, and for a session any such node reports, that
   * replaces the estimate on every such node (0 where the session is not held: evicted, or never
   * there). Sessions no node reports (new ones) keep the estimate, which also sees shared prefixes.
   */
  private predictHits(turn: TurnToRoute, upNodeIds: readonly string[]): Map<string, number> {
    const hits = this.prefixIndex.predictHits(turn.blocks, upNodeIds);
    if (turn.promptTokens <= 0) return hits;
    const reporting = upNodeIds.flatMap((id) => {
      const held = this.registry.get(id)?.load.engineResidency;
      return held ? [[id, held] as const] : [];
    });
    if (!reporting.some(([, held]) => held.has(turn.sessionId))) return hits;
    for (const [id, held] of reporting) {
      hits.set(id, Math.min(1, (held.get(turn.sessionId) ?? 0) / turn.promptTokens));
    }
    return hits;
  }

  /**
   * Fast path for policies that keep a session on its node while that node is up: the same
   * outcome `pick` would give, without a snapshot of every node per turn.
   */
  private stickyPlacement(turn: TurnToRoute): RouteOutcome | undefined {
    if (!this.policy.sticksWhileUp) return undefined;
    const nodeId = this.sessions.get(turn.sessionId)?.nodeId;
    if (nodeId === undefined || turn.avoidNodes?.has(nodeId)) return undefined;
    const node = this.registry.get(nodeId);
    if (!node?.up) return undefined;
    this.sessions.assign(turn.sessionId, nodeId, this.timers.nowUs());
    if (turn.blocks.hashes.length > 0) this.prefixIndex.record(nodeId, turn.blocks);
    return {
      ok: true,
      decision: { nodeId, reason: "sticky", scores: {} },
      address: node.address,
      failoverFrom: undefined,
    };
  }

  /** The relay to `nodeId` for this session's turn began. */
  turnStarted(sessionId: string, nodeId: string, blocks: PromptBlocks): void {
    this.sessions.beginTurn(sessionId, this.timers.nowUs(), blocks.hashes);
    this.registry.adjustInFlight(nodeId, +1);
  }

  /**
   * The relay ended. `contextTokens` = prompt + completion tokens (0 if unknown); `isLast`
   * forgets the session (the node releases it on its own).
   */
  turnEnded(sessionId: string, nodeId: string, contextTokens: number, isLast: boolean): void {
    this.registry.adjustInFlight(nodeId, -1);
    this.sessions.endTurn(sessionId, this.timers.nowUs(), contextTokens);
    if (isLast) this.sessions.remove(sessionId);
  }

  /**
   * A relay to the node failed (unreachable, or it dropped the call). One failure does not mark
   * the node down (see NodeRegistry.noteRelayFailure); returns whether this one did.
   */
  relayFailed(nodeId: string, reason: string): boolean {
    return this.registry.noteRelayFailure(nodeId, reason);
  }

  /**
   * The node a session-scoped call (Advise, CloseSession) should go to: the session's node if up.
   * For Advise on an unknown session (or one whose node died), `placeIfUnknown` routes it now
   * so its next turn lands where the hint prepared things; `failoverFrom` is then set if the
   * session lost its node (the caller counts the failover: the Submit that follows will not).
   */
  nodeForSession(
    sessionId: string,
    placeIfUnknown: boolean,
  ): { nodeId: string; address: string; failoverFrom?: string } | { message: string } | undefined {
    const s = this.sessions.get(sessionId);
    if (s?.nodeId !== undefined) {
      const node = this.registry.get(s.nodeId);
      if (node?.up) return { nodeId: node.nodeId, address: node.address };
    }
    if (!placeIfUnknown) return undefined;
    const outcome = this.route({
      sessionId,
      turnIndex: 0,
      promptTokens: 0,
      blocks: { hashes: [], totalChars: 0 },
    });
    if (!outcome.ok) return { message: outcome.message };
    return { nodeId: outcome.decision.nodeId, address: outcome.address, failoverFrom: outcome.failoverFrom };
  }

  /** One rebalancing round: plans and applies moves, then tells the listener. */
  rebalance(): SessionMove[] {
    const moves = planRebalance(this.snapshots(), (id) => this.sessions.idleOn(id), this.options.rebalance);
    for (const m of moves) {
      // The old node releases the session, so stop predicting hits there for its prompt.
      const s = this.sessions.get(m.sessionId);
      if (s) this.prefixIndex.forget(m.fromNodeId, s.lastBlockHashes);
      this.sessions.move(m.sessionId, m.toNodeId);
    }
    if (moves.length > 0) this.listener.moved?.(moves);
    return moves;
  }

  expireSessions(): void {
    const expired = this.sessions.expireIdle(this.timers.nowUs() - this.options.sessionTtlUs);
    if (expired.length > 0) this.listener.expired?.(expired);
  }

  /** A specific explanation of why no node can take a request (`avoided`: nodes that failed this turn). */
  whyNoNode(nodes: readonly NodeSnapshot[], avoided?: ReadonlyMap<string, string>): string {
    if (nodes.length === 0)
      return "no nodes known: pass --nodes host:port or have node-schedulers call RegisterNode";
    const parts = nodes.map((n) => {
      const failedThisTurn = avoided?.get(n.nodeId);
      if (failedThisTurn !== undefined) return `${n.nodeId} failed this turn (${failedThisTurn})`;
      const rec = this.registry.get(n.nodeId);
      if (!n.up) return `${n.nodeId} down (${rec?.downReason || "unreachable"})`;
      if (n.draining) return `${n.nodeId} draining`;
      return `${n.nodeId} up`;
    });
    return `no usable node among ${nodes.length} known: ${parts.join("; ")}`;
  }

  private every(periodUs: number, fn: () => void): void {
    if (periodUs <= 0) return;
    const index = this.handles.length;
    const tick = () => {
      fn();
      this.handles[index] = this.timers.at(this.timers.nowUs() + periodUs, tick);
    };
    this.handles.push(this.timers.at(this.timers.nowUs() + periodUs, tick));
  }

  private onMembership(event: MembershipEvent): void {
    let detached = 0;
    if (event.kind === "down") {
      detached = this.sessions.detachNode(event.nodeId);
      this.prefixIndex.forgetNode(event.nodeId);
    }
    this.listener.membership?.(event, detached);
  }

  /** Heartbeat from a registered node (convenience pass-through). */
  heartbeat(nodeId: string, load: NodeLoad, draining: boolean): boolean {
    return this.registry.heartbeat(nodeId, load, draining);
  }
}

/** Predicted hits for a policy that reads none (shared: nothing writes it). */
const NO_HITS: ReadonlyMap<string, number> = new Map();
