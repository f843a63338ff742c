import { describe, expect, it } from "vitest";
import type { RequestRecord } from "../domain";
import { buildSummary, formatSummaryTable, SummaryAccumulator, toJson } from "./report";

function record(over: Partial<RequestRecord>): RequestRecord {
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
    usage_source: "server",
    queue_time_ms: 1,
    finish_reason: "stop",
    error: null,
    ...over,
  };
}

describe("run summary", () => {
  const records = [
    record({ ttft_ms: 10, e2el_ms: 50 }),
    record({ ttft_ms: 30, e2el_ms: 70, itl_ms: [20, 20, 20, 20], tpot_ms: 20 }),
    record({ error: "UNAVAILABLE: down", ttft_ms: null, e2el_ms: 1, schedule_lag_ms: 4 }),
  ];
  const s = buildSummary(records, 2);

  it("completed and failed -> counted apart; failures excluded from latency and tokens", () => {
    expect(s).toMatchObject({ completed: 2, failed: 1, errors: { UNAVAILABLE: 1 } });
    expect(s.ttft_ms).toMatchObject({ count: 2, mean: 20, p50: 20 });
    expect(s.e2el_ms.mean).toBe(60);
    expect(s.total_completion_tokens).toBe(10);
    expect(s.total_cached_tokens).toBe(40);
  });

  it("throughput -> per second of run duration", () => {
    expect(s.request_throughput).toBe(1);
    expect(s.output_token_throughput).toBe(5);
    expect(s.total_token_throughput).toBe(105);
  });

  it("ITL -> pooled over all token gaps; schedule lag over every request", () => {
    expect(s.itl_ms).toMatchObject({ count: 8, mean: 15, min: 10, max: 20 });
    expect(s.schedule_lag_ms.max).toBe(4);
  });

  it("ITL reservoir full -> exact mean and count, percentiles from a uniform sample", () => {
    const acc = new SummaryAccumulator(1000, 1);
    for (let i = 0; i < 200; i++) acc.add(record({ itl_ms: Array.from({ length: 100 }, (_, k) => k) }));
    const itl = acc.summary(1).itl_ms;
    expect(itl.count).toBe(20_000);
    expect(itl.mean).toBeCloseTo(49.5, 10);
    expect(Math.abs(itl.p50 - 49.5)).toBeLessThan(5);
    expect(Math.abs(itl.p90 - 89.1)).toBeLessThan(5);
  });

  it("table and JSON -> every headline figure present; NaN becomes null", () => {
    const table = formatSummaryTable(s);
    expect(table).toMatch(/Successful requests:\s+2\n/);
    expect(table).toMatch(/Failed requests:\s+1\n/);
    expect(table).toMatch(/Mean TTFT \(ms\):\s+20\.00\n/);
    expect(table).toMatch(/P99 E2EL \(ms\):\s+69\.80\n/);
    expect(JSON.parse(toJson(buildSummary([], 1))).ttft_ms.mean).toBeNull();
  });

  it("two profiles -> per-profile counts and latencies beside the totals", () => {
    const mixed = buildSummary(
      [
        record({ profile: "a", ttft_ms: 10 }),
        record({ profile: "b", ttft_ms: 30 }),
        record({ profile: "b", ttft_ms: 50 }),
      ],
      1,
    );
    expect(Object.keys(mixed.by_profile!)).toEqual(["a", "b"]);
    expect(mixed.by_profile!.a).toMatchObject({ completed: 1, ttft_ms: { mean: 10 } });
    expect(mixed.by_profile!.b).toMatchObject({ completed: 2, ttft_ms: { mean: 40 } });
    expect(formatSummaryTable(mixed)).toMatch(/Profile b[\s\S]*Mean TTFT \(ms\):\s+40\.00\n/);
    expect(formatSummaryTable(s)).not.toMatch(/Profile/);
  });
});
