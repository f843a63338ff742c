import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KvResidencyIndex, type ResidencyLookup } from "./residency-index";
import type { BlockStored, KvCacheEvent } from "./types";

const BS = 2;

function stored(
  hashes: number[],
  parent: number | null,
  tokenIds: number[],
  medium: string | null = "GPU",
): BlockStored {
  return {
    type: "BlockStored",
    blockHashes: hashes.map(BigInt),
    parentBlockHash: parent === null ? null : BigInt(parent),
    tokenIds,
    blockSize: BS,
    loraId: null,
    medium,
    loraName: null,
  };
}
function removed(hashes: number[], medium: string | null = "GPU"): KvCacheEvent {
  return { type: "BlockRemoved", blockHashes: hashes.map(BigInt), medium };
}

describe("KvResidencyIndex, examples", () => {
  it("a GPU chain, then its tail offloaded to CPU and evicted from GPU → GPU prefix, then CPU extension", () => {
    const idx = new KvResidencyIndex();
    idx.apply([stored([1, 2, 3], null, [10, 11, 12, 13, 14, 15])]);
    expect(idx.blockSize).toBe(2);
    expect(idx.lookup([10, 11, 12, 13, 14, 15, 16])).toEqual({ gpuTokens: 6, cpuTokens: 0, anyTokens: 6 });
    // vLLM's offloading connector: hash-only CPU stores (token_ids=[], block_size 0).
    idx.apply([{ ...stored([2, 3], null, [], "CPU"), blockSize: 0 }, removed([2, 3])]);
    expect(idx.lookup([10, 11, 12, 13, 14, 15])).toEqual({ gpuTokens: 2, cpuTokens: 0, anyTokens: 6 });
    expect(idx.stats()).toMatchObject({ gpuBlocks: 1, cpuBlocks: 2 });
    // A parent known only on the CPU still places its children.
    idx.apply([stored([4], 3, [16, 17])]);
    expect(idx.lookup([10, 11, 12, 13, 14, 15, 16, 17])).toEqual({
      gpuTokens: 2,
      cpuTokens: 0,
      anyTokens: 6,
    });
    idx.apply([{ type: "AllBlocksCleared" }]);
    expect(idx.lookup([10, 11])).toEqual({ gpuTokens: 0, cpuTokens: 0, anyTokens: 0 });
    expect(idx.stats()).toMatchObject({ gpuBlocks: 0, cpuBlocks: 0 });
  });

  it("unknown parent → event skipped and counted; removing unknown hashes counted", () => {
    const idx = new KvResidencyIndex({ blockSize: BS });
    idx.apply([stored([7], 99, [1, 2]), removed([5])]);
    expect(idx.stats()).toEqual({
      gpuBlocks: 0,
      cpuBlocks: 0,
      unknownParent: 1,
      unknownRemoved: 1,
      unknownStored: 0,
      skippedStored: 0,
    });
    // Once the parent is removed, its children can no longer be placed either.
    idx.apply([stored([1], null, [1, 2]), removed([1]), stored([2], 1, [3, 4])]);
    expect(idx.stats().unknownParent).toBe(2);
  });

  it("keys by content, not engine hashes: other hashes for the same tokens hit; a chain's prefix is what counts", () => {
    const idx = new KvResidencyIndex();
    idx.apply([stored([100, 101], null, [1, 2, 3, 4])]);
    const other = new KvResidencyIndex();
    other.apply([stored([5, 6], null, [1, 2, 3, 4])]);
    expect(idx.lookup([1, 2, 3, 4])).toEqual(other.lookup([1, 2, 3, 4]));
    // Same second block under another first block: no hit past block 0.
    expect(idx.lookup([1, 2, 9, 9, 3, 4])).toEqual({ gpuTokens: 2, cpuTokens: 0, anyTokens: 2 });
    // Two engine hashes for one content (e.g. two LoRAs): removing one keeps the block.
    idx.apply([stored([200], null, [1, 2]), removed([100])]);
    expect(idx.lookup([1, 2])).toEqual({ gpuTokens: 2, cpuTokens: 0, anyTokens: 2 });
    expect(idx.stats().gpuBlocks).toBe(2);
  });

  it("bytes hashes (sha256 hashing) link parents like ints", () => {
    const idx = new KvResidencyIndex();
    const h1 = Uint8Array.from([1, 2, 3]);
    const h2 = Uint8Array.from([4, 5, 6]);
    idx.apply([
      { ...stored([], null, [1, 2]), blockHashes: [h1] },
      { ...stored([], null, [3, 4]), blockHashes: [h2], parentBlockHash: Uint8Array.from([1, 2, 3]) },
    ]);
    expect(idx.lookup([1, 2, 3, 4])).toEqual({ gpuTokens: 4, cpuTokens: 0, anyTokens: 4 });
  });

  it("unknown block size → lookups 0; stores of another block size or a wrong token count → skipped", () => {
    const idx = new KvResidencyIndex();
    expect(idx.lookup([1, 2, 3, 4])).toEqual({ gpuTokens: 0, cpuTokens: 0, anyTokens: 0 });
    idx.apply([stored([1], null, [1, 2])]);
    idx.apply([{ ...stored([2], null, [1, 2, 3, 4]), blockSize: 4 }, stored([3], null, [1, 2, 3])]);
    expect(idx.stats().skippedStored).toBe(2);
    idx.apply([{ ...stored([1], null, [], "CPU"), blockSize: 16 }]);
    expect(idx.stats().skippedStored).toBe(3);
  });

  it("lookup of a 4k-token prompt takes well under 1 ms", () => {
    const idx = new KvResidencyIndex({ blockSize: 16 });
    const prompt = Array.from({ length: 4096 }, (_, i) => (i * 7919) % 128000);
    idx.apply([
      {
        type: "BlockStored",
        blockHashes: Array.from({ length: 256 }, (_, i) => BigInt(i + 1)),
        parentBlockHash: null,
        tokenIds: prompt,
        blockSize: 16,
        loraId: null,
        medium: "GPU",
        loraName: null,
      },
    ]);
    expect(idx.lookup(prompt).gpuTokens).toBe(4096);
    const runs = 200;
    const t0 = performance.now();
    for (let i = 0; i < runs; i++) idx.lookup(prompt);
    const perLookupMs = (performance.now() - t0) / runs;
    expect(perLookupMs).toBeLessThan(0.5);
  });
});

