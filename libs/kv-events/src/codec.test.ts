import { describe, expect, it } from "vitest";
import { decodeEventBatch, encodeEventBatch, hashKey, KvEventsDecodeError } from "./codec";
import type { EventBatch, EventEncoding } from "./types";

/** Hex with spaces and `|` as separators, for msgpack laid out by hand. */
function hex(...parts: string[]): Buffer {
  return Buffer.from(parts.join("").replace(/[\s|]/g, ""), "hex");
}
/** A msgpack fixstr (< 32 bytes), written out: 0xa0|len then the utf-8 bytes. */
function fixstr(s: string): string {
  const b = Buffer.from(s, "utf8");
  expect(b.length).toBeLessThan(32);
  return (0xa0 | b.length).toString(16) + b.toString("hex");
}

const BIG = 0xfedcba9876543210n; // > 2^53: exact only as bigint
const BYTES = Uint8Array.from([0xde, 0xad, 0xbe, 0xef]);

// --- array_like (older vLLM; llm-d's Go indexer) ---

const ARRAY_STORED_CPU = [
  "98", // fixarray 8
  fixstr("BlockStored"),
  "92 cf fedcba9876543210 c4 04 deadbeef", // block_hashes: uint64, bin8
  "c0", // parent_block_hash nil
  "94 01 ccff cd0100 ce00010000", // token_ids 1, 255, 256, 65536
  "02", // block_size
  "c0", // lora_id nil
  fixstr("CPU"), // medium
  "c0", // lora_name nil
].join("");
const ARRAY_STORED_PARENT_NO_LORA_NAME = [
  "97", // fixarray 7: a vLLM from before lora_name
  fixstr("BlockStored"),
  "91 2a", // block_hashes [42]
  "cf fedcba9876543210", // parent
  "92 05 06", // token_ids
  "02",
  "03", // lora_id 3
  "c0", // medium nil (= GPU)
].join("");
const ARRAY_REMOVED = ["93", fixstr("BlockRemoved"), "91 c4 04 deadbeef", fixstr("GPU")].join("");
const ARRAY_CLEARED = ["91", fixstr("AllBlocksCleared")].join("");
const ARRAY_BATCH = hex(
  "93 cb 3ff8000000000000", // [ts=1.5,
  "94",
  ARRAY_STORED_CPU,
  ARRAY_STORED_PARENT_NO_LORA_NAME,
  ARRAY_REMOVED,
  ARRAY_CLEARED,
  "00", // data_parallel_rank 0]
);

// --- tagged_map (vLLM since mid-2026) ---

const MAP_STORED = [
  "88",
  fixstr("type") + fixstr("BlockStored"),
  fixstr("block_hashes") + "92 cf fedcba9876543210 c4 04 deadbeef",
  fixstr("parent_block_hash") + "c4 04 deadbeef",
  fixstr("token_ids") + "94 01 ccff cd0100 ce00010000",
  fixstr("block_size") + "02",
  fixstr("lora_id") + "07",
  fixstr("medium") + fixstr("CPU"),
  fixstr("lora_name") + fixstr("ad"),
].join("");
const MAP_REMOVED = [
  "83",
  fixstr("type") + fixstr("BlockRemoved"),
  fixstr("block_hashes") + "91 2a",
  fixstr("medium") + "c0",
].join("");
const MAP_CLEARED = ["81", fixstr("type") + fixstr("AllBlocksCleared")].join("");
/** What vLLM sends: the batch stays an array (EventBatch is array_like), the events are tagged maps. */
const MAP_BATCH = hex(
  "93 cb 3ff8000000000000", // [ts=1.5,
  "93" + MAP_STORED + MAP_REMOVED + MAP_CLEARED,
  "01", // data_parallel_rank 1]
);
/** The batch as a map too (the brief's description of the newer layout): accepted. */
const MAP_BATCH_AS_MAP = hex(
  "83",
  fixstr("ts") + "cb 3ff8000000000000",
  fixstr("events") + "93" + MAP_STORED + MAP_REMOVED + MAP_CLEARED,
  fixstr("data_parallel_rank") + "01",
);

