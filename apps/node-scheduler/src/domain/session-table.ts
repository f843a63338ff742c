import { SlotMap, type TimerHandle } from "@symphony/common";

/** Where a session's KV cache lives: on the GPU, offloaded to host memory, or gone (recompute). */
export type Tier = "gpu" | "cpu" | "evicted";

/** An in-flight copy of a session's KV between tiers. */
export interface KvTransfer {
  /** toCpu = offload; toGpu = prefetch (on a hint) or restore (for an arrived turn). */
  direction: "toCpu" | "toGpu";
  reason: "offload" | "prefetch" | "restore";
  tokens: number;
  startUs: number;
  doneUs: number;
  handle: TimerHandle;
}

/** The latest advisory hint for a session. */
export interface SessionHintState {
  /** Absolute expected arrival of the next turn, µs on the node's clock. */
  expectedArrivalUs: number;
  /** Expected whole-context prompt tokens of the next turn (0 = unknown). */
  expectedPromptTokens: number;
  nextTurnIndex: number;
  /** Timer that starts the prefetch, if one is scheduled. */
  prefetchTimer?: TimerHandle;
}

/**
 * What the node knows about one session. `kvTokens` is the size of its KV cache in `tier`
 * (prompt + completion tokens of its last finished turn; 0 when evicted).
 *
 * Budget accounting while a transfer is in flight (the source is freed only when the copy ends):
 * - offload (tier stays "gpu" until done): GPU holds kvTokens, CPU has kvTokens reserved;
 * - prefetch/restore (tier stays "cpu" until done): CPU holds kvTokens, GPU has kvTokens reserved.
 */
export interface SessionState {
  readonly id: string;
  tier: Tier;
  kvTokens: number;
  transfer?: KvTransfer;
  /** Last time a turn of this session finished or arrived, µs. */
  lastUsedUs: number;
  hint?: SessionHintState;
  /** Turns admitted (restoring or running on the engine); > 0 pins the session to the GPU. */
  active: number;
  /** Turns waiting in the queue; > 0 makes the session the last choice for demotion. */
  queued: number;
  /** CloseSession arrived while turns were active: release when the last one ends. */
  closing: boolean;
}

/**
 * All sessions the node has seen, by id, plus an index by tier so victim selection scans only
 * the GPU (or CPU) residents, not every session ever seen. Change tiers only with `setTier`.
 * Evicted sessions are kept (bounded) to tell "evicted" from "new".
 */
export class SessionTable {
  // SlotMaps, not a Map and Sets: sessions come and go all the time (see SlotMap).
  private readonly sessions = new SlotMap<string, SessionState>();
  private readonly byTier: Record<Tier, SlotMap<string, SessionState>> = {
    gpu: new SlotMap(),
    cpu: new SlotMap(),
    evicted: new SlotMap(),
  };
  private readonly evictedOrder: string[] = [];

  /** @param maxEvictedRecords evicted sessions remembered before the oldest are forgotten. */
  constructor(private readonly maxEvictedRecords = 100_000) {}

  get size(): number {
    return this.sessions.size;
  }

  get(id: string): SessionState | undefined {
    return this.sessions.get(id);
  }

  /** Returns the session, creating an empty evicted-tier record when unknown. */
  getOrCreate(id: string, nowUs: number): SessionState {
    let s = this.sessions.get(id);
    if (!s) {
      s = { id, tier: "evicted", kvTokens: 0, lastUsedUs: nowUs, active: 0, queued: 0, closing: false };
      this.sessions.set(id, s);
      this.byTier.evicted.set(id, s);
    }
    return s;
  }

  setTier(s: SessionState, tier: Tier): void {
    this.byTier[s.tier].delete(s.id);
    s.tier = tier;
    this.byTier[tier].set(s.id, s);
    if (tier === "evicted") this.noteEvicted(s);
  }

  delete(id: string): void {
    const s = this.sessions.get(id);
    if (!s) return;
    this.byTier[s.tier].delete(id);
    this.sessions.delete(id);
  }

  /** Sessions whose KV is (or is being admitted) in `tier`. */
  inTier(tier: Tier): IterableIterator<SessionState> {
    return this.byTier[tier].values();
  }

  values(): IterableIterator<SessionState> {
    return this.sessions.values();
  }

  /** Sessions holding KV in `tier` (a transfer's destination is not counted yet). */
  countIn(tier: Tier): number {
    let n = 0;
    this.byTier[tier].forEach((s) => {
      if (s.kvTokens > 0) n++;
    });
    return n;
  }

  /** Sessions holding KV on GPU or CPU. */
  get residentCount(): number {
    return this.countIn("gpu") + this.countIn("cpu");
  }

  /** Remembers evicted sessions in order, forgetting the oldest idle ones beyond the cap. */
  private noteEvicted(s: SessionState): void {
    this.evictedOrder.push(s.id);
    while (this.evictedOrder.length > this.maxEvictedRecords) {
      const old = this.sessions.get(this.evictedOrder.shift()!);
      if (old && old.tier === "evicted" && old.active === 0 && old.queued === 0) this.delete(old.id);
    }
  }
}