// --- property test against a brute-force model ---

type Op =
  | { kind: "store"; parent: number | "root" | "unknown"; tokens: number[]; medium: string | null }
  | { kind: "restore"; pick: number; medium: string | null }
  | { kind: "offload"; picks: number[]; medium: string }
  | { kind: "remove"; picks: number[]; medium: string | null }
  | { kind: "clear" };

const medium = fc.constantFrom<string | null>("GPU", "CPU", null, "GPU", "CPU", "DISK");
const tokensArb = (blocks: number) =>
  fc.array(fc.integer({ min: 0, max: 2 }), { minLength: blocks * BS, maxLength: blocks * BS });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("store" as const),
      parent: fc.oneof(fc.constant("root" as const), fc.constant("unknown" as const), fc.nat(), fc.nat()),
      tokens: fc.integer({ min: 1, max: 3 }).chain(tokensArb),
      medium,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("restore" as const), pick: fc.nat(), medium }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant("offload" as const),
      picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
      medium: fc.constantFrom("CPU", "GPU"),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("remove" as const),
      picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
      medium,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: "clear" as const }) },
);

/** The obvious semantics: each engine hash holds a full token prefix and a set of media. */
class Model {
  readonly blocks = new Map<bigint, { prefix: number[]; media: Set<string> }>();
  unknownParent = 0;
  unknownRemoved = 0;
  unknownStored = 0;

  apply(e: KvCacheEvent): void {
    if (e.type === "AllBlocksCleared") this.blocks.clear();
    else if (e.type === "BlockRemoved") {
      for (const h of e.blockHashes as bigint[]) {
        const b = this.blocks.get(h);
        const m = e.medium ?? "GPU";
        if (!b || !b.media.has(m)) this.unknownRemoved++;
        else {
          b.media.delete(m);
          if (b.media.size === 0) this.blocks.delete(h);
        }
      }
    } else if (e.tokenIds.length === 0) {
      for (const h of e.blockHashes as bigint[]) {
        const b = this.blocks.get(h);
        if (b) b.media.add(e.medium ?? "GPU");
        else this.unknownStored++;
      }
    } else {
      let prefix: number[] = [];
      if (e.parentBlockHash !== null) {
        const p = this.blocks.get(e.parentBlockHash as bigint);
        if (!p) {
          this.unknownParent++;
          return;
        }
        prefix = p.prefix;
      }
      e.blockHashes.forEach((h, j) => {
        prefix = [...prefix, ...e.tokenIds.slice(j * BS, (j + 1) * BS)];
        const b = this.blocks.get(h as bigint) ?? { prefix, media: new Set<string>() };
        b.media.add(e.medium ?? "GPU");
        this.blocks.set(h as bigint, b);
      });
    }
  }

  private has(prefix: number[], medium: string): boolean {
    const key = prefix.join(",");
    for (const b of this.blocks.values()) if (b.media.has(medium) && b.prefix.join(",") === key) return true;
    return false;
  }