describe("decodeEventBatch, golden bytes", () => {
  it("array_like batch → every field, uint64 hash exact, bytes hash, older array without lora_name", () => {
    const b = decodeEventBatch(ARRAY_BATCH);
    expect(b.ts).toBe(1.5);
    expect(b.dataParallelRank).toBe(0);
    expect(b.events).toEqual([
      {
        type: "BlockStored",
        blockHashes: [BIG, BYTES],
        parentBlockHash: null,
        tokenIds: [1, 255, 256, 65536],
        blockSize: 2,
        loraId: null,
        medium: "CPU",
        loraName: null,
      },
      {
        type: "BlockStored",
        blockHashes: [42n],
        parentBlockHash: BIG,
        tokenIds: [5, 6],
        blockSize: 2,
        loraId: 3,
        medium: null,
        loraName: null,
      },
      { type: "BlockRemoved", blockHashes: [BYTES], medium: "GPU" },
      { type: "AllBlocksCleared" },
    ]);
    const stored = b.events[0];
    expect(stored?.type === "BlockStored" && typeof stored.blockHashes[0]).toBe("bigint");
    // Small ints decode as bigint too.
    expect(b.events[1]?.type === "BlockStored" && b.events[1].blockHashes[0]).toBe(42n);
  });

  it.each([
    ["array", MAP_BATCH],
    ["map", MAP_BATCH_AS_MAP],
  ])("tagged_map events in a batch %s → every field", (_shape, bytes) => {
    const b = decodeEventBatch(bytes);
    expect(b).toEqual({
      ts: 1.5,
      dataParallelRank: 1,
      events: [
        {
          type: "BlockStored",
          blockHashes: [BIG, BYTES],
          parentBlockHash: BYTES,
          tokenIds: [1, 255, 256, 65536],
          blockSize: 2,
          loraId: 7,
          medium: "CPU",
          loraName: "ad",
        },
        { type: "BlockRemoved", blockHashes: [42n], medium: null },
        { type: "AllBlocksCleared" },
      ],
    });
  });

  it("encode writes the hand-built bytes exactly (array_like, tagged_map)", () => {
    const arrayBatch: EventBatch = {
      ts: 1.5,
      dataParallelRank: 0,
      events: [
        {
          type: "BlockStored",
          blockHashes: [BIG, BYTES],
          parentBlockHash: null,
          tokenIds: [1, 255, 256, 65536],
          blockSize: 2,
          loraId: null,
          medium: "CPU",
          loraName: null,
        },
        { type: "BlockRemoved", blockHashes: [BYTES], medium: "GPU" },
        { type: "AllBlocksCleared" },
      ],
    };
    expect(encodeEventBatch(arrayBatch, "array_like").toString("hex")).toBe(
      hex("93 cb 3ff8000000000000 93", ARRAY_STORED_CPU, ARRAY_REMOVED, ARRAY_CLEARED, "00").toString("hex"),
    );
    expect(encodeEventBatch(decodeEventBatch(MAP_BATCH), "tagged_map").toString("hex")).toBe(
      MAP_BATCH.toString("hex"),
    );
  });

  it("batch without data_parallel_rank (older vLLM: no such field) or nil → null", () => {
    expect(decodeEventBatch(hex("93 cb 3ff8000000000000 90 c0")).dataParallelRank).toBeNull();
    expect(decodeEventBatch(hex("92 cb 3ff8000000000000 90")).dataParallelRank).toBeNull();
    expect(decodeEventBatch(hex("82", fixstr("ts") + "01", fixstr("events") + "90"))).toEqual({
      ts: 1,
      events: [],
      dataParallelRank: null,
    });
  });

  it("extra trailing fields (extra_keys, group_idx, kv_cache_spec_*, newer batch fields) → ignored", () => {
    const stored = [
      "9c", // fixarray 12
      fixstr("BlockStored"),
      "91 01 c0 92 01 02 02 c0",
      fixstr("GPU"),
      "c0",
      "91 a1 78", // extra_keys ["x"]
      "00", // group_idx
      fixstr("full"),
      "c0",
    ].join("");
    const removed = ["94", fixstr("BlockRemoved"), "91 01", fixstr("GPU"), "03"].join("");
    const b = decodeEventBatch(hex("94 cb 3ff8000000000000 92", stored, removed, "00 c0"));
    expect(b.events).toEqual([
      {
        type: "BlockStored",
        blockHashes: [1n],
        parentBlockHash: null,
        tokenIds: [1, 2],
        blockSize: 2,
        loraId: null,
        medium: "GPU",
        loraName: null,
      },
      { type: "BlockRemoved", blockHashes: [1n], medium: "GPU" },
    ]);
    const mapWithExtra = hex(
      "84",
      fixstr("ts") + "00",
      fixstr("events") + "91",
      "83" +
        fixstr("type") +
        fixstr("BlockRemoved") +
        fixstr("block_hashes") +
        "91 01" +
        fixstr("group_idx") +
        "02",
      fixstr("data_parallel_rank") + "00",
      fixstr("future") + "c3",
    );
    expect(decodeEventBatch(mapWithExtra).events).toEqual([
      { type: "BlockRemoved", blockHashes: [1n], medium: null },
    ]);
  });

  it("negative int hashes (Python hash() in older vLLM) and offload stores (token_ids=[], block_size=0)", () => {
    const stored = [
      "98",
      fixstr("BlockStored"),
      "92 d3 8000000000000000 ff c0 90 00 c0",
      fixstr("CPU"),
      "c0",
    ].join("");
    const b = decodeEventBatch(hex("92 00 91", stored));
    expect(b.events[0]).toMatchObject({ blockHashes: [-(2n ** 63n), -1n], tokenIds: [], blockSize: 0 });
  });
});

