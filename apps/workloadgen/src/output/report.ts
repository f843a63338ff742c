import { rngFor, type Rng } from "@symphony/common";
import { summarize, type MetricSummary, type RequestRecord } from "../domain";

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

/**
 * Builds the run summary one record at a time, keeping only what the statistics need: one
 * number per request per metric, and for inter-token latencies (hundreds per request) a
 * uniform reservoir of at most `itlReservoirSize` values, so a 1-hour run stays small in memory.
 * Means are exact; ITL percentiles come from the reservoir (exact until it fills).
 */
export class SummaryAccumulator {
  private completed = 0;
  private failed = 0;
  private prompt = 0;
  private completion = 0;
  private cached = 0;
  private readonly ttft: number[] = [];
  private readonly tpot: number[] = [];
  private readonly e2el: number[] = [];
  private readonly lag: number[] = [];
  private readonly itl: number[] = [];
  private itlSeen = 0;
  private itlSum = 0;
  private readonly errors: Record<string, number> = {};
  private readonly rng: Rng;
  /** Per-profile accumulators (open loop mixes), created on first sight; absent in children. */
  private readonly profiles: Map<string, SummaryAccumulator> | undefined;

  constructor(
    private readonly itlReservoirSize = 1_000_000,
    private readonly seed = 0,
    byProfile = true,
  ) {
    this.rng = rngFor(seed, "workloadgen.itl-reservoir");
    this.profiles = byProfile ? new Map() : undefined;
  }

  add(r: RequestRecord): void {
    if (this.profiles) {
      let child = this.profiles.get(r.profile);
      if (!child) {
        child = new SummaryAccumulator(Math.min(this.itlReservoirSize, 100_000), this.seed, false);
        this.profiles.set(r.profile, child);
      }
      child.add(r);
    }
    this.lag.push(r.schedule_lag_ms);
    if (r.error !== null) {
      this.failed++;
      const code = r.error.split(":")[0]!;
      this.errors[code] = (this.errors[code] ?? 0) + 1;
      return;
    }
    this.completed++;
    this.prompt += r.prompt_tokens;
    this.completion += r.completion_tokens;
    this.cached += r.cached_tokens;
    if (r.ttft_ms !== null) this.ttft.push(r.ttft_ms);
    if (r.tpot_ms !== null) this.tpot.push(r.tpot_ms);
    this.e2el.push(r.e2el_ms);
    for (const gap of r.itl_ms) {
      this.itlSeen++;
      this.itlSum += gap;
      if (this.itl.length < this.itlReservoirSize) this.itl.push(gap);
      else {
        // Algorithm R: keep each of the n values seen with probability size / n.
        const j = this.rng.int(0, this.itlSeen - 1);
        if (j < this.itlReservoirSize) this.itl[j] = gap;
      }
    }
  }

  /** The summary of everything added, for a run that lasted `durationS` seconds of wall clock. */
  summary(durationS: number): RunSummary {
    const itl = summarize(this.itl);
    return {
      completed: this.completed,
      failed: this.failed,
      duration_s: durationS,
      request_throughput: this.completed / durationS,
      output_token_throughput: this.completion / durationS,
      total_token_throughput: (this.completion + this.prompt) / durationS,
      total_prompt_tokens: this.prompt,
      total_completion_tokens: this.completion,
      total_cached_tokens: this.cached,
      ttft_ms: summarize(this.ttft),
      tpot_ms: summarize(this.tpot),
      itl_ms: { ...itl, count: this.itlSeen, mean: this.itlSeen > 0 ? this.itlSum / this.itlSeen : NaN },
      e2el_ms: summarize(this.e2el),
      schedule_lag_ms: summarize(this.lag),
      errors: { ...this.errors },
      ...(this.profiles ? { by_profile: this.profileSummaries(durationS) } : {}),
    };
  }

  /** Headline figures per client profile (e.g. to compare priorities in one open-loop mix). */
  private profileSummaries(durationS: number): Record<string, ProfileSummary> {
    const out: Record<string, ProfileSummary> = {};
    for (const [name, acc] of [...this.profiles!].sort(([a], [b]) => a.localeCompare(b))) {
      const s = acc.summary(durationS);
      out[name] = {
        completed: s.completed,
        failed: s.failed,
        request_throughput: s.request_throughput,
        output_token_throughput: s.output_token_throughput,
        ttft_ms: s.ttft_ms,
        tpot_ms: s.tpot_ms,
        e2el_ms: s.e2el_ms,
      };
    }
    return out;
  }
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
>;

/** Summary of a finished list of records (tests, small runs). */
export function buildSummary(records: readonly RequestRecord[], durationS: number): RunSummary {
  const acc = new SummaryAccumulator();
  for (const r of records) acc.add(r);
  return acc.summary(durationS);
}

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");

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
  out.push(section("Client"));
  out.push(line("Mean schedule lag (ms):", f2(s.schedule_lag_ms.mean)));
  out.push(line("P99 schedule lag (ms):", f2(s.schedule_lag_ms.p99)));
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
