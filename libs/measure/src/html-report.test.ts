import { describe, expect, it } from "vitest";
import type { RequestRecord } from "./record";
import { buildCharts, cdfPoints, renderHtmlReport, timeSeries } from "./html-report";
import { SummaryAccumulator, type RecordColumns } from "./summary";
import { requestRecord } from "./testing";

const columns = (
  rows: { sent: number; end: number; ok?: boolean; completion?: number }[],
): RecordColumns => ({
  sent: rows.map((r) => r.sent),
  end: rows.map((r) => r.end),
  scheduled: rows.map((r) => r.sent),
  ttft: rows.map(() => 10),
  tpot: rows.map(() => 5),
  e2el: rows.map((r) => r.end - r.sent),
  completion: rows.map((r) => r.completion ?? 10),
  ok: rows.map((r) => r.ok ?? true),
});

describe("cdfPoints", () => {
  it("values -> ascending x, percentiles ending at 100", () => {
    const [x, y] = cdfPoints([3, 1, 2, 4]);
    expect(x).toEqual([1, 2, 3, 4]);
    expect(y).toEqual([25, 50, 75, 100]);
  });

  it("more values than points -> capped, still spanning min..max", () => {
    const [x, y] = cdfPoints(
      Array.from({ length: 10_000 }, (_, i) => i),
      100,
    );
    expect(x).toHaveLength(100);
    expect(x[0]).toBe(0);
    expect(x[99]).toBe(9999);
    expect(y[99]).toBe(100);
  });

  it("NaN (no TTFT) and empty -> skipped", () => expect(cdfPoints([NaN])).toEqual([[], []]));
});

describe("timeSeries", () => {
  it("two overlapping requests -> mean concurrency and throughput per 1 s bucket", () => {
    // A: 0-2000 ms, B: 500-1500 ms -> bucket 0: (1000 + 500) / 1000 = 1.5 in flight, bucket 1: 1.5.
    const ts = timeSeries(
      columns([
        { sent: 0, end: 2000, completion: 20 },
        { sent: 500, end: 1500, completion: 10 },
      ]),
      2,
    );
    expect(ts.bucketS).toBe(1);
    expect(ts.x).toEqual([0, 1]);
    expect(ts.concurrency).toEqual([1.5, 1.5]);
    // B completes in bucket 1 (1500 ms); A ends exactly at 2000 ms, the run's end: the last bucket.
    expect(ts.requestsPerS).toEqual([0, 2]);
    expect(ts.tokensPerS).toEqual([0, 30]);
  });

  it("400k requests (a simulated hour) -> no stack overflow, span from the last end", () => {
    const n = 400_000;
    const many = columns(
      Array.from({ length: n }, (_, i) => ({ sent: i * 9, end: i * 9 + 5, completion: 1 })),
    );
    const ts = timeSeries(many, 1);
    expect(ts.requestsPerS.reduce((a, b) => a + b, 0) * ts.bucketS).toBeCloseTo(n, -1);
  });

  it("failed requests -> concurrency yes, throughput no", () => {
    const ts = timeSeries(columns([{ sent: 0, end: 500, ok: false }]), 1);
    expect(ts.requestsPerS).toEqual([0]);
    expect(ts.concurrency).toEqual([0.5]);
  });
});

describe("renderHtmlReport", () => {
  const record = (i: number): RequestRecord =>
    requestRecord({
      request_id: `r${i}`,
      turn_index: i % 3,
      node_id: "",
      kv_tier: "",
      scheduled_ms: i * 100,
      sent_ms: i * 100,
      first_token_ms: i * 100 + 20,
      end_ms: i * 100 + 200,
      ttft_ms: 20,
      e2el_ms: 200,
      itl_ms: [10, 10],
      prompt_tokens: 10,
      completion_tokens: 3,
      cached_tokens: 0,
      token_count: 3,
      usage_source: "server",
      queue_time_ms: null,
      finish_reason: "length",
    });

  it("a run -> one self-contained page: uPlot inlined, nine charts, data that cannot close its script", () => {
    const acc = new SummaryAccumulator();
    for (let i = 0; i < 50; i++) acc.add(record(i));
    const summary = { ...acc.summary(5), run_id: "</script><b>x" };
    const html = renderHtmlReport(summary, acc.chartSource(5));
    expect(html.startsWith("<!doctype html>")).toBe(true);
    expect(html).toContain("uPlot");
    // Nothing loaded from elsewhere: no external scripts, stylesheets or images.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="https?:|<img[^>]+src="https?:/);
    // Seven from the records, two from the summary's by_turn_index (TTFT, cached share by turn).
    expect(html.match(/class="chart"/g)).toHaveLength(9);
    expect(html).toContain('id="turn-ttft"');
    expect(html).toContain('id="turn-cached"');
    // The run id is escaped in text and in JSON: exactly the page's own </script> tags remain.
    expect(html.match(/<\/script>/g)).toHaveLength(3);
    expect(buildCharts(acc.chartSource(5), 5).map((c) => c.id)).toEqual([
      "cdf-ttft",
      "cdf-tpot",
      "cdf-itl",
      "cdf-e2el",
      "latency-time",
      "throughput-time",
      "concurrency-time",
    ]);
  });
});
