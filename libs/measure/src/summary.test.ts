import { rngFor } from "@symphony/common";
import { describe, expect, it } from "vitest";
import type { RequestRecord } from "./record";
import { requestRecord } from "./testing";
import { ReservoirSampler, summarize, type MetricSummary } from "./stats";
import { buildCharts, cdfPoints, renderHtmlReport, timeSeries } from "./html-report";
import { buildSummary, formatSummaryTable, summaryCsv, SummaryAccumulator, toJson } from "./summary";

function record(over: Partial<RequestRecord>): RequestRecord {
  return requestRecord({ usage_source: "server", ...over });
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

  it("ITL reservoir replacing at random slots, failed and windowed-out requests -> the sample a plain reservoir of (gap, request) keeps", () => {
    const size = 300;
    const seed = 7;
    const acc = new SummaryAccumulator(size, seed, true, { warmupS: 1 });
    // The reference: the same sampler over the same stream, gaps and request indices in two arrays.
    const sampler = new ReservoirSampler(size, rngFor(seed, "workloadgen.itl-reservoir"));
    const kept: number[] = [];
    const keptRequest: number[] = [];
    const sentMs: number[] = [];
    const failed: boolean[] = [];
    const rng = rngFor(3, "test");
    for (let i = 0; i < 400; i++) {
      const gaps = Array.from({ length: Math.floor(rng.next() * 30) }, () => rng.next() * 50);
      const r = record({
        sent_ms: i * 5,
        end_ms: i * 5 + 50,
        itl_ms: gaps,
        error: i % 17 === 0 ? "X: y" : null,
      });
      acc.add(r);
      sentMs.push(r.sent_ms);
      failed.push(r.error !== null);
      sampler.offerMany(gaps.length, (slot, k) => {
        kept[slot] = gaps[k]!;
        keptRequest[slot] = i;
      });
    }
    const inWindow = kept.filter((_, k) => sentMs[keptRequest[k]!]! >= 1000 && !failed[keptRequest[k]!]);
    const itl = acc.summary(2).itl_ms;
    const expected = summarize(inWindow);
    for (const stat of ["min", "p50", "p90", "p99", "max", "std"] as const)
      expect(itl[stat]).toBe(expected[stat]);
    const charts = acc.chartSource(2);
    expect(charts.kind === "records" && charts.itlSample).toEqual(kept);
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

describe("run summary, live-run fields", () => {
  it("p99.9 -> interpolated like the other percentiles", () => {
    const s = buildSummary(
      Array.from({ length: 1001 }, (_, i) => record({ ttft_ms: i })),
      1,
    );
    expect(s.ttft_ms.p999).toBeCloseTo(999, 10);
    expect(s.ttft_ms.p99).toBeCloseTo(990, 10);
  });

  it("SLOs -> goodput counts completed requests meeting every SLO; violations per metric", () => {
    const s = buildSummary(
      [
        record({ ttft_ms: 100, tpot_ms: 10, e2el_ms: 500 }),
        record({ ttft_ms: 900, tpot_ms: 10, e2el_ms: 500 }), // TTFT too slow
        record({ ttft_ms: 100, tpot_ms: 80, e2el_ms: 500 }), // TPOT too slow
        record({ ttft_ms: 100, tpot_ms: null, e2el_ms: 200 }), // one token: no TPOT to violate
        record({ error: "UNAVAILABLE: x", ttft_ms: null }),
      ],
      2,
      { slo: { ttft: 500, tpot: 50 } },
    );
    expect(s.goodput).toEqual({
      slo_ms: { ttft: 500, tpot: 50 },
      good_requests: 2,
      request_goodput: 1,
      good_fraction: 0.5,
      violations: { ttft: 1, tpot: 1, e2el: 0 },
    });
    expect(buildSummary([record({})], 1).goodput).toBeUndefined();
  });

  it("warm-up and cool-down -> requests sent in them excluded; throughput over the window", () => {
    const records = [0.5, 2, 3, 4, 9.5].map((t) => record({ sent_ms: t * 1000, ttft_ms: t }));
    const s = buildSummary(records, 10, { warmupS: 1, cooldownS: 2 });
    expect(s.completed).toBe(3);
    expect(s.ttft_ms.mean).toBe(3);
    expect(s.request_throughput).toBeCloseTo(3 / 7, 10);
    expect(s.window).toEqual({ warmup_s: 1, cooldown_s: 2, measured_s: 7, requests_excluded: 2 });
    expect(buildSummary(records, 10).window).toBeUndefined();
  });

  it("turn indices -> first vs later turns apart, with their prefix-cache hit fraction", () => {
    const s = buildSummary(
      [
        record({ turn_index: 0, ttft_ms: 100, prompt_tokens: 100, cached_tokens: 0 }),
        record({ turn_index: 1, ttft_ms: 20, prompt_tokens: 200, cached_tokens: 150 }),
        record({ turn_index: 12, ttft_ms: 10, prompt_tokens: 100, cached_tokens: 90 }),
      ],
      1,
    );
    const turns = s.by_turn_index as Record<
      string,
      { ttft_ms: { mean: number }; cached_token_fraction: number }
    >;
    expect(Object.keys(turns)).toEqual(["0", "1", "10+"]);
    expect(turns["0"]).toMatchObject({ ttft_ms: { mean: 100 }, cached_token_fraction: 0 });
    expect(turns["1"]!.cached_token_fraction).toBe(0.75);
    expect(formatSummaryTable(s)).toMatch(/Turn 1 \(1 ok\):\s+20\.00 \/ 75%/);
  });

  it("send rate -> requested from scheduled times, achieved from send times", () => {
    // Scheduled every 10 ms; the sends drift to every 20 ms (a saturated client).
    const s = buildSummary(
      [0, 1, 2, 3].map((k) => record({ scheduled_ms: k * 10, sent_ms: k * 20, schedule_lag_ms: k * 10 })),
      1,
    );
    expect(s.send_rate).toEqual({ requested_rps: 100, achieved_rps: 50 });
  });

  it("records counted by the client (no server usage) -> counted in the summary", () => {
    const s = buildSummary([record({ usage_source: "client" }), record({})], 1);
    expect(s.usage_client_counted).toBe(1);
    expect(formatSummaryTable(s)).toMatch(/Token counts by client \(no usage\):\s+1/);
  });

  it("summary.csv -> one row per value: scope, metric, stat", () => {
    const csv = summaryCsv(
      buildSummary([record({ profile: "chat, long", ttft_ms: 10 }), record({ error: "HTTP_503: x" })], 1, {
        slo: { ttft: 50 },
      }),
    ).split("\n");
    expect(csv[0]).toBe("scope,metric,stat,value");
    expect(csv).toContain("all,completed,value,1");
    expect(csv).toContain("all,ttft_ms,p50,10");
    expect(csv).toContain("all,ttft_ms,p999,10");
    expect(csv).toContain("all,errors,HTTP_503,1");
    expect(csv).toContain("goodput,good_requests,value,1");
    expect(csv).toContain('"profile:chat, long",ttft_ms,mean,10');
    expect(csv).toContain("turn:0,completed,value,1");
  });

  it("progress -> running counts and an approximate TTFT median", () => {
    const acc = new SummaryAccumulator();
    for (const t of [10, 20, 30, 40, 1000]) acc.add(record({ ttft_ms: t }));
    acc.add(record({ error: "X: y" }));
    const p = acc.progress;
    expect(p).toMatchObject({ completed: 5, failed: 1 });
    expect(Math.abs(p.ttftP50Ms - 30) / 30).toBeLessThan(0.02);
  });
});

describe("run summary, bounded memory", () => {
  /** A seeded run's records: two profiles, many turn indices, some failures, latencies with a tail. */
  function seededRecords(n: number, seed = 11): RequestRecord[] {
    const rng = rngFor(seed, "report.test.records");
    const out: RequestRecord[] = [];
    for (let i = 0; i < n; i++) {
      const sent = i * 10 + rng.next() * 5;
      const ttft = 20 * Math.exp(rng.next() * 3);
      const gaps = Array.from(
        { length: 1 + Math.floor(rng.next() * 6) },
        () => 5 + rng.next() * rng.next() * 40,
      );
      const e2el = ttft + gaps.reduce((a, b) => a + b, 0);
      const failed = rng.next() < 0.03;
      out.push(
        record({
          profile: rng.next() < 0.7 ? "chat" : "batch",
          turn_index: Math.floor(rng.next() * 14),
          scheduled_ms: sent - 0.5,
          sent_ms: sent,
          schedule_lag_ms: rng.next() < 0.5 ? 0 : rng.next() * 2,
          end_ms: sent + e2el,
          ttft_ms: failed ? null : ttft,
          e2el_ms: e2el,
          tpot_ms: failed ? null : (e2el - ttft) / gaps.length,
          itl_ms: gaps,
          completion_tokens: gaps.length + 1,
          prompt_tokens: 100 + Math.floor(rng.next() * 900),
          cached_tokens: Math.floor(rng.next() * 100),
          usage_source: rng.next() < 0.1 ? "client" : "server",
          error: failed ? "UNAVAILABLE: down" : null,
        }),
      );
    }
    return out;
  }

  const STATS = ["p50", "p90", "p95", "p99", "p999"] as const;
  function expectWithin1Percent(got: MetricSummary, want: MetricSummary, what: string) {
    expect(got.count, what).toBe(want.count);
    expect(got.min, what).toBe(want.min);
    expect(got.max, what).toBe(want.max);
    expect(got.mean, what).toBeCloseTo(want.mean, 6);
    for (const p of STATS)
      expect(Math.abs(got[p] - want[p]) / want[p], `${what} ${p}`).toBeLessThanOrEqual(0.01);
  }

  it.each([
    { window: "no window", opts: {} },
    {
      window: "warm-up, cool-down and SLOs",
      opts: { warmupS: 5, cooldownS: 7, slo: { ttft: 100, e2el: 300 } },
    },
  ])(
    "past exactRecords ($window) -> histograms: counts, sums and goodput exact, percentiles within 1 percent",
    ({ opts }) => {
      const records = seededRecords(6_000);
      const exact = buildSummary(records, 62, opts);
      const bounded = buildSummary(records, 62, { ...opts, exactRecords: 1_000 });
      expect(exact.percentiles).toBe("exact");
      expect(exact.itl_percentiles).toBe("exact");
      expect(bounded.percentiles).toBe("hdr(1%)");
      expect(bounded.itl_percentiles).toBe("hdr(1%)");
      for (const key of [
        "completed",
        "failed",
        "errors",
        "total_prompt_tokens",
        "total_completion_tokens",
        "total_cached_tokens",
        "usage_client_counted",
        "send_rate",
        "window",
        "goodput",
      ])
        expect(bounded[key], key).toEqual(exact[key]);
      expect(bounded.request_throughput).toBe(exact.request_throughput);
      expectWithin1Percent(bounded.ttft_ms, exact.ttft_ms, "ttft");
      expectWithin1Percent(bounded.tpot_ms, exact.tpot_ms, "tpot");
      expectWithin1Percent(bounded.itl_ms, exact.itl_ms, "itl");
      expectWithin1Percent(bounded.e2el_ms, exact.e2el_ms, "e2el");
      const groups = (s: typeof exact, key: "by_profile" | "by_turn_index") =>
        s[key] as Record<
          string,
          { completed: number; failed: number; ttft_ms: MetricSummary; cached_token_fraction: number }
        >;
      for (const key of ["by_profile", "by_turn_index"] as const) {
        expect(Object.keys(groups(bounded, key))).toEqual(Object.keys(groups(exact, key)));
        for (const [name, g] of Object.entries(groups(exact, key))) {
          const b = groups(bounded, key)[name]!;
          expect([b.completed, b.failed, b.cached_token_fraction]).toEqual([
            g.completed,
            g.failed,
            g.cached_token_fraction,
          ]);
          expectWithin1Percent(b.ttft_ms, g.ttft_ms, `${key} ${name} ttft`);
        }
      }
      expect(formatSummaryTable(bounded)).toMatch(/Percentiles \(from histograms\):\s+hdr\(1%\)/);
      expect(formatSummaryTable(exact)).not.toMatch(/Percentiles/);
    },
  );

  it("1e6 records -> the accumulator's state is histogram buckets and bins, not one entry per record", () => {
    // A 1 ms cool-down keeps the waiting-rows path in play too.
    const acc = new SummaryAccumulator(1_000_000, 0, true, { cooldownS: 1, exactRecords: 200_000 });
    const gaps = [4, 5, 6];
    const slotsAt: number[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      acc.add(
        record({
          sent_ms: i,
          end_ms: i + 50 + (i % 97),
          ttft_ms: 10 + (i % 89),
          e2el_ms: 50 + (i % 97),
          itl_ms: gaps,
          turn_index: i % 13,
          error: i % 101 === 0 ? "X: y" : null,
        }),
      );
      if (i === 100_000) expect(acc.footprint.records).toBe(100_001);
      if (i === 400_000 || i === 999_999) slotsAt.push(acc.footprint.slots);
    }
    const fp = acc.footprint;
    expect(acc.method).toBe("hdr(1%)");
    expect(fp.records).toBe(0);
    // A cool-down's worth of rows (1 s at 1 request/ms), swept in batches.
    expect(fp.pendingRows).toBeLessThan(2 * 1000 + 1024 + 1000);
    // Bounded: between 4e5 and 1e6 records only the time bins may grow (3 per bin, at most 1,200 bins).
    expect(fp.slots).toBeLessThan(100_000);
    expect(slotsAt[1]! - slotsAt[0]!).toBeLessThanOrEqual(3 * 1_200);
    const s = acc.summary(1_000_200 / 1000);
    expect(s.completed + s.failed + (s.window as { requests_excluded: number }).requests_excluded).toBe(
      1_000_000,
    );
    const charts = buildCharts(acc.chartSource(1_000.2), 1_000.2);
    for (const c of charts) expect(c.data[0]!.length).toBeLessThanOrEqual(4000);
  });

  it("bounded report data -> the same time series as every record gives, CDFs within 1%", () => {
    const records = seededRecords(3_000);
    const exact = new SummaryAccumulator();
    const bounded = new SummaryAccumulator(1_000_000, 0, true, { exactRecords: 0 });
    for (const r of records) {
      exact.add(r);
      bounded.add(r);
    }
    const e = exact.chartSource(31);
    const b = bounded.chartSource(31);
    if (e.kind !== "records" || b.kind !== "bounded") throw new Error("unexpected chart sources");
    expect(b.series).toEqual(timeSeries(e.columns, 31));
    const [x] = cdfPoints(e.columns.ttft.filter((_, i) => e.columns.ok[i]));
    expect(b.cdf.ttft[0]).toHaveLength(x.length);
    x.forEach((v, k) => expect(Math.abs(b.cdf.ttft[0][k]! - v) / v).toBeLessThanOrEqual(0.01));
    expect(b.scatter[0].length).toBe(records.filter((r) => r.error === null).length);
    const html = renderHtmlReport(bounded.summary(31), b);
    expect(html.match(/class="chart"/g)).toHaveLength(9); // 7 from the bounded data, 2 per turn index
  });
});
