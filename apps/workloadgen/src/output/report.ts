import { rngFor } from "@symphony/common";
import { ReservoirSampler, summarize, type MetricSummary, type RequestRecord } from "../domain";

/** Service-level objectives for goodput, in ms (as `vllm bench serve --goodput`). */
export interface Slo {
  ttft?: number;
  tpot?: number;
  e2el?: number;
}

/** What the accumulator needs beyond the records. */
export interface SummaryOptions {
  /** Goodput counts completed requests meeting every SLO given. */
  slo?: Slo;
  /** Requests SENT in the first `warmupS` / last `cooldownS` seconds are left out of the statistics. */
  warmupS?: number;
  cooldownS?: number;
}

/** Latency/throughput block of one group of requests (the whole run, one profile, one turn index). */
export interface GroupSummary {
  completed: number;
  failed: number;
  request_throughput: number;
  output_token_throughput: number;
  ttft_ms: MetricSummary;
  tpot_ms: MetricSummary;
  e2el_ms: MetricSummary;
  mean_prompt_tokens: number;
  /** Cached / prompt tokens over the group: the prefix-cache (KV reuse) hit rate. */
  cached_token_fraction: number;
}

/** The run's results, as written to summary.json. Latencies in ms. */
export interface RunSummary {
  completed: number;
  failed: number;
  duration_s: number;
  request_throughput: number;
  output_token_throughput: number;
  total_token_throughput: number;
  total_prompt_tokens: number;
  total_completion_tokens: number;
  total_cached_tokens: number;
  ttft_ms: MetricSummary;
  tpot_ms: MetricSummary;
  itl_ms: MetricSummary;
  e2el_ms: MetricSummary;
  schedule_lag_ms: MetricSummary;
  errors: Record<string, number>;
  /** Per client profile ("dataset" for closed loop, "trace" for replay). */
  by_profile?: Record<string, ProfileSummary>;
  [extra: string]: unknown;
}

/** The per-profile part of a summary. */
export type ProfileSummary = Pick<
  RunSummary,
  | "completed"
  | "failed"
  | "request_throughput"
  | "output_token_throughput"
  | "ttft_ms"
  | "tpot_ms"
  | "e2el_ms"
> &
  Partial<GroupSummary>;

/** Per-request columns kept for the statistics and the HTML report's charts (ms since run start). */
export interface RecordColumns {
  sent: number[];
  end: number[];
  scheduled: number[];
  ttft: number[];
  tpot: number[];
  e2el: number[];
  completion: number[];
  ok: boolean[];
}

/** Turn indices from this one up are pooled into one "N+" group. */
const TURN_GROUPS = 10;

/**
 * Builds the run summary one record at a time. Keeps a few numbers per request (so warm-up and
 * cool-down windows and per-profile/per-turn groups can be cut at the end) and, for
 * inter-token latencies (hundreds per request), a uniform reservoir of at most
 * `itlReservoirSize` gaps, so a 1-hour run stays small in memory. ITL means and counts are
 * exact; ITL percentiles come from the reservoir (exact until it fills).
 */
export class SummaryAccumulator {
  private readonly sent: number[] = [];
  private readonly end: number[] = [];
  private readonly lag: number[] = [];
  private readonly ttft: number[] = [];
  private readonly tpot: number[] = [];
  private readonly e2el: number[] = [];
  private readonly prompt: number[] = [];
  private readonly completion: number[] = [];
  private readonly cached: number[] = [];
  private readonly turn: number[] = [];
  private readonly profile: number[] = [];
  private readonly errorCode: number[] = [];
  private readonly clientCounted: boolean[] = [];
  private readonly itlSum: number[] = [];
  private readonly itlCount: number[] = [];
  private readonly profileNames: string[] = [];
  private readonly profileIndex = new Map<string, number>();
  private readonly errorNames: string[] = [];
  private readonly errorIndex = new Map<string, number>();
  /** ITL reservoir: gap values and the request each came from. */
  private readonly itl: number[] = [];
  private readonly itlRequest: number[] = [];
  private readonly itlSampler: ReservoirSampler;
  private okCount = 0;
  private failCount = 0;
  private readonly ttftHistogram = new LogHistogram();