/**
 * Bytes from msgspec 0.22 itself with vLLM's struct definitions (test/msgspec-vectors.py prints
 * them), so encoder and decoder are checked against the engine's own encoder, not only against
 * bytes written by the same hand as the code.
 */
const MSGSPEC = {
  ARRAY_LIKE_RANK_0:
    "93cb41da3054981000009498ab426c6f636b53746f72656492cffedcba9876543210c404deadbeefc09401ccffcd0100ce0001000002c0a3435055c098ab426c6f636b53746f726564912ac404deadbeef9205060207a3475055a2616493ac426c6f636b52656d6f766564912ac091b0416c6c426c6f636b73436c656172656400",
  TAGGED_MAP_RANK_NONE:
    "93cb41da3054981000009488a474797065ab426c6f636b53746f726564ac626c6f636b5f68617368657392cffedcba9876543210c404deadbeefb1706172656e745f626c6f636b5f68617368c0a9746f6b656e5f6964739401ccffcd0100ce00010000aa626c6f636b5f73697a6502a76c6f72615f6964c0a66d656469756da3435055a96c6f72615f6e616d65c088a474797065ab426c6f636b53746f726564ac626c6f636b5f686173686573912ab1706172656e745f626c6f636b5f68617368c404deadbeefa9746f6b656e5f696473920506aa626c6f636b5f73697a6502a76c6f72615f696407a66d656469756da3475055a96c6f72615f6e616d65a2616483a474797065ac426c6f636b52656d6f766564ac626c6f636b5f686173686573912aa66d656469756dc081a474797065b0416c6c426c6f636b73436c6561726564c0",
  // vLLM with extra_keys/group_idx: array events carry trailing nils (msgspec never thins an
  // array_like struct), map events carry group_idx only where it is set.
  ARRAY_LIKE_NEWER_FIELDS:
    "93cb41da305498100000949aab426c6f636b53746f72656492cffedcba9876543210c404deadbeefc09401ccffcd0100ce0001000002c0a3435055c0c0c09aab426c6f636b53746f726564912ac404deadbeef9205060207a3475055a26164c00194ac426c6f636b52656d6f766564912ac0c091b0416c6c426c6f636b73436c656172656403",
  TAGGED_MAP_NEWER_FIELDS:
    "93cb41da3054981000009488a474797065ab426c6f636b53746f726564ac626c6f636b5f68617368657392cffedcba9876543210c404deadbeefb1706172656e745f626c6f636b5f68617368c0a9746f6b656e5f6964739401ccffcd0100ce00010000aa626c6f636b5f73697a6502a76c6f72615f6964c0a66d656469756da3435055a96c6f72615f6e616d65c089a474797065ab426c6f636b53746f726564ac626c6f636b5f686173686573912ab1706172656e745f626c6f636b5f68617368c404deadbeefa9746f6b656e5f696473920506aa626c6f636b5f73697a6502a76c6f72615f696407a66d656469756da3475055a96c6f72615f6e616d65a26164a967726f75705f6964780183a474797065ac426c6f636b52656d6f766564ac626c6f636b5f686173686573912aa66d656469756dc081a474797065b0416c6c426c6f636b73436c656172656403",
};

