/** What the run measured for one request. Times are ms since the run started. */
export interface RequestRecord {
  request_id: string;
  client_id: string;
  session_id: string;
  turn_index: number;
  profile: string;
  node_id: string;
  kv_tier: string;
  /** When the schedule said to send it. */
  scheduled_ms: number;
  sent_ms: number;
  /** sent - scheduled: how late the generator was (a saturated client shows here, not as latency). */
  schedule_lag_ms: number;
  first_token_ms: number | null;
  end_ms: number;
  ttft_ms: number | null;
  e2el_ms: number;
  /** (e2el - ttft) / (completion_tokens - 1); null with fewer than 2 tokens. */
  tpot_ms: number | null;
  /** Gaps between successive token events (ms). */
  itl_ms: number[];
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  /** Sum of Token events' token_count. */
  token_count: number;
  /**
   * "server": token counts from the server's usage; "client": counted locally (fallback, less
   * exact). Optional only so older record builders still type-check; the run loop always sets it.
   */
  usage_source?: "server" | "client";
  queue_time_ms: number | null;
  finish_reason: string | null;
  error: string | null;
  /** "chat" or "agent" (the plan's kind). Optional only so older record builders still type-check. */
  session_kind?: "chat" | "agent";
  /** Sub-agents: the session that spawned this one; null for top-level sessions. */
  parent_session_id?: string | null;
  /** Output tokens that were reasoning (server-marked, or inside a leading <think> block). */
  reasoning_tokens?: number;
  /** Time to first CONTENT token (ttft_ms counts a token of any kind); null if no content came. */
  ttfct_ms?: number | null;
  /** Agents: the tool call's latency this turn waited for (µs-exact, scaled); null if none. */
  tool_wait_ms?: number | null;
  /** Agents: time this turn waited for its sub-agents (from the spawn to the last one's end); null if none. */
  subagent_wait_ms?: number | null;
  /** Agents: sub-agents joined into this turn (0 if none). */
  fan_out?: number;
}

/**
 * One requests.jsonl line: the record, ITLs rounded to µs (they are most of the bytes), plus
 * `itl_count`. Hot path (one call per request): the record is stringified as is, with its ITL
 * array swapped for the rounded one, instead of copied into a new object first.
 */
export function requestLine(record: RequestRecord): string {
  const [head, tail] = requestLineParts(record);
  return head + tail;
}

/**
 * `requestLine` in two parts, for writers that encode them one after the other (no joined
 * string): the record's JSON without its closing `}`, then `itl_count` and the `}`.
 */
export function requestLineParts(record: RequestRecord): [string, string] {
  const raw = record.itl_ms;
  const itl = new Array<number>(raw.length);
  for (let i = 0; i < raw.length; i++) itl[i] = Math.round(raw[i]! * 1000) / 1000;
  record.itl_ms = itl;
  let json: string;
  try {
    json = JSON.stringify(record);
  } finally {
    record.itl_ms = raw;
  }
  return [json.slice(0, -1), itlCountTail(raw.length)];
}

/** What ends a requests.jsonl line after the record's fields. */
function itlCountTail(count: number): string {
  return `,"itl_count":${count}}`;
}

/**
 * One requests.jsonl line without the ITL gaps: the record's fields and `itl_count` only (the
 * simulator's lines; a simulated hour would otherwise write every gap).
 */
export function requestLineWithoutItl(record: RequestRecord): string {
  const [head, tail] = requestLineWithoutItlParts(record);
  return head + tail;
}

/** `requestLineWithoutItl` in two parts, as `requestLineParts`. */
export function requestLineWithoutItlParts(record: RequestRecord): [string, string] {
  const itl = record.itl_ms;
  // A record that already has `itl_count` (read back from a file) keeps that key's place.
  if (Object.hasOwn(record, "itl_count")) {
    const { itl_ms: _itl, ...line } = record;
    return [JSON.stringify({ ...line, itl_count: itl.length }), ""];
  }
  const json = jsonWithoutItl(record);
  return json.length > 2
    ? [json.slice(0, -1), itlCountTail(itl.length)]
    : ["{", `"itl_count":${itl.length}}`];
}

