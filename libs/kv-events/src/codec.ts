/**
 * The msgpack payload of vLLM's KV-event messages, both encodings (see README.md, "The wire").
 *
 * Encoding follows msgspec's layout (vllm/distributed/kv_events.py: structs with
 * `omit_defaults=True`, events `tag=True`, tag field "type" = class name). Decoding accepts both
 * encodings, validates every field, and reports one clear line per problem.
 */
import { Unpackr } from "msgpackr";
import { MsgpackWriter } from "./msgpack-writer";
import type {
  BlockHashInput,
  BlockRemoved,
  BlockStored,
  EventBatch,
  EventBatchInput,
  EventEncoding,
  ExternalBlockHash,
  KvCacheEvent,
  KvCacheEventInput,
} from "./types";

/** A payload that is not a valid vLLM `KVEventBatch`; the message says which field and why. */
export class KvEventsDecodeError extends Error {
  override name = "KvEventsDecodeError";
}

/** Canonical map key of a block hash: ints in decimal, bytes as "0x" + hex. */
export function hashKey(h: ExternalBlockHash | number): string {
  if (typeof h === "bigint" || typeof h === "number") return h.toString(10);
  return "0x" + Buffer.from(h.buffer, h.byteOffset, h.byteLength).toString("hex");
}

// --- encoding ---------------------------------------------------------------------------------

/**
 * One `KVEventBatch` byte for byte as vLLM's msgspec encoder writes it: the batch an array
 * `[ts, events, data_parallel_rank]`, events positional arrays ("array_like") or maps tagged by
 * "type" ("tagged_map"). Hashes may be bigint, safe-integer numbers or bytes; ints go out in their
 * smallest msgpack form (uint64 above int64's range), `ts` always as float64.
 */
export function encodeEventBatch(batch: EventBatchInput, encoding: EventEncoding): Buffer {
  if (encoding !== "array_like" && encoding !== "tagged_map") {
    throw new TypeError(`unknown event encoding ${JSON.stringify(encoding)}`);
  }
  const w = new MsgpackWriter(64 + batch.events.length * 64);
  // vLLM's EventBatch is array_like in both encodings (only the event structs changed to tagged
  // maps), and msgspec writes every field of an array_like struct: a null rank is nil, not absent.
  w.arrayHeader(3);
  w.float64(batch.ts);
  w.arrayHeader(batch.events.length);
  if (encoding === "array_like") for (const e of batch.events) writeEventArray(w, e);
  else for (const e of batch.events) writeEventMap(w, e);
  if (batch.dataParallelRank === null) w.nil();
  else w.int(batch.dataParallelRank);
  return w.finish();
}

function writeHash(w: MsgpackWriter, h: BlockHashInput): void {
  if (typeof h === "bigint") w.bigint(h);
  else if (typeof h === "number") w.int(h);
  else w.bin(h);
}

function writeHashes(w: MsgpackWriter, hashes: readonly BlockHashInput[]): void {
  w.arrayHeader(hashes.length);
  for (const h of hashes) writeHash(w, h);
}

function writeNullableHash(w: MsgpackWriter, h: BlockHashInput | null): void {
  if (h === null) w.nil();
  else writeHash(w, h);
}

function writeNullableInt(w: MsgpackWriter, v: number | null): void {
  if (v === null) w.nil();
  else w.int(v);
}

function writeNullableStr(w: MsgpackWriter, v: string | null): void {
  if (v === null) w.nil();
  else w.str(v);
}

function writeTokens(w: MsgpackWriter, tokens: readonly number[]): void {
  w.arrayHeader(tokens.length);
  for (const t of tokens) w.int(t);
}

function writeEventArray(w: MsgpackWriter, e: KvCacheEventInput): void {
  switch (e.type) {
    case "BlockStored":
      w.arrayHeader(8);
      w.str("BlockStored");
      writeHashes(w, e.blockHashes);
      writeNullableHash(w, e.parentBlockHash);
      writeTokens(w, e.tokenIds);
      w.int(e.blockSize);
      writeNullableInt(w, e.loraId);
      writeNullableStr(w, e.medium);
      writeNullableStr(w, e.loraName);
      return;
    case "BlockRemoved":
      w.arrayHeader(3);
      w.str("BlockRemoved");
      writeHashes(w, e.blockHashes);
      writeNullableStr(w, e.medium);
      return;
    case "AllBlocksCleared":
      w.arrayHeader(1);
      w.str("AllBlocksCleared");
      return;
    default:
      throw new TypeError(`unknown event type ${JSON.stringify((e as { type: unknown }).type)}`);
  }
}