function vectorBatch(rank: number | null): EventBatch {
  return {
    ts: 1757500000.25,
    dataParallelRank: rank,
    events: [
      {
        type: "BlockStored",
        blockHashes: [BIG, BYTES],
        parentBlockHash: null,
        tokenIds: [1, 255, 256, 65536],
        blockSize: 2,
        loraId: null,
        medium: "CPU",
        loraName: null,
      },
      {
        type: "BlockStored",
        blockHashes: [42n],
        parentBlockHash: BYTES,
        tokenIds: [5, 6],
        blockSize: 2,
        loraId: 7,
        medium: "GPU",
        loraName: "ad",
      },
      { type: "BlockRemoved", blockHashes: [42n], medium: null },
      { type: "AllBlocksCleared" },
    ],
  };
}

describe("msgspec's own bytes (vLLM's structs)", () => {
  it.each<[keyof typeof MSGSPEC, number | null]>([
    ["ARRAY_LIKE_RANK_0", 0],
    ["TAGGED_MAP_RANK_NONE", null],
    ["ARRAY_LIKE_NEWER_FIELDS", 3],
    ["TAGGED_MAP_NEWER_FIELDS", 3],
  ])("%s decodes to every field", (name, rank) => {
    expect(decodeEventBatch(Buffer.from(MSGSPEC[name], "hex"))).toEqual(vectorBatch(rank));
  });
  it("encode → msgspec's bytes exactly, both encodings", () => {
    expect(encodeEventBatch(vectorBatch(0), "array_like").toString("hex")).toBe(MSGSPEC.ARRAY_LIKE_RANK_0);
    expect(encodeEventBatch(vectorBatch(null), "tagged_map").toString("hex")).toBe(
      MSGSPEC.TAGGED_MAP_RANK_NONE,
    );
  });
});

describe("encode → decode round trip", () => {
  const batch: EventBatch = {
    ts: 1_765_000_000.123456,
    dataParallelRank: 3,
    events: [
      {
        type: "BlockStored",
        blockHashes: [0n, 2n ** 64n - 1n, -5n, Uint8Array.from({ length: 32 }, (_, i) => i)],
        parentBlockHash: 2n ** 63n,
        tokenIds: Array.from({ length: 64 }, (_, i) => i * 4099),
        blockSize: 16,
        loraId: 70000,
        medium: "GPU",
        loraName: "x".repeat(300),
      },
      { type: "BlockRemoved", blockHashes: Array.from({ length: 20 }, (_, i) => BigInt(i)), medium: "CPU" },
      { type: "AllBlocksCleared" },
    ],
  };
  it.each<EventEncoding>(["array_like", "tagged_map"])("%s → same batch", (encoding) => {
    expect(decodeEventBatch(encodeEventBatch(batch, encoding))).toEqual(batch);
  });
  it.each<EventEncoding>(["array_like", "tagged_map"])(
    "%s: whole ts still a float64, number hashes → bigint",
    (encoding) => {
      const bytes = encodeEventBatch(
        {
          ts: 2,
          dataParallelRank: null,
          events: [{ type: "BlockRemoved", blockHashes: [7, 2 ** 40], medium: null }],
        },
        encoding,
      );
      expect(bytes.includes(Buffer.from("cb4000000000000000", "hex"))).toBe(true);
      expect(decodeEventBatch(bytes)).toEqual({
        ts: 2,
        dataParallelRank: null,
        events: [{ type: "BlockRemoved", blockHashes: [7n, 2n ** 40n], medium: null }],
      });
    },
  );
});