  constructor(
    itlReservoirSize = 1_000_000,
    seed = 0,
    private readonly byProfile = true,
    private readonly options: SummaryOptions = {},
  ) {
    this.itlSampler = new ReservoirSampler(itlReservoirSize, rngFor(seed, "workloadgen.itl-reservoir"));
  }

  /** Requests added so far: completed, failed (cheap: for per-record checks). */
  get counts(): { completed: number; failed: number } {
    return { completed: this.okCount, failed: this.failCount };
  }

  /** Counts and the TTFT median so far (approximate, ±1%), for the progress display (a few times a second). */
  get progress(): { completed: number; failed: number; ttftP50Ms: number } {
    return { ...this.counts, ttftP50Ms: this.ttftHistogram.quantile(0.5) };
  }

  add(r: RequestRecord): void {
    const i = this.sent.length;
    this.sent.push(r.sent_ms);
    this.end.push(r.end_ms);
    this.lag.push(r.schedule_lag_ms);
    this.turn.push(r.turn_index);
    let p = this.profileIndex.get(r.profile);
    if (p === undefined) {
      p = this.profileNames.push(r.profile) - 1;
      this.profileIndex.set(r.profile, p);
    }
    this.profile.push(p);
    if (r.error !== null) {
      this.failCount++;
      const code = r.error.split(":")[0]!;
      let e = this.errorIndex.get(code);
      if (e === undefined) {
        e = this.errorNames.push(code) - 1;
        this.errorIndex.set(code, e);
      }
      this.errorCode.push(e);
    } else {
      this.okCount++;
      this.errorCode.push(-1);
      if (r.ttft_ms !== null) this.ttftHistogram.add(r.ttft_ms);
    }
    this.ttft.push(r.ttft_ms ?? NaN);
    this.tpot.push(r.tpot_ms ?? NaN);
    this.e2el.push(r.e2el_ms);
    this.prompt.push(r.prompt_tokens);
    this.completion.push(r.completion_tokens);
    this.cached.push(r.cached_tokens);
    this.clientCounted.push(r.usage_source === "client" && r.error === null);
    let sum = 0;
    const gaps = r.itl_ms;
    for (let k = 0; k < gaps.length; k++) sum += gaps[k]!;
    this.itlSampler.offerMany(gaps.length, (slot, k) => {
      this.itl[slot] = gaps[k]!;
      this.itlRequest[slot] = i;
    });
    this.itlSum.push(sum);
    this.itlCount.push(r.error === null ? r.itl_ms.length : 0);
  }

  /** Columns for charts (all requests, no window). */
  columns(): RecordColumns {
    return {
      sent: this.sent,
      end: this.end,
      scheduled: this.sent.map((s, i) => s - this.lag[i]!),
      ttft: this.ttft,
      tpot: this.tpot,
      e2el: this.e2el,
      completion: this.completion,
      ok: this.errorCode.map((e) => e < 0),
    };
  }

  /** Up to `max` inter-token gaps from the reservoir (a uniform sample), for charts. */
  itlSample(max: number): number[] {
    if (this.itl.length <= max) return [...this.itl];
    const step = this.itl.length / max;
    return Array.from({ length: max }, (_, k) => this.itl[Math.floor(k * step)]!);
  }