function writeEventMap(w: MsgpackWriter, e: KvCacheEventInput): void {
  switch (e.type) {
    case "BlockStored":
      w.mapHeader(8);
      w.str("type");
      w.str("BlockStored");
      w.str("block_hashes");
      writeHashes(w, e.blockHashes);
      w.str("parent_block_hash");
      writeNullableHash(w, e.parentBlockHash);
      w.str("token_ids");
      writeTokens(w, e.tokenIds);
      w.str("block_size");
      w.int(e.blockSize);
      w.str("lora_id");
      writeNullableInt(w, e.loraId);
      w.str("medium");
      writeNullableStr(w, e.medium);
      w.str("lora_name");
      writeNullableStr(w, e.loraName);
      return;
    case "BlockRemoved":
      w.mapHeader(3);
      w.str("type");
      w.str("BlockRemoved");
      w.str("block_hashes");
      writeHashes(w, e.blockHashes);
      w.str("medium");
      writeNullableStr(w, e.medium);
      return;
    case "AllBlocksCleared":
      w.mapHeader(1);
      w.str("type");
      w.str("AllBlocksCleared");
      return;
    default:
      throw new TypeError(`unknown event type ${JSON.stringify((e as { type: unknown }).type)}`);
  }
}

// --- decoding ---------------------------------------------------------------------------------

const unpackr = new Unpackr({
  int64AsType: "bigint", // uint64 block hashes above 2^53 stay exact
  mapsAsObjects: true,
  useRecords: false,
  copyBuffers: true, // bytes hashes outlive the ZMQ frame they came in
});

/**
 * Decodes one `KVEventBatch` payload in either encoding. Each event may be an array (array_like)
 * or a tagged map; the batch may be an array (what vLLM sends) or a map (accepted too). Trailing
 * fields a newer vLLM adds are ignored, ones an older vLLM lacks read as null. Throws
 * {@link KvEventsDecodeError} naming the bad field.
 */
export function decodeEventBatch(payload: Uint8Array): EventBatch {
  let raw: unknown;
  try {
    raw = unpackr.unpack(payload);
  } catch (err) {
    throw new KvEventsDecodeError(`payload is not valid msgpack (${(err as Error).message})`);
  }
  if (Array.isArray(raw)) return decodeBatchArray(raw);
  if (isMap(raw)) return decodeBatchMap(raw);
  throw new KvEventsDecodeError(
    `batch is neither an array (array_like) nor a map (tagged_map): got ${describe(raw)}`,
  );
}

function fail(where: string, what: string, got: unknown): never {
  throw new KvEventsDecodeError(`${where} ${what} (got ${describe(got)})`);
}

function describe(v: unknown): string {
  if (v === null) return "nil";
  if (v === undefined) return "nothing";
  if (typeof v === "bigint") return `${v}`;
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : `${v}`;
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  if (v instanceof Uint8Array) return `${v.length} bytes`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  if (typeof v === "object") return "a map";
  return typeof v;
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function field(m: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(m, key) ? m[key] : undefined;
}

function decodeBatchArray(a: unknown[]): EventBatch {
  if (a.length < 2) fail("batch", "must be [ts, events, data_parallel_rank?]", a);
  return {
    ts: readTs(a[0]),
    events: readEvents(a[1]),
    dataParallelRank: a.length > 2 ? readRank(a[2]) : null,
  };
}

function decodeBatchMap(m: Record<string, unknown>): EventBatch {
  return {
    ts: readTs(field(m, "ts")),
    events: readEvents(field(m, "events")),
    dataParallelRank: readRank(field(m, "data_parallel_rank")),
  };
}

function readTs(v: unknown): number {
  const n = typeof v === "bigint" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isFinite(n)) fail("batch.ts", "is not a finite number", v);
  return n;
}

function readRank(v: unknown): number | null {
  if (v === undefined || v === null) return null;
  return readUint(v, "batch.data_parallel_rank");
}

function readEvents(v: unknown): KvCacheEvent[] {
  if (!Array.isArray(v)) fail("batch.events", "is not an array", v);
  const out: KvCacheEvent[] = new Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = readEvent(v[i], i);
  return out;
}

const TAGS = ["BlockStored", "BlockRemoved", "AllBlocksCleared"];