/** The record's JSON without its ITL gaps. */
function jsonWithoutItl(record: RequestRecord): string {
  // Hot path (one call per simulated request): JSON leaves out a key whose value is undefined,
  // so the record is stringified as is with its ITL array unset for the call, not copied into a
  // new object without it first (about 2.5 times as fast).
  const itl = record.itl_ms;
  (record as { itl_ms: number[] | undefined }).itl_ms = undefined;
  try {
    return JSON.stringify(record);
  } finally {
    record.itl_ms = itl;
  }
}

/**
 * The keys of a record as the load runner builds it, in its order (RequestRecord's). A record
 * with exactly these own keys, each value of its field's type, can be encoded straight into a
 * file's buffer (`encodeRequestLineWithoutItl`).
 */
export const REQUEST_RECORD_KEYS: readonly string[] = [
  "request_id",
  "client_id",
  "session_id",
  "turn_index",
  "profile",
  "node_id",
  "kv_tier",
  "scheduled_ms",
  "sent_ms",
  "schedule_lag_ms",
  "first_token_ms",
  "end_ms",
  "ttft_ms",
  "e2el_ms",
  "tpot_ms",
  "itl_ms",
  "prompt_tokens",
  "completion_tokens",
  "cached_tokens",
  "token_count",
  "usage_source",
  "queue_time_ms",
  "finish_reason",
  "error",
  "session_kind",
  "parent_session_id",
  "reasoning_tokens",
  "ttfct_ms",
  "tool_wait_ms",
  "subagent_wait_ms",
  "fan_out",
];

/** Bytes of everything in a line but its strings' characters: keys, punctuation, 31 numbers. */
const LINE_BYTES_BUT_STRINGS = 2048;

/**
 * Writes `requestLineWithoutItl(record)`'s text as UTF-8 into `out` from `at`, byte for byte the
 * same, without making the string (the simulator's hot path: JSON.stringify, then encoding its
 * result, cost four times as much); returns the end. Returns -1, having written nothing that
 * counts, when the record is not of the load runner's shape (other keys, or a value not of its
 * field's type: JSON.stringify has its own rules for those) or when the line might not fit in
 * `out`.
 */