  /** ITL reservoir values of completed requests sent inside the window. */
  private itlIn(included: Uint8Array): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.itl.length; k++) {
      const r = this.itlRequest[k]!;
      // Failed streams' gaps (a node dying mid-turn) would skew the percentiles of served tokens.
      if (included[r] && this.errorCode[r]! < 0) out.push(this.itl[k]!);
    }
    return out;
  }

  private group(indices: readonly number[], windowS: number): GroupSummary {
    const ttft: number[] = [];
    const tpot: number[] = [];
    const e2el: number[] = [];
    let completed = 0;
    let failed = 0;
    let prompt = 0;
    let completion = 0;
    let cached = 0;
    for (const i of indices) {
      if (this.errorCode[i]! >= 0) {
        failed++;
        continue;
      }
      completed++;
      if (!Number.isNaN(this.ttft[i]!)) ttft.push(this.ttft[i]!);
      if (!Number.isNaN(this.tpot[i]!)) tpot.push(this.tpot[i]!);
      e2el.push(this.e2el[i]!);
      prompt += this.prompt[i]!;
      completion += this.completion[i]!;
      cached += this.cached[i]!;
    }
    return {
      completed,
      failed,
      request_throughput: completed / windowS,
      output_token_throughput: completion / windowS,
      ttft_ms: summarize(ttft),
      tpot_ms: summarize(tpot),
      e2el_ms: summarize(e2el),
      mean_prompt_tokens: completed > 0 ? prompt / completed : NaN,
      cached_token_fraction: prompt > 0 ? cached / prompt : NaN,
    };
  }

  /**
   * The summary of everything added, for a run that lasted `durationS` seconds (wall clock, or
   * virtual time in a simulation). With a warm-up/cool-down, only requests sent inside
   * [warmup, duration - cooldown) count, and throughputs divide by that window's length.
   */
  summary(durationS: number): RunSummary {
    const warmupMs = (this.options.warmupS ?? 0) * 1000;
    const cooldownMs = (this.options.cooldownS ?? 0) * 1000;
    const windowed = warmupMs > 0 || cooldownMs > 0;
    const fromMs = warmupMs;
    const toMs = windowed ? durationS * 1000 - cooldownMs : Infinity;
    const windowS = windowed ? Math.max(0, toMs - fromMs) / 1000 : durationS;
    const n = this.sent.length;
    const included = new Uint8Array(n);
    const indices: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = this.sent[i]!;
      if (s >= fromMs && s < toMs) {
        included[i] = 1;
        indices.push(i);
      }
    }
    const all = this.group(indices, windowS);
    let prompt = 0;
    let completion = 0;
    let cached = 0;
    let itlSum = 0;
    let itlCount = 0;
    let clientCounted = 0;
    const lag: number[] = [];
    const errors: Record<string, number> = {};
    let firstScheduled = Infinity;
    let lastScheduled = -Infinity;
    let firstSent = Infinity;
    let lastSent = -Infinity;
    for (const i of indices) {
      lag.push(this.lag[i]!);
      const scheduled = this.sent[i]! - this.lag[i]!;
      firstScheduled = Math.min(firstScheduled, scheduled);
      lastScheduled = Math.max(lastScheduled, scheduled);
      firstSent = Math.min(firstSent, this.sent[i]!);
      lastSent = Math.max(lastSent, this.sent[i]!);
      const e = this.errorCode[i]!;
      if (e >= 0) {
        const code = this.errorNames[e]!;
        errors[code] = (errors[code] ?? 0) + 1;
        continue;
      }
      prompt += this.prompt[i]!;
      completion += this.completion[i]!;
      cached += this.cached[i]!;
      itlSum += this.itlSum[i]!;
      itlCount += this.itlCount[i]!;
      if (this.clientCounted[i]) clientCounted++;
    }
    const itl = summarize(this.itlIn(included));
    const sends = indices.length;
    const summary: RunSummary = {
      completed: all.completed,
      failed: all.failed,
      duration_s: durationS,
      request_throughput: all.request_throughput,
      output_token_throughput: all.output_token_throughput,
      total_token_throughput: (completion + prompt) / windowS,
      total_prompt_tokens: prompt,
      total_completion_tokens: completion,
      total_cached_tokens: cached,
      ttft_ms: all.ttft_ms,
      tpot_ms: all.tpot_ms,
      itl_ms: { ...itl, count: itlCount, mean: itlCount > 0 ? itlSum / itlCount : NaN },
      e2el_ms: all.e2el_ms,
      schedule_lag_ms: summarize(lag),
      errors,
      /** Requests whose token counts are the client's own (no usage from the server). */
      usage_client_counted: clientCounted,
      cached_token_fraction: all.cached_token_fraction,
      send_rate: {
        // Rate the schedule asked for vs the rate sends happened at (equal unless the client lags).
        requested_rps: sends > 1 ? ((sends - 1) * 1000) / (lastScheduled - firstScheduled) : NaN,
        achieved_rps: sends > 1 ? ((sends - 1) * 1000) / (lastSent - firstSent) : NaN,
      },
      ...(windowed
        ? {
            window: {
              warmup_s: warmupMs / 1000,
              cooldown_s: cooldownMs / 1000,
              measured_s: windowS,
              requests_excluded: n - sends,
            },
          }
        : {}),
      ...(this.goodput(indices, windowS, all.completed) ?? {}),
      ...(this.byProfile ? { by_profile: this.profileSummaries(indices, windowS) } : {}),
      ...(this.byProfile ? { by_turn_index: this.turnSummaries(indices, windowS) } : {}),
    };
    return summary;
  }

  /** Goodput (vLLM's definition): completed requests meeting every SLO, per second. */
  private goodput(indices: readonly number[], windowS: number, completed: number) {
    const slo = this.options.slo ?? {};
    if (slo.ttft === undefined && slo.tpot === undefined && slo.e2el === undefined) return undefined;
    let good = 0;
    const violations = { ttft: 0, tpot: 0, e2el: 0 };
    for (const i of indices) {
      if (this.errorCode[i]! >= 0) continue;
      const ttft = this.ttft[i]!;
      // A request with one token has no TPOT: it cannot violate that SLO.
      const tpot = Number.isNaN(this.tpot[i]!) ? 0 : this.tpot[i]!;
      // NaN (no first token) never meets an SLO: the comparisons are written to fail on it.
      const missTtft = slo.ttft !== undefined && !(ttft <= slo.ttft);
      const missTpot = slo.tpot !== undefined && !(tpot <= slo.tpot);
      const missE2el = slo.e2el !== undefined && !(this.e2el[i]! <= slo.e2el);
      if (missTtft) violations.ttft++;
      if (missTpot) violations.tpot++;
      if (missE2el) violations.e2el++;
      if (!missTtft && !missTpot && !missE2el) good++;
    }
    return {
      goodput: {
        slo_ms: slo,
        good_requests: good,
        request_goodput: good / windowS,
        good_fraction: completed > 0 ? good / completed : NaN,
        violations,
      },
    };
  }

  private grouped(indices: readonly number[], key: (i: number) => string, windowS: number) {
    const groups = new Map<string, number[]>();
    for (const i of indices) {
      const k = key(i);
      let list = groups.get(k);
      if (!list) groups.set(k, (list = []));
      list.push(i);
    }
    const out = new Map<string, GroupSummary>();
    for (const [k, list] of groups) out.set(k, this.group(list, windowS));
    return out;
  }

  /** Headline figures per client profile (e.g. to compare priorities in one open-loop mix). */
  private profileSummaries(indices: readonly number[], windowS: number): Record<string, ProfileSummary> {
    const groups = this.grouped(indices, (i) => this.profileNames[this.profile[i]!]!, windowS);
    const out: Record<string, ProfileSummary> = {};
    for (const name of [...groups.keys()].sort((a, b) => a.localeCompare(b))) out[name] = groups.get(name)!;
    return out;
  }

  /**
   * Per turn index ("0" = first turns, ..., "10+"): first turns pay full prefill, later turns
   * reuse the session's KV cache, so TTFT and cached_token_fraction show the reuse effect.
   */
  private turnSummaries(indices: readonly number[], windowS: number): Record<string, GroupSummary> {
    const label = (t: number) => (t >= TURN_GROUPS ? `${TURN_GROUPS}+` : String(t));
    const groups = this.grouped(indices, (i) => label(this.turn[i]!), windowS);
    const out: Record<string, GroupSummary> = {};
    const order = (k: string) => Number.parseInt(k, 10);
    for (const k of [...groups.keys()].sort((a, b) => order(a) - order(b))) out[k] = groups.get(k)!;
    return out;
  }
}

