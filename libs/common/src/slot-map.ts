/**
 * A Map for long-lived tables whose entries come and go all the time (requests in flight,
 * sessions), with Map's semantics, iteration order included: its hash table maps each key to
 * the index of a slot, and the values sit in those slots, cleared when their key is deleted.
 *
 * Why: V8 rebuilds a Map's hash table every few hundred insertions of a churning map (deleted
 * entries fill it up), and the old table keeps pointing at the values it held and at its
 * successor. Once the map is old, each discarded table is dead old-generation memory that the
 * young-generation collector still treats as live, so every value in it survives and is
 * promoted to the old generation, with all it references (a request's prompt, its state): most
 * per-request objects end up collected by full mark-compacts instead of cheap scavenges. Here a
 * discarded table holds only keys and small integers. And a map emptied by `delete` starts a
 * fresh table (V8 would allocate a shrunk one, chained to the old: a table per emptying, each
 * promoted), unless an iteration over it is under way.
 */
export class SlotMap<K, V> implements Iterable<[K, V]> {
  private slotOf = new Map<K, number>();
  private readonly slots: (V | undefined)[] = [];
  private readonly free: number[] = [];
  /** Iterations under way (the table must not be replaced under them). */
  private iterating = 0;

  get size(): number {
    return this.slotOf.size;
  }

  has(key: K): boolean {
    return this.slotOf.has(key);
  }

  get(key: K): V | undefined {
    const slot = this.slotOf.get(key);
    return slot === undefined ? undefined : this.slots[slot];
  }

  set(key: K, value: V): this {
    const slot = this.slotOf.get(key);
    if (slot !== undefined) {
      this.slots[slot] = value;
      return this;
    }
    const free = this.free.length > 0 ? this.free.pop()! : this.slots.length;
    this.slots[free] = value;
    this.slotOf.set(key, free);
    return this;
  }

  delete(key: K): boolean {
    const slot = this.slotOf.get(key);
    if (slot === undefined) return false;
    if (this.slotOf.size === 1 && this.iterating === 0) this.slotOf = new Map();
    else this.slotOf.delete(key);
    this.slots[slot] = undefined;
    this.free.push(slot);
    return true;
  }

  clear(): void {
    this.slotOf.clear();
    this.slots.length = 0;
    this.free.length = 0;
  }

  /** The first key in iteration order (undefined when empty). */
  firstKey(): K | undefined {
    for (const key of this.slotOf.keys()) return key;
    return undefined;
  }

  // Generators walk the key -> slot table live, as a Map's iterators do, reading each value when
  // reached. One left unfinished keeps `iterating` up: emptied tables are then only shrunk.

  *keys(): IterableIterator<K> {
    this.iterating++;
    try {
      yield* this.slotOf.keys();
    } finally {
      this.iterating--;
    }
  }

  *values(): IterableIterator<V> {
    this.iterating++;
    try {
      for (const slot of this.slotOf.values()) yield this.slots[slot] as V;
    } finally {
      this.iterating--;
    }
  }

  *entries(): IterableIterator<[K, V]> {
    this.iterating++;
    try {
      for (const [key, slot] of this.slotOf) yield [key, this.slots[slot] as V];
    } finally {
      this.iterating--;
    }
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: K, map: SlotMap<K, V>) => void): void {
    this.iterating++;
    try {
      for (const [key, slot] of this.slotOf) fn(this.slots[slot] as V, key, this);
    } finally {
      this.iterating--;
    }
  }
}