export function encodeRequestLineWithoutItl(record: RequestRecord, out: Uint8Array, at: number): number {
  const r = record;
  if (!hasRecordKeys(r)) return -1;
  if (!(
    typeof r.request_id === "string" &&
    typeof r.client_id === "string" &&
    typeof r.session_id === "string" &&
    typeof r.turn_index === "number" &&
    typeof r.profile === "string" &&
    typeof r.node_id === "string" &&
    typeof r.kv_tier === "string" &&
    typeof r.scheduled_ms === "number" &&
    typeof r.sent_ms === "number" &&
    typeof r.schedule_lag_ms === "number" &&
    isNumberOrNull(r.first_token_ms) &&
    typeof r.end_ms === "number" &&
    isNumberOrNull(r.ttft_ms) &&
    typeof r.e2el_ms === "number" &&
    isNumberOrNull(r.tpot_ms) &&
    Array.isArray(r.itl_ms) &&
    typeof r.prompt_tokens === "number" &&
    typeof r.completion_tokens === "number" &&
    typeof r.cached_tokens === "number" &&
    typeof r.token_count === "number" &&
    typeof r.usage_source === "string" &&
    isNumberOrNull(r.queue_time_ms) &&
    isStringOrNull(r.finish_reason) &&
    isStringOrNull(r.error) &&
    typeof r.session_kind === "string" &&
    isStringOrNull(r.parent_session_id) &&
    typeof r.reasoning_tokens === "number" &&
    isNumberOrNull(r.ttfct_ms) &&
    isNumberOrNull(r.tool_wait_ms) &&
    isNumberOrNull(r.subagent_wait_ms) &&
    typeof r.fan_out === "number"
  ))
    return -1;
  const chars =
    r.request_id.length +
    r.client_id.length +
    r.session_id.length +
    r.profile.length +
    r.node_id.length +
    r.kv_tier.length +
    r.usage_source.length +
    (r.finish_reason?.length ?? 0) +
    (r.error?.length ?? 0) +
    r.session_kind.length +
    (r.parent_session_id?.length ?? 0);
  // A character takes at most 6 bytes in JSON's UTF-8 ("\u001f"; a surrogate pair is 4 bytes).
  if (LINE_BYTES_BUT_STRINGS + 6 * chars >= out.length - at) return -1;
  const k = KEY_BYTES;
  const v = viewOf(out);
  at = writeString(r.request_id, out, key(k.request_id, v, at));
  at = writeString(r.client_id, out, key(k.client_id, v, at));
  at = writeString(r.session_id, out, key(k.session_id, v, at));
  at = writeNumber(r.turn_index, out, key(k.turn_index, v, at));
  at = writeString(r.profile, out, key(k.profile, v, at));
  at = writeString(r.node_id, out, key(k.node_id, v, at));
  at = writeString(r.kv_tier, out, key(k.kv_tier, v, at));
  at = writeNumber(r.scheduled_ms, out, key(k.scheduled_ms, v, at));
  at = writeNumber(r.sent_ms, out, key(k.sent_ms, v, at));
  at = writeNumber(r.schedule_lag_ms, out, key(k.schedule_lag_ms, v, at));
  at = writeNumberOrNull(r.first_token_ms, out, key(k.first_token_ms, v, at));
  at = writeNumber(r.end_ms, out, key(k.end_ms, v, at));
  at = writeNumberOrNull(r.ttft_ms, out, key(k.ttft_ms, v, at));
  at = writeNumber(r.e2el_ms, out, key(k.e2el_ms, v, at));
  at = writeNumberOrNull(r.tpot_ms, out, key(k.tpot_ms, v, at));
  at = writeNumber(r.prompt_tokens, out, key(k.prompt_tokens, v, at));
  at = writeNumber(r.completion_tokens, out, key(k.completion_tokens, v, at));
  at = writeNumber(r.cached_tokens, out, key(k.cached_tokens, v, at));
  at = writeNumber(r.token_count, out, key(k.token_count, v, at));
  at = writeString(r.usage_source, out, key(k.usage_source, v, at));
  at = writeNumberOrNull(r.queue_time_ms, out, key(k.queue_time_ms, v, at));
  at = writeStringOrNull(r.finish_reason, out, key(k.finish_reason, v, at));
  at = writeStringOrNull(r.error, out, key(k.error, v, at));
  at = writeString(r.session_kind, out, key(k.session_kind, v, at));
  at = writeStringOrNull(r.parent_session_id, out, key(k.parent_session_id, v, at));
  at = writeNumber(r.reasoning_tokens, out, key(k.reasoning_tokens, v, at));
  at = writeNumberOrNull(r.ttfct_ms, out, key(k.ttfct_ms, v, at));
  at = writeNumberOrNull(r.tool_wait_ms, out, key(k.tool_wait_ms, v, at));
  at = writeNumberOrNull(r.subagent_wait_ms, out, key(k.subagent_wait_ms, v, at));
  at = writeNumber(r.fan_out, out, key(k.fan_out, v, at));
  at = writeNumber(r.itl_ms.length, out, key(k.itl_count, v, at));
  out[at++] = 0x7d; // }
  return at;
}

function hasRecordKeys(record: RequestRecord): boolean {
  // for-in walks the object's cached key list without copying it (Object.keys makes an array per
  // call); it also lists inherited enumerable keys, which JSON.stringify would not write: such a
  // record fails this check and goes through JSON.stringify.
  let i = 0;
  for (const key in record) if (key !== REQUEST_RECORD_KEYS[i++]) return false;
  return i === REQUEST_RECORD_KEYS.length;
}

function isNumberOrNull(v: unknown): v is number | null {
  return v === null || typeof v === "number";
}

function isStringOrNull(v: unknown): v is string | null {
  return v === null || typeof v === "string";
}

/** ASCII text as little-endian 32-bit words and the 0-3 bytes after them. */
interface PackedText {
  readonly words: Int32Array;
  readonly tail: Uint8Array;
}

function packed(text: string): PackedText {
  const bytes = Buffer.from(text, "latin1");
  const words = new Int32Array(bytes.length >> 2);
  for (let i = 0; i < words.length; i++) words[i] = bytes.readInt32LE(4 * i);
  return { words, tail: bytes.subarray(4 * words.length) };
}