  lookup(tokens: number[]): ResidencyLookup {
    const n = Math.floor(tokens.length / BS);
    const on = (i: number, m: string) => this.has(tokens.slice(0, (i + 1) * BS), m);
    let gpu = 0;
    while (gpu < n && on(gpu, "GPU")) gpu++;
    let cpu = 0;
    while (cpu < n && on(cpu, "CPU")) cpu++;
    let any = gpu;
    while (any < n && on(any, "CPU")) any++;
    return { gpuTokens: gpu * BS, cpuTokens: cpu * BS, anyTokens: any * BS };
  }

  distinct(medium: string): number {
    const keys = new Set<string>();
    for (const b of this.blocks.values()) if (b.media.has(medium)) keys.add(b.prefix.join(","));
    return keys.size;
  }
}

/** Turns ops into concrete events: fresh hashes per store, parents and picks among hashes seen so far. */
function toEvents(ops: Op[]): KvCacheEvent[] {
  const seen: { hash: bigint; parent: bigint | null; tokens: number[] }[] = [];
  let next = 1n;
  const pick = (i: number) => seen[i % seen.length] as (typeof seen)[number];
  const events: KvCacheEvent[] = [];
  for (const op of ops) {
    if (op.kind === "clear") events.push({ type: "AllBlocksCleared" });
    else if (op.kind === "store") {
      let parent: bigint | null = null;
      if (op.parent === "unknown") parent = 1_000_000n + next;
      else if (op.parent !== "root" && seen.length > 0) parent = pick(op.parent).hash;
      const hashes: bigint[] = [];
      for (let j = 0; j < op.tokens.length / BS; j++) {
        const hash = next++;
        seen.push({
          hash,
          parent: j === 0 ? parent : (hashes[j - 1] as bigint),
          tokens: op.tokens.slice(j * BS, (j + 1) * BS),
        });
        hashes.push(hash);
      }
      events.push({
        type: "BlockStored",
        blockHashes: hashes,
        parentBlockHash: parent,
        tokenIds: op.tokens,
        blockSize: BS,
        loraId: null,
        medium: op.medium,
        loraName: null,
      });
    } else if (seen.length > 0) {
      if (op.kind === "restore") {
        const b = pick(op.pick);
        events.push({
          type: "BlockStored",
          blockHashes: [b.hash],
          parentBlockHash: b.parent,
          tokenIds: b.tokens,
          blockSize: BS,
          loraId: null,
          medium: op.medium,
          loraName: null,
        });
      } else if (op.kind === "offload") {
        events.push({
          type: "BlockStored",
          blockHashes: op.picks.map((i) => pick(i).hash),
          parentBlockHash: null,
          tokenIds: [],
          blockSize: 0,
          loraId: null,
          medium: op.medium,
          loraName: null,
        });
      } else {
        events.push({
          type: "BlockRemoved",
          blockHashes: op.picks.map((i) => pick(i).hash),
          medium: op.medium,
        });
      }
    }
  }
  return events;
}

describe("KvResidencyIndex vs a brute-force model (property)", () => {
  it("random stored/removed/offloaded/cleared sequences → every lookup and count agrees", () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.tuple(fc.nat(), fc.array(fc.integer({ min: 0, max: 2 }), { maxLength: 7 })), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.boolean(),
        (ops, probes, givenBlockSize) => {
          const events = toEvents(ops);
          const idx = new KvResidencyIndex(givenBlockSize ? { blockSize: BS } : undefined);
          const model = new Model();
          // Apply in random-sized slices, as batches arrive.
          for (let i = 0; i < events.length; i += 3) idx.apply(events.slice(i, i + 3));
          for (const e of events) model.apply(e);
          const prefixes = [...model.blocks.values()].map((b) => b.prefix);
          for (const [pickIdx, tail] of probes) {
            const base = prefixes.length > 0 ? (prefixes[pickIdx % prefixes.length] as number[]) : [];
            const prompt = [...base, ...tail];
            const want =
              idx.blockSize === null ? { gpuTokens: 0, cpuTokens: 0, anyTokens: 0 } : model.lookup(prompt);
            expect(idx.lookup(prompt)).toEqual(want);
          }
          expect(idx.stats()).toEqual({
            gpuBlocks: model.distinct("GPU"),
            cpuBlocks: model.distinct("CPU"),
            unknownParent: model.unknownParent,
            unknownRemoved: model.unknownRemoved,
            unknownStored: model.unknownStored,
            skippedStored: 0,
          });
        },
      ),
      { numRuns: 400 },
    );
  });
});
