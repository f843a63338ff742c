import { SlotMap } from "@symphony/common";

/**
 * Scheduling classes, served strictly in this order (HIGH before NORMAL before LOW); FCFS
 * within a class. Mirrors the wire `Priority` enum without depending on generated code.
 */
export type PriorityClass = "high" | "normal" | "low";

export const PRIORITY_ORDER: readonly PriorityClass[] = ["high", "normal", "low"];

/**
 * A bounded multi-class FIFO. `push` refuses (returns false) once `maxLength` items wait in
 * total, so callers can answer RESOURCE_EXHAUSTED instead of queueing without limit.
 * Each class is an insertion-ordered SlotMap, so head, push and remove-by-id are all O(1).
 */
export class RequestQueue<T> {
  private readonly classes = new Map<PriorityClass, SlotMap<string, T>>(
    PRIORITY_ORDER.map((p) => [p, new SlotMap<string, T>()]),
  );
  private readonly classOf = new SlotMap<string, PriorityClass>();

  /** @param maxLength most items that may wait at once (>= 0). */
  constructor(readonly maxLength: number) {}

  get length(): number {
    return this.classOf.size;
  }

  get isFull(): boolean {
    return this.length >= this.maxLength;
  }

  has(id: string): boolean {
    return this.classOf.has(id);
  }

  /** Appends `item` to its class. Returns false (and changes nothing) when full or `id` is queued. */
  push(id: string, priority: PriorityClass, item: T): boolean {
    if (this.isFull || this.classOf.has(id)) return false;
    this.classes.get(priority)!.set(id, item);
    this.classOf.set(id, priority);
    return true;
  }

  /** The item that would be served next, without removing it. */
  peek(): T | undefined {
    for (const p of PRIORITY_ORDER) {
      const cls = this.classes.get(p)!;
      const first = cls.firstKey();
      if (first !== undefined) return cls.get(first);
    }
    return undefined;
  }

  /** Removes and returns the item that is served next. */
  shift(): T | undefined {
    for (const p of PRIORITY_ORDER) {
      const cls = this.classes.get(p)!;
      const first = cls.firstKey();
      if (first !== undefined) {
        const item = cls.get(first);
        cls.delete(first);
        this.classOf.delete(first);
        return item;
      }
    }
    return undefined;
  }

  /** Removes a waiting item (cancellation, deadline). Returns it, or undefined if not queued. */
  remove(id: string): T | undefined {
    const p = this.classOf.get(id);
    if (p === undefined) return undefined;
    const cls = this.classes.get(p)!;
    const item = cls.get(id);
    cls.delete(id);
    this.classOf.delete(id);
    return item;
  }

  /** Waiting items in service order. */
  *values(): IterableIterator<T> {
    for (const p of PRIORITY_ORDER) yield* this.classes.get(p)!.values();
  }
}
