import type { TimerHandle, Timers } from "@symphony/common";
import type { NodeSnapshot, NodeState } from "./types";

/** Load a node reports about itself (heartbeat or Status poll). */
export interface NodeLoad {
  readonly queueDepth: number;
  readonly running: number;
  /** GPU KV tokens in use / budget; 0 when unknown. */
  readonly kvUsedTokens: number;
  readonly kvBudgetTokens: number;
  /** Sessions the node itself holds state for. */
  readonly residentSessions: number;
  /**
   * Context tokens the node's engine really holds per session (GPU, then its CPU tier), from the
   * engine's KV-cache events; undefined when the node does not read them.
   */
  readonly engineResidency?: ReadonlyMap<string, number>;
}

export const NO_LOAD: NodeLoad = {
  queueDepth: 0,
  running: 0,
  kvUsedTokens: 0,
  kvBudgetTokens: 0,
  residentSessions: 0,
};

/** How the scheduler learned of a node: `--nodes` (polled) or RegisterNode (sends heartbeats). */
export type NodeSource = "static" | "registered";

/** Everything the registry knows about one node. Read-only to callers. */
export interface NodeRecord {
  readonly nodeId: string;
  readonly address: string;
  readonly source: NodeSource;
  readonly up: boolean;
  readonly draining: boolean;
  readonly load: NodeLoad;
  /** Last report (heartbeat, poll or registration), µs; -1 before the first. */
  readonly observedAtUs: number;
  /** Why the node is down ("" when up). */
  readonly downReason: string;
  /** Requests the scheduler is relaying to it now. */
  readonly inFlight: number;
  /** Times this node went down. */
  readonly downs: number;
  /** Relays to it that failed in a row, since its last finished turn (see noteRelayFailure). */
  readonly relayFailures: number;
  /**
   * Its health check said NOT_SERVING (its engine is unreachable): it stays down, whatever its
   * heartbeats, until it reports again without `draining` (see markUnhealthy).
   */
  readonly unhealthy: boolean;
}

type MutableNodeRecord = { -readonly [K in keyof NodeRecord]: NodeRecord[K] };

/** A snapshot that `refreshSnapshots` rewrites. */
export type MutableNodeSnapshot = { -readonly [K in keyof NodeSnapshot]: NodeSnapshot[K] };

export type MembershipEvent =
  | { readonly kind: "up"; readonly nodeId: string }
  | { readonly kind: "down"; readonly nodeId: string; readonly reason: string }
  | { readonly kind: "renamed"; readonly from: string; readonly to: string };

/** Answer to a registration: accepted, or refused because it would take over a live node. */
export type RegisterOutcome =
  { readonly ok: true } | { readonly ok: false; readonly reason: string; readonly conflictWith: string };

export interface NodeRegistryOptions {
  /** A node with no report for this long is marked down, µs (> 0). */
  readonly heartbeatTimeoutUs: number;
  /**
   * Relays that must fail in a row (no finished turn between) before the node is marked down
   * on that evidence alone (>= 1; default 3). A failed health check still marks it down at once.
   */
  readonly relayFailuresToDown?: number;
}

/**
 * Cluster membership. Static nodes (`--nodes`) start down under their address as provisional id
 * and come up with the first successful poll, which tells their real node id; registered nodes
 * come up on RegisterNode and stay up while heartbeats arrive. A node is marked down when its
 * reports stop for `heartbeatTimeoutUs`, when a poll or health check fails, or when relays to
 * it fail several times in a row; any later successful report brings it back up.
 *
 * Synchronous, timer-driven (injected Timers) and transport-free; `onEvent` hears every change.
 */
export class NodeRegistry {
  private readonly nodes = new Map<string, MutableNodeRecord>();
  private sweepHandle: TimerHandle | undefined;

  constructor(
    private readonly timers: Timers,
    private readonly options: NodeRegistryOptions,
    private readonly onEvent: (event: MembershipEvent) => void = () => {},
  ) {}

  /** Starts the periodic check for silent nodes. */
  start(): void {
    const period = Math.max(1, Math.floor(this.options.heartbeatTimeoutUs / 4));
    const tick = () => {
      this.expireSilentNodes();
      this.sweepHandle = this.timers.at(this.timers.nowUs() + period, tick);
    };
    this.sweepHandle = this.timers.at(this.timers.nowUs() + period, tick);
  }

  stop(): void {
    if (this.sweepHandle) this.timers.cancel(this.sweepHandle);
    this.sweepHandle = undefined;
  }

  /** Adds a `--nodes` entry (down until its first successful poll). Idempotent per address. */
  addStatic(address: string): void {
    if (this.byAddress(address)) return;
    this.nodes.set(address, this.newRecord(address, address, "static", false, "awaiting first status poll"));
  }