function readEvent(v: unknown, i: number): KvCacheEvent {
  const where = `event ${i}:`;
  if (Array.isArray(v)) {
    const tag = v[0];
    if (tag === "BlockStored") {
      if (v.length < 6)
        fail(
          where,
          "BlockStored needs at least [tag, block_hashes, parent_block_hash, token_ids, block_size, lora_id]",
          v,
        );
      return blockStored(`${where} BlockStored.`, v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
    }
    if (tag === "BlockRemoved") {
      if (v.length < 2) fail(where, "BlockRemoved needs at least [tag, block_hashes]", v);
      return blockRemoved(`${where} BlockRemoved.`, v[1], v[2]);
    }
    if (tag === "AllBlocksCleared") return { type: "AllBlocksCleared" };
    fail(where, `has an unknown tag (known: ${TAGS.join(", ")})`, tag);
  }
  if (isMap(v)) {
    const tag = field(v, "type");
    if (tag === "BlockStored") {
      const p = `${where} BlockStored.`;
      return blockStored(
        p,
        field(v, "block_hashes"),
        required(v, "parent_block_hash", p),
        field(v, "token_ids"),
        field(v, "block_size"),
        field(v, "lora_id"),
        field(v, "medium"),
        field(v, "lora_name"),
      );
    }
    if (tag === "BlockRemoved")
      return blockRemoved(`${where} BlockRemoved.`, field(v, "block_hashes"), field(v, "medium"));
    if (tag === "AllBlocksCleared") return { type: "AllBlocksCleared" };
    fail(where, `has an unknown type tag (known: ${TAGS.join(", ")})`, tag);
  }
  fail(where, "is neither an array nor a map", v);
}

/** A field msgspec always writes (no default): absent means a malformed event, unlike nil. */
function required(m: Record<string, unknown>, key: string, prefix: string): unknown {
  if (!Object.prototype.hasOwnProperty.call(m, key))
    throw new KvEventsDecodeError(`${prefix}${key} is missing`);
  return m[key];
}

function blockStored(
  p: string,
  hashes: unknown,
  parent: unknown,
  tokens: unknown,
  blockSize: unknown,
  loraId: unknown,
  medium: unknown,
  loraName: unknown,
): BlockStored {
  return {
    type: "BlockStored",
    blockHashes: readHashes(hashes, `${p}block_hashes`),
    parentBlockHash: parent === null ? null : readHash(parent, `${p}parent_block_hash`),
    tokenIds: readTokens(tokens, `${p}token_ids`),
    // 0 is legal: vLLM's offloading connector sends block_size=0 with token_ids=[] for CPU stores.
    blockSize: readUint(blockSize, `${p}block_size`),
    loraId: loraId === null || loraId === undefined ? null : readUint(loraId, `${p}lora_id`),
    medium: readNullableStr(medium, `${p}medium`),
    loraName: readNullableStr(loraName, `${p}lora_name`),
  };
}

function blockRemoved(p: string, hashes: unknown, medium: unknown): BlockRemoved {
  return {
    type: "BlockRemoved",
    blockHashes: readHashes(hashes, `${p}block_hashes`),
    medium: readNullableStr(medium, `${p}medium`),
  };
}

function readHashes(v: unknown, where: string): ExternalBlockHash[] {
  if (!Array.isArray(v)) fail(where, "is not an array", v);
  const out: ExternalBlockHash[] = new Array(v.length);
  for (let j = 0; j < v.length; j++) out[j] = readHash(v[j], `${where}[${j}]`);
  return out;
}

function readHash(v: unknown, where: string): ExternalBlockHash {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v)) fail(where, "is not an integer or bytes", v);
    return BigInt(v);
  }
  // A plain Uint8Array view of msgpackr's (already copied) Buffer: one type for consumers and tests.
  if (v instanceof Uint8Array)
    return Buffer.isBuffer(v) ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : v;
  fail(where, "is not an integer or bytes", v);
}

function readTokens(v: unknown, where: string): number[] {
  if (!Array.isArray(v)) fail(where, "is not an array", v);
  for (let j = 0; j < v.length; j++) {
    const t = v[j];
    if (typeof t === "number" && Number.isSafeInteger(t) && t >= 0) continue;
    if (typeof t === "bigint" && t >= 0n && t <= BigInt(Number.MAX_SAFE_INTEGER)) {
      v[j] = Number(t);
      continue;
    }
    fail(`${where}[${j}]`, "is not a non-negative integer", t);
  }
  return v as number[];
}

function readUint(v: unknown, where: string): number {
  const n = typeof v === "bigint" && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0)
    fail(where, "is not a non-negative integer", v);
  return n;
}

function readNullableStr(v: unknown, where: string): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "string") fail(where, "is not a string or nil", v);
  return v;
}