describe("decodeEventBatch, malformed input → KvEventsDecodeError with a clear message", () => {
  const s = fixstr;
  const cases: [string, Buffer, RegExp][] = [
    ["truncated", ARRAY_BATCH.subarray(0, 20), /^payload is not valid msgpack/],
    ["trailing garbage", Buffer.concat([ARRAY_BATCH, hex("00")]), /^payload is not valid msgpack/],
    ["empty", Buffer.alloc(0), /^payload is not valid msgpack/],
    ["batch is a string", hex(s("hi")), /^batch is neither an array .* got "hi"/],
    ["batch array too short", hex("91 00"), /^batch must be \[ts, events/],
    ["ts NaN", hex("92 cb 7ff8000000000000 90"), /^batch\.ts is not a finite number \(got NaN\)$/],
    ["ts a string", hex("92", s("1"), "90"), /^batch\.ts is not a finite number/],
    ["events a map", hex("92 00 80"), /^batch\.events is not an array/],
    [
      "rank negative",
      hex("93 00 90 ff"),
      /^batch\.data_parallel_rank is not a non-negative integer \(got -1\)/,
    ],
    [
      "token_ids not an array",
      hex(
        "92 00 94 91",
        s("AllBlocksCleared"),
        "91",
        s("AllBlocksCleared"),
        "91",
        s("AllBlocksCleared"),
        "98",
        s("BlockStored"),
        "90 c0 01 02 c0 c0 c0",
      ),
      /^event 3: BlockStored\.token_ids is not an array \(got 1\)$/,
    ],
    [
      "negative token id",
      hex("92 00 91 98", s("BlockStored"), "91 01 c0 92 01 ff 02 c0 c0 c0"),
      /^event 0: BlockStored\.token_ids\[1\] is not a non-negative integer \(got -1\)$/,
    ],
    [
      "float token id",
      hex("92 00 91 98", s("BlockStored"), "91 01 c0 92 01 cb 3ff8000000000000 02 c0 c0 c0"),
      /token_ids\[1\] is not a non-negative integer \(got 1.5\)/,
    ],
    [
      "NaN block_size",
      hex("92 00 91 98", s("BlockStored"), "91 01 c0 92 01 02 cb 7ff8000000000000 c0 c0 c0"),
      /BlockStored\.block_size is not a non-negative integer \(got NaN\)/,
    ],
    [
      "float hash",
      hex("92 00 91 98", s("BlockStored"), "91 cb 3ff8000000000000 c0 90 02 c0 c0 c0"),
      /BlockStored\.block_hashes\[0\] is not an integer or bytes \(got 1.5\)/,
    ],
    [
      "string parent",
      hex("92 00 91 98", s("BlockStored"), "90", s("p"), "90 02 c0 c0 c0"),
      /BlockStored\.parent_block_hash is not an integer or bytes/,
    ],
    [
      "medium an int",
      hex("92 00 91 93", s("BlockRemoved"), "90 05"),
      /^event 0: BlockRemoved\.medium is not a string or nil \(got 5\)$/,
    ],
    [
      "lora_id negative",
      hex("92 00 91 98", s("BlockStored"), "90 c0 90 02 ff c0 c0"),
      /BlockStored\.lora_id is not a non-negative integer/,
    ],
    [
      "stored array too short",
      hex("92 00 91 93", s("BlockStored"), "90 c0"),
      /^event 0: BlockStored needs at least/,
    ],
    [
      "unknown array tag",
      hex("92 00 91 91", s("BlockMoved")),
      /^event 0: has an unknown tag .* \(got "BlockMoved"\)$/,
    ],
    ["unknown map tag", hex("92 00 91 81", s("type"), s("Nope")), /^event 0: has an unknown type tag/],
    ["event a number", hex("92 00 91 07"), /^event 0: is neither an array nor a map/],
    [
      "map event without parent_block_hash",
      hex(
        "92 00 91 84",
        s("type"),
        s("BlockStored"),
        s("block_hashes"),
        "90",
        s("token_ids"),
        "90",
        s("block_size"),
        "02",
      ),
      /^event 0: BlockStored\.parent_block_hash is missing$/,
    ],
    ["map batch without events", hex("81", s("ts"), "00"), /^batch\.events is not an array \(got nothing\)$/],
  ];
  it.each(cases)("%s", (_name, bytes, message) => {
    let caught: unknown;
    try {
      decodeEventBatch(bytes);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(KvEventsDecodeError);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).not.toContain("\n");
  });
});

describe("hashKey", () => {
  it.each<[bigint | number | Uint8Array, string]>([
    [0n, "0"],
    [BIG, "18364758544493064720"],
    [-3n, "-3"],
    [42, "42"],
    [BYTES, "0xdeadbeef"],
    [Buffer.from([0, 1]).subarray(1), "0x01"],
  ])("%s → %s", (h, want) => {
    expect(hashKey(h)).toBe(want);
  });
  it("a number and the same bigint share a key", () => {
    expect(hashKey(12345)).toBe(hashKey(12345n));
  });
});