  /**
   * RegisterNode: the node is alive at `address` (a restart may bring a new address or id).
   * Refused while it would take over a live node: the id is up at another address, or the
   * address is up under another id (a hijack, or a restart whose old self has not been marked
   * down yet: the caller should probe `conflictWith`; the node's own retry then succeeds).
   */
  register(nodeId: string, address: string): RegisterOutcome {
    const byId = this.nodes.get(nodeId);
    if (byId?.up && byId.address !== address)
      return {
        ok: false,
        conflictWith: nodeId,
        reason: `node id "${nodeId}" is live at ${byId.address}; a new address is accepted once that one is down`,
      };
    const byAddress = this.byAddress(address);
    if (!byId && byAddress?.up && byAddress.nodeId !== nodeId)
      return {
        ok: false,
        conflictWith: byAddress.nodeId,
        reason: `address ${address} belongs to live node "${byAddress.nodeId}"; another id is accepted there once it is down`,
      };
    const existing = byId ?? byAddress;
    if (existing) {
      if (existing.nodeId !== nodeId) this.rename(existing, nodeId);
      existing.address = address;
      this.markReport(existing, NO_LOAD, existing.draining);
      return { ok: true };
    }
    const rec = this.newRecord(nodeId, address, "registered", false, "");
    this.nodes.set(nodeId, rec);
    this.markReport(rec, NO_LOAD, false);
    return { ok: true };
  }

  /** Heartbeat from a registered node. Returns false if the node is unknown (it must register). */
  heartbeat(nodeId: string, load: NodeLoad, draining: boolean): boolean {
    const rec = this.nodes.get(nodeId);
    if (!rec) return false;
    this.markReport(rec, load, draining);
    return true;
  }

  /**
   * A successful Status poll of the node at `address`, which says it is `nodeId`. A static node
   * takes the reported id (its provisional id was its address).
   */
  observePoll(address: string, nodeId: string, load: NodeLoad, draining: boolean): void {
    const rec = this.byAddress(address);
    if (!rec) return;
    if (rec.nodeId !== nodeId) {
      const other = this.nodes.get(nodeId);
      if (other && other !== rec) {
        // The same node also registered itself: keep one record, under its real id.
        this.nodes.delete(nodeId);
        rec.inFlight += other.inFlight;
      }
      this.rename(rec, nodeId);
    }
    this.markReport(rec, load, draining);
  }

  /** A poll, health check or relay failed: the node is unreachable. No-op if already down. */
  markDown(nodeId: string, reason: string): void {
    const rec = this.nodes.get(nodeId);
    if (!rec || !rec.up) return;
    rec.up = false;
    rec.downReason = reason;
    rec.downs++;
    rec.relayFailures = 0;
    this.onEvent({ kind: "down", nodeId, reason });
  }

  /**
   * A relay to the node failed before it finished (connection refused or reset, call dropped).
   * A single failure is weak evidence (one stream can break on its own while the node is fine,
   * and marking a node down detaches every session on it), so the node is marked down only after
   * `relayFailuresToDown` failures in a row; the caller should also probe its health, which
   * confirms a real outage at once. Returns whether the node was marked down now.
   */
  noteRelayFailure(nodeId: string, reason: string): boolean {
    const rec = this.nodes.get(nodeId);
    if (!rec || !rec.up) return false;
    rec.relayFailures++;
    const threshold = this.options.relayFailuresToDown ?? 3;
    if (rec.relayFailures < threshold) return false;
    this.markDown(nodeId, `${rec.relayFailures} relays failed in a row, last: ${reason}`);
    return true;
  }

  /**
   * The node's health check says NOT_SERVING (the node reports its engine unreachable): down,
   * and kept down by its draining heartbeats (a heartbeat alone would bring it back up), until
   * a report without `draining` says it is serving again.
   */
  markUnhealthy(nodeId: string, reason: string): void {
    const rec = this.nodes.get(nodeId);
    if (!rec) return;
    rec.unhealthy = true;
    if (rec.up) this.markDown(nodeId, reason);
    else rec.downReason = reason;
  }

  /** Same as markDown, for a node known by address (polls of static nodes). */
  markDownByAddress(address: string, reason: string): void {
    const rec = this.byAddress(address);
    if (!rec) return;
    if (rec.up) this.markDown(rec.nodeId, reason);
    else rec.downReason = reason;
  }

  /**
   * The node just answered a call (e.g. finished a relayed turn): proof of life that keeps an
   * up node from timing out while its heartbeats or polls are late. Does not bring a down node
   * up (that takes a real report with load figures).
   */
  noteAlive(nodeId: string): void {
    const rec = this.nodes.get(nodeId);
    if (rec?.up) {
      rec.observedAtUs = this.timers.nowUs();
      rec.relayFailures = 0;
    }
  }