/**
 * Log-bucketed histogram (2% wide buckets) for an approximate running median: O(1) per value,
 * for the progress display (the summary's percentiles are exact).
 */
class LogHistogram {
  private readonly counts = new Map<number, number>();
  private total = 0;
  private static readonly RATIO = Math.log(1.02);

  add(value: number): void {
    const b = value <= 0.001 ? -1000 : Math.floor(Math.log(value) / LogHistogram.RATIO);
    this.counts.set(b, (this.counts.get(b) ?? 0) + 1);
    this.total++;
  }

  quantile(q: number): number {
    if (this.total === 0) return NaN;
    const target = q * this.total;
    let seen = 0;
    for (const b of [...this.counts.keys()].sort((x, y) => x - y)) {
      seen += this.counts.get(b)!;
      if (seen >= target) return b === -1000 ? 0 : Math.exp((b + 0.5) * LogHistogram.RATIO);
    }
    return NaN;
  }
}

/** Summary of a finished list of records (tests, small runs). */
export function buildSummary(
  records: readonly RequestRecord[],
  durationS: number,
  options: SummaryOptions = {},
): RunSummary {
  const acc = new SummaryAccumulator(1_000_000, 0, true, options);
  for (const r of records) acc.add(r);
  return acc.summary(durationS);
}