/** What comes before each value: `{"request_id":`, then `,"client_id":` and so on. */
const KEY_BYTES = Object.fromEntries(
  [...REQUEST_RECORD_KEYS.filter((key) => key !== "itl_ms"), "itl_count"].map((key, i) => [
    key,
    packed(`${i === 0 ? "{" : ","}${JSON.stringify(key)}:`),
  ]),
) as Record<Exclude<keyof RequestRecord, "itl_ms"> | "itl_count", PackedText>;

/** A DataView on each buffer written into (made once per buffer). */
const views = new WeakMap<Uint8Array, DataView>();

function viewOf(out: Uint8Array): DataView {
  let view = views.get(out);
  if (view === undefined) {
    view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    views.set(out, view);
  }
  return view;
}

/**
 * Writes a key (with the comma or brace before it), four bytes a store: most of a line's bytes
 * are its keys, and a store per byte cost three times as much.
 */
function key(text: PackedText, view: DataView, at: number): number {
  const words = text.words;
  for (let i = 0; i < words.length; i++, at += 4) view.setInt32(at, words[i]!, true);
  const tail = text.tail;
  for (let i = 0; i < tail.length; i++) view.setUint8(at++, tail[i]!);
  return at;
}

/** Writes an ASCII string's characters, one byte each. */
function ascii(text: string, out: Uint8Array, at: number): number {
  for (let i = 0; i < text.length; i++) out[at++] = text.charCodeAt(i);
  return at;
}

/** A string as JSON writes it: quoted, escaped, UTF-8. */
function writeString(text: string, out: Uint8Array, at: number): number {
  out[at] = 0x22; // "
  let end = at + 1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // Escaped (quote, backslash, control characters, lone surrogates) or more than one byte:
    // JSON.stringify and the UTF-8 encoder write this string.
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7f) return utf8(JSON.stringify(text), out, at);
    out[end++] = c;
  }
  out[end++] = 0x22;
  return end;
}

function writeStringOrNull(text: string | null, out: Uint8Array, at: number): number {
  return text === null ? ascii("null", out, at) : writeString(text, out, at);
}

const encoder = new TextEncoder();

function utf8(text: string, out: Uint8Array, at: number): number {
  return at + encoder.encodeInto(text, out.subarray(at)).written;
}

function writeNumberOrNull(v: number | null, out: Uint8Array, at: number): number {
  return v === null ? ascii("null", out, at) : writeNumber(v, out, at);
}

/**
 * A number as JSON writes it (a non-finite one as null). Run times are whole microseconds in
 * ms (k / 1000) and counts are integers: such a number's shortest round-trip digits, which JSON
 * writes, are k's own digits with the point put in (k has at most 15 digits, and two decimals of
 * at most 15 significant digits are never the same double), so it is written from its integer
 * part and its thousandths without the general double-to-text conversion.
 */
function writeNumber(v: number, out: Uint8Array, at: number): number {
  if (v >= 0 && v < 1e9) {
    const k = Math.round(v * 1000);
    if (k / 1000 === v) {
      const whole = Math.floor(v);
      at = writeDigits(whole, out, at);
      const f = k - whole * 1000;
      if (f === 0) return at;
      // Thousandths without trailing zeros: 500 -> ".5", 50 -> ".05", 5 -> ".005".
      const d1 = (f / 100) | 0;
      const d2 = ((f / 10) | 0) % 10;
      const d3 = f % 10;
      out[at++] = 0x2e; // .
      out[at++] = 0x30 + d1;
      if (d2 !== 0 || d3 !== 0) out[at++] = 0x30 + d2;
      if (d3 !== 0) out[at++] = 0x30 + d3;
      return at;
    }
  }
  return ascii(Number.isFinite(v) ? String(v) : "null", out, at);
}

/** The decimal digits of an integer in [0, 1e9). */
function writeDigits(n: number, out: Uint8Array, at: number): number {
  let digits = 1;
  for (let p = 10; p <= n; p *= 10) digits++;
  const end = at + digits;
  for (let i = end - 1; i >= at; i--) {
    const q = (n / 10) | 0;
    out[i] = 0x30 + n - q * 10;
    n = q;
  }
  return end;
}
