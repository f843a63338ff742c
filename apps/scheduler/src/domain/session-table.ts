import { SlotMap } from "@symphony/common";

/** What the scheduler remembers about one session. */
export interface SessionEntry {
  readonly sessionId: string;
  /** The node holding the session's state; undefined after that node died (until the next turn). */
  readonly nodeId: string | undefined;
  /** The node the session lost when it died, until the session is placed again. */
  readonly lostNodeId: string | undefined;
  /** Turns being relayed right now (a session is idle between turns when 0). */
  readonly inFlight: number;
  /** Estimated KV tokens the session holds on its node (prompt + output of its last turn). */
  readonly kvTokens: number;
  /** Last time a turn began or ended, µs. */
  readonly lastActivityUs: number;
  readonly turns: number;
  /** Block hashes of the last prompt sent (see PrefixIndex), to forget them when the session moves. */
  readonly lastBlockHashes: readonly number[];
  /** The client (token) that owns the session when client auth is on; undefined = none yet. */
  readonly owner: number | undefined;
}

type MutableSessionEntry = { -readonly [K in keyof SessionEntry]: SessionEntry[K] };

/**
 * The session -> node affinity map, with per-session activity used by rebalancing (idle
 * sessions can move) and expiry (forgotten after a TTL without turns).
 */
export class SessionTable {
  private readonly sessions = new SlotMap<string, MutableSessionEntry>();
  private readonly countByNode = new Map<string, number>();

  get(sessionId: string): SessionEntry | undefined {
    return this.sessions.get(sessionId);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Sessions assigned to `nodeId`. */
  countOn(nodeId: string): number {
    return this.countByNode.get(nodeId) ?? 0;
  }

  /** Places the session on `nodeId` (creating it if new). */
  assign(sessionId: string, nodeId: string, nowUs: number): SessionEntry {
    let s = this.sessions.get(sessionId);
    if (!s) {
      s = {
        sessionId,
        nodeId: undefined,
        lostNodeId: undefined,
        inFlight: 0,
        kvTokens: 0,
        lastActivityUs: nowUs,
        turns: 0,
        lastBlockHashes: [],
        owner: undefined,
      };
      this.sessions.set(sessionId, s);
    }
    this.setNode(s, nodeId);
    s.lostNodeId = undefined;
    s.lastActivityUs = nowUs;
    return s;
  }

  beginTurn(sessionId: string, nowUs: number, blockHashes: readonly number[]): void {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    s.inFlight++;
    s.turns++;
    s.lastActivityUs = nowUs;
    if (blockHashes.length > 0) s.lastBlockHashes = blockHashes;
  }

  /** The turn ended; `kvTokens` is the session's context after it (0 if unknown: keep the estimate). */
  endTurn(sessionId: string, nowUs: number, kvTokens: number): void {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    s.inFlight = Math.max(0, s.inFlight - 1);
    s.lastActivityUs = nowUs;
    if (kvTokens > 0) s.kvTokens = kvTokens;
  }

  /**
   * Whether `owner` may act on the session: yes if nobody owns it yet (then `owner` does, once
   * the session exists) or `owner` already does.
   */
  claim(sessionId: string, owner: number): boolean {
    const s = this.sessions.get(sessionId);
    if (!s) return true;
    s.owner ??= owner;
    return s.owner === owner;
  }

  remove(sessionId: string): SessionEntry | undefined {
    const s = this.sessions.get(sessionId);
    if (!s) return undefined;
    this.setNode(s, undefined);
    this.sessions.delete(sessionId);
    return s;
  }

  /** The node died: its sessions lose their placement (and KV). Returns how many. */
  detachNode(nodeId: string): number {
    let n = 0;
    for (const s of this.sessions.values()) {
      if (s.nodeId === nodeId) {
        this.setNode(s, undefined);
        s.lostNodeId = nodeId;
        s.kvTokens = 0;
        n++;
      }
    }
    return n;
  }

  /** Moves an idle session to `toNodeId` (rebalancing); its KV is recomputed there. */
  move(sessionId: string, toNodeId: string): void {
    const s = this.sessions.get(sessionId);
    if (!s) return;
    this.setNode(s, toNodeId);
    s.kvTokens = 0;
    s.lastBlockHashes = [];
  }

  /** Sessions on `nodeId` with no turn in flight. */
  idleOn(nodeId: string): SessionEntry[] {
    return [...this.sessions.values()].filter((s) => s.nodeId === nodeId && s.inFlight === 0);
  }

  /** Forgets idle sessions with no activity since `olderThanUs`; returns them. */
  expireIdle(olderThanUs: number): SessionEntry[] {
    const expired: SessionEntry[] = [];
    for (const s of this.sessions.values()) {
      if (s.inFlight === 0 && s.lastActivityUs < olderThanUs) expired.push(s);
    }
    for (const s of expired) this.remove(s.sessionId);
    return expired;
  }

  /** Session counts keyed by node id (nodes with none are absent). */
  countsByNode(): ReadonlyMap<string, number> {
    return this.countByNode;
  }

  private setNode(s: MutableSessionEntry, nodeId: string | undefined): void {
    if (s.nodeId === nodeId) return;
    if (s.nodeId !== undefined) {
      const c = (this.countByNode.get(s.nodeId) ?? 1) - 1;
      if (c <= 0) this.countByNode.delete(s.nodeId);
      else this.countByNode.set(s.nodeId, c);
    }
    s.nodeId = nodeId;
    if (nodeId !== undefined) this.countByNode.set(nodeId, (this.countByNode.get(nodeId) ?? 0) + 1);
  }
}