const f2 = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x.toFixed(2) : "n/a");

/** A `vllm bench serve`-style results table for stdout. */
export function formatSummaryTable(s: RunSummary, title = "Serving Benchmark Result"): string {
  const w = 50;
  const line = (label: string, value: string | number) =>
    `${label.padEnd(w - 10)}${String(value).padStart(10)}`;
  const section = (name: string) =>
    `${"-".repeat(Math.floor((w - name.length - 2) / 2))} ${name} ${"-".repeat(Math.ceil((w - name.length - 2) / 2))}`;
  const out = [
    `${"=".repeat(Math.floor((w - title.length - 2) / 2))} ${title} ${"=".repeat(Math.ceil((w - title.length - 2) / 2))}`,
    line("Successful requests:", s.completed),
    line("Failed requests:", s.failed),
    line("Benchmark duration (s):", f2(s.duration_s)),
    line("Total input tokens:", s.total_prompt_tokens),
    line("Total generated tokens:", s.total_completion_tokens),
    line("Cached prompt tokens:", s.total_cached_tokens),
    line("Request throughput (req/s):", f2(s.request_throughput)),
    line("Output token throughput (tok/s):", f2(s.output_token_throughput)),
    line("Total token throughput (tok/s):", f2(s.total_token_throughput)),
  ];
  const goodput = s.goodput as { request_goodput: number; good_fraction: number } | undefined;
  if (goodput) {
    out.push(line("Request goodput (req/s):", f2(goodput.request_goodput)));
    out.push(line("Requests meeting the SLOs (%):", f2(goodput.good_fraction * 100)));
  }
  const metric = (name: string, label: string, m: MetricSummary) => {
    out.push(section(name));
    out.push(line(`Mean ${label} (ms):`, f2(m.mean)));
    out.push(line(`Median ${label} (ms):`, f2(m.p50)));
    out.push(line(`P90 ${label} (ms):`, f2(m.p90)));
    out.push(line(`P99 ${label} (ms):`, f2(m.p99)));
  };
  metric("Time to First Token", "TTFT", s.ttft_ms);
  metric("Time per Output Token (excl. 1st token)", "TPOT", s.tpot_ms);
  metric("Inter-token Latency", "ITL", s.itl_ms);
  metric("End-to-end Latency", "E2EL", s.e2el_ms);
  const profiles = Object.entries(s.by_profile ?? {});
  if (profiles.length > 1) {
    for (const [name, p] of profiles) {
      out.push(section(`Profile ${name}`));
      out.push(line("Successful / failed:", `${p.completed} / ${p.failed}`));
      out.push(line("Mean TTFT (ms):", f2(p.ttft_ms.mean)));
      out.push(line("P99 TTFT (ms):", f2(p.ttft_ms.p99)));
      out.push(line("Mean E2EL (ms):", f2(p.e2el_ms.mean)));
    }
  }
  const turns = Object.entries((s.by_turn_index ?? {}) as Record<string, GroupSummary>);
  if (turns.length > 1) {
    out.push(section("By turn index (mean TTFT ms / cached %)"));
    for (const [k, g] of turns)
      out.push(
        line(
          `Turn ${k} (${g.completed} ok):`,
          `${f2(g.ttft_ms.mean)} / ${Number.isFinite(g.cached_token_fraction) ? (g.cached_token_fraction * 100).toFixed(0) : "n/a"}%`,
        ),
      );
  }
  out.push(section("Client"));
  const rate = s.send_rate as { requested_rps: number; achieved_rps: number } | undefined;
  if (rate) {
    out.push(line("Requested send rate (req/s):", f2(rate.requested_rps)));
    out.push(line("Achieved send rate (req/s):", f2(rate.achieved_rps)));
  }
  out.push(line("Mean schedule lag (ms):", f2(s.schedule_lag_ms.mean)));
  out.push(line("P99 schedule lag (ms):", f2(s.schedule_lag_ms.p99)));
  const loop = s.event_loop_delay_ms as { p99: number; max: number } | undefined;
  if (loop) {
    out.push(line("P99 event-loop delay (ms):", f2(loop.p99)));
    out.push(line("Max event-loop delay (ms):", f2(loop.max)));
  }
  if (typeof s.usage_client_counted === "number" && s.usage_client_counted > 0)
    out.push(line("Token counts by client (no usage):", s.usage_client_counted));
  for (const [code, n] of Object.entries(s.errors)) out.push(line(`Errors ${code}:`, n));
  out.push("=".repeat(w));
  return out.join("\n") + "\n";
}

