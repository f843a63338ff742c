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
