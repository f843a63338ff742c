import { conversationText, type ChatMessage, type PromptBlocks } from "./prefix-index";
import type { Router } from "./router";
import type { RouteDecision } from "./types";

/**
 * How many times a turn is placed again after a node failed it before anything reached the
 * client (connection lost, node marked down, or a retryable error before the first token).
 */
export const MAX_REPLACEMENTS = 2;

const NO_BLOCKS: PromptBlocks = { hashes: [], totalChars: 0 };

/** One turn as the scheduler receives it (transport-free). */
export interface TurnToPlace {
  readonly sessionId: string;
  readonly turnIndex: number;
  /** The client's prompt token count (0 if unknown). */
  readonly promptTokens: number;
  /** A sub-agent's parent session: a new child session starts where the parent's KV lives. */
  readonly parentSessionId?: string;
  /** The session's last turn: the router forgets the session when it ends. */
  readonly isLast: boolean;
  /** A completion prompt; when empty or absent, the conversation in `messages` is the prompt. */
  readonly prompt?: string;
  readonly messages?: readonly ChatMessage[];
}

/** Where one attempt of the turn runs. */
export interface PlacedAttempt {
  /** 0 for the first placement, n after n nodes failed the turn. */
  readonly attemptNo: number;
  readonly nodeId: string;
  readonly address: string;
  readonly decision: RouteDecision;
  /** The session's previous node died or failed this turn, and the turn lands elsewhere. */
  readonly failoverFrom: string | undefined;
}

export type PlaceOutcome =
  | ({ readonly ok: true } & PlacedAttempt)
  | {
      readonly ok: false;
      /** Why no node can take it (names each node and its state). */
      readonly message: string;
      /**
       * No node is up at all and none has failed this turn yet (e.g. just after a scheduler
       * restart, before the nodes register again): the caller may wait and `place()` again.
       */
      readonly noNodeUp: boolean;
    };

/**
 * The scheduler's protocol for one turn, shared by the live relay and the simulated cluster:
 *
 * 1. `place()` routes the turn (session affinity, prefix blocks, avoiding nodes that already
 *    failed it) and records it started on the chosen node (`Router.turnStarted`).
 * 2. The caller runs the attempt on that node.
 * 3. `end(contextTokens)` records the attempt ended (`Router.turnEnded`), exactly once per
 *    attempt whatever ends it first (finish, failure, client cancel, node marked down).
 * 4. If the node failed the turn before anything reached the client, `failedBeforeOutput(why)`
 *    says whether it may be placed again (at most MAX_REPLACEMENTS times, never on a node that
 *    failed it); if so the caller goes back to 1.
 *
 * Synchronous and free of transport and clocks; the router holds the injected Timers.
 */
export class TurnPlacement {
  /** The prompt cut into blocks for the prefix index (empty unless the policy uses prefix hits). */
  readonly blocks: PromptBlocks;
  /** Nodes that failed this turn before anything reached the client, with why. */
  private failedNodes: Map<string, string> | undefined;
  private attemptNo = 0;
  private current: { nodeId: string; ended: boolean } | undefined;

  constructor(
    private readonly router: Router,
    readonly turn: TurnToPlace,
    private readonly maxReplacements = MAX_REPLACEMENTS,
  ) {
    this.blocks = router.policy.usesPrefixHits
      ? router.promptBlocks(turn.sessionId, turn.prompt || conversationText(turn.messages ?? []))
      : NO_BLOCKS;
  }

  /** The node of the current attempt (undefined before the first placement). */
  get nodeId(): string | undefined {
    return this.current?.nodeId;
  }

  /** Whether a failure of the current attempt before any output may still be placed elsewhere. */
  get mayPlaceAgain(): boolean {
    return this.attemptNo < this.maxReplacements;
  }

  /** Routes the turn and, on success, records it started on the chosen node. */
  place(): PlaceOutcome {
    const { turn } = this;
    const outcome = this.router.route({
      sessionId: turn.sessionId,
      turnIndex: turn.turnIndex,
      promptTokens: turn.promptTokens,
      blocks: this.blocks,
      parentSessionId: turn.parentSessionId || undefined,
      avoidNodes: this.failedNodes,
    });
    if (!outcome.ok)
      return {
        ok: false,
        message: outcome.message,
        noNodeUp: this.failedNodes === undefined && !this.router.registry.anyUp(),
      };
    const nodeId = outcome.decision.nodeId;
    this.router.turnStarted(turn.sessionId, nodeId, this.blocks);
    this.current = { nodeId, ended: false };
    return {
      ok: true,
      attemptNo: this.attemptNo,
      nodeId,
      address: outcome.address,
      decision: outcome.decision,
      failoverFrom: outcome.failoverFrom,
    };
  }

  /**
   * The current attempt ended; `contextTokens` = prompt + completion tokens (0 if unknown).
   * Returns false (and does nothing) if it had already ended, or none was placed.
   */
  end(contextTokens: number): boolean {
    const c = this.current;
    if (c === undefined || c.ended) return false;
    c.ended = true;
    this.router.turnEnded(this.turn.sessionId, c.nodeId, contextTokens, this.turn.isLast);
    return true;
  }

  /**
   * The connection to the current node failed (unreachable, or it dropped the call): counted
   * against the node, which is marked down after enough failures in a row. Returns whether
   * this failure marked it down.
   */
  relayFailed(why: string): boolean {
    return this.current === undefined ? false : this.router.relayFailed(this.current.nodeId, why);
  }

  /**
   * The current node failed the turn before anything reached the client. Returns true when the
   * turn may be placed again (the node is then avoided: call `place()`), false when it has been
   * placed too often already and must fail. Call after `end()`.
   */
  failedBeforeOutput(why: string): boolean {
    if (this.current === undefined || !this.mayPlaceAgain) return false;
    (this.failedNodes ??= new Map()).set(this.current.nodeId, why);
    this.attemptNo++;
    return true;
  }
}