/** JSON with NaN/Infinity as null (JSON has neither). */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v),
    2,
  );
}

const CSV_STATS = ["count", "mean", "std", "min", "p50", "p90", "p95", "p99", "p999", "max"] as const;

/**
 * summary.csv in long format, one value per row: `scope,metric,stat,value` (scope `all`,
 * `profile:<name>`, `turn:<i>`), so a spreadsheet or `pandas.pivot` can slice it.
 */
export function summaryCsv(s: RunSummary): string {
  const rows: string[] = ["scope,metric,stat,value"];
  const esc = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? String(v) : "");
  const block = (scope: string, obj: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(obj)) {
      if (typeof value === "number") rows.push(`${esc(scope)},${key},value,${num(value)}`);
      else if (value && typeof value === "object" && "p50" in value) {
        for (const stat of CSV_STATS)
          rows.push(`${esc(scope)},${key},${stat},${num((value as Record<string, unknown>)[stat])}`);
      }
    }
  };
  block("all", s);
  for (const [code, n] of Object.entries(s.errors)) rows.push(`all,errors,${esc(code)},${n}`);
  const rate = s.send_rate as Record<string, unknown> | undefined;
  if (rate) block("all", rate);
  const goodput = s.goodput as Record<string, unknown> | undefined;
  if (goodput) block("goodput", goodput);
  const loop = s.event_loop_delay_ms as Record<string, unknown> | undefined;
  if (loop) for (const [k, v] of Object.entries(loop)) rows.push(`all,event_loop_delay_ms,${k},${num(v)}`);
  for (const [name, p] of Object.entries(s.by_profile ?? {})) block(`profile:${name}`, p);
  for (const [k, g] of Object.entries((s.by_turn_index ?? {}) as Record<string, GroupSummary>))
    block(`turn:${k}`, g as unknown as Record<string, unknown>);
  return rows.join("\n") + "\n";
}
