import type { RequestRecord } from "./record";

/**
 * A request record for tests (`@symphony/measure/testing`): a successful 5-token turn sent at
 * 0 ms (TTFT 10 ms, 10 ms between tokens, done at 50 ms), with `overrides` on top. Only the
 * required fields are set, so a test that leaves the optional ones out gets a record without
 * them. Arrays are new on each call (requestLine rewrites `itl_ms` in place).
 */
export function requestRecord(overrides: Partial<RequestRecord> = {}): RequestRecord {
  return {
    request_id: "r",
    client_id: "c",
    session_id: "s",
    turn_index: 0,
    profile: "p",
    node_id: "n",
    kv_tier: "new",
    scheduled_ms: 0,
    sent_ms: 0,
    schedule_lag_ms: 0,
    first_token_ms: 10,
    end_ms: 50,
    ttft_ms: 10,
    e2el_ms: 50,
    tpot_ms: 10,
    itl_ms: [10, 10, 10, 10],
    prompt_tokens: 100,
    completion_tokens: 5,
    cached_tokens: 20,
    token_count: 5,
    queue_time_ms: 1,
    finish_reason: "stop",
    error: null,
    ...overrides,
  };
}