  /** The scheduler started (+1) or finished (-1) relaying a request to the node. */
  adjustInFlight(nodeId: string, delta: number): void {
    const rec = this.nodes.get(nodeId);
    if (rec) rec.inFlight = Math.max(0, rec.inFlight + delta);
  }

  get(nodeId: string): NodeRecord | undefined {
    return this.nodes.get(nodeId);
  }

  /** Whether any node is up (draining ones included: they still serve their sessions). */
  anyUp(): boolean {
    for (const rec of this.nodes.values()) if (rec.up) return true;
    return false;
  }

  byAddress(address: string): MutableNodeRecord | undefined {
    for (const rec of this.nodes.values()) if (rec.address === address) return rec;
    return undefined;
  }

  /** Every node, in insertion order. */
  all(): readonly NodeRecord[] {
    return [...this.nodes.values()];
  }

  /** Addresses of static nodes (the ones to poll). */
  staticAddresses(): string[] {
    return [...this.nodes.values()].filter((r) => r.source === "static").map((r) => r.address);
  }

  state(rec: NodeRecord): NodeState {
    if (!rec.up) return "down";
    return rec.draining ? "draining" : "up";
  }

  /** Snapshots for routing policies; `sessionsOf` counts the scheduler's sessions per node. */
  snapshots(sessionsOf: (nodeId: string) => number): NodeSnapshot[] {
    return [...this.nodes.values()].map((r) => snapshotOf(r, sessionsOf));
  }

  /**
   * The same snapshots written into `out` (its objects reused, its length set to the node count),
   * for a caller that drops them before the registry changes again: routing, once per placement.
   */
  refreshSnapshots(
    out: MutableNodeSnapshot[],
    sessionsOf: (nodeId: string) => number,
  ): readonly NodeSnapshot[] {
    let i = 0;
    for (const r of this.nodes.values()) {
      const s = out[i++];
      if (s === undefined) {
        out.push(snapshotOf(r, sessionsOf));
        continue;
      }
      s.nodeId = r.nodeId;
      s.address = r.address;
      s.up = r.up;
      s.draining = r.draining;
      s.queueDepth = r.load.queueDepth;
      s.running = r.load.running;
      s.inFlight = r.inFlight;
      s.kvUsedTokens = r.load.kvUsedTokens;
      s.kvBudgetTokens = r.load.kvBudgetTokens;
      s.sessions = sessionsOf(r.nodeId);
      s.observedAtUs = r.observedAtUs;
    }
    out.length = i;
    return out;
  }

  /** Marks down every up node whose last report is older than the heartbeat timeout. */
  expireSilentNodes(): void {
    const now = this.timers.nowUs();
    for (const rec of this.nodes.values()) {
      if (rec.up && now - rec.observedAtUs > this.options.heartbeatTimeoutUs) {
        const ms = Math.round((now - rec.observedAtUs) / 1000);
        this.markDown(rec.nodeId, `no heartbeat or status for ${ms} ms`);
      }
    }
  }

  private newRecord(
    nodeId: string,
    address: string,
    source: NodeSource,
    up: boolean,
    downReason: string,
  ): MutableNodeRecord {
    return {
      nodeId,
      address,
      source,
      up,
      draining: false,
      load: NO_LOAD,
      observedAtUs: -1,
      downReason,
      inFlight: 0,
      downs: 0,
      relayFailures: 0,
      unhealthy: false,
    };
  }

  private markReport(rec: MutableNodeRecord, load: NodeLoad, draining: boolean): void {
    rec.load = load;
    rec.draining = draining;
    rec.observedAtUs = this.timers.nowUs();
    // Still draining after a failed health check: alive, but not serving (its engine is down).
    if (rec.unhealthy && draining) return;
    rec.unhealthy = false;
    if (!rec.up) {
      rec.up = true;
      rec.downReason = "";
      this.onEvent({ kind: "up", nodeId: rec.nodeId });
    }
  }

  /** A node answers under a new id (first poll of a static node, or a restart with a new id). */
  private rename(rec: MutableNodeRecord, to: string): void {
    const from = rec.nodeId;
    // Whatever the old id held (sessions, cache) is gone with it.
    if (rec.up) this.markDown(from, `node now reports id "${to}"`);
    this.nodes.delete(from);
    rec.nodeId = to;
    this.nodes.set(to, rec);
    this.onEvent({ kind: "renamed", from, to });
  }
}

function snapshotOf(r: NodeRecord, sessionsOf: (nodeId: string) => number): MutableNodeSnapshot {
  return {
    nodeId: r.nodeId,
    address: r.address,
    up: r.up,
    draining: r.draining,
    queueDepth: r.load.queueDepth,
    running: r.load.running,
    inFlight: r.inFlight,
    kvUsedTokens: r.load.kvUsedTokens,
    kvBudgetTokens: r.load.kvBudgetTokens,
    sessions: sessionsOf(r.nodeId),
    observedAtUs: r.observedAtUs,
  };
}
