import { rngFor } from "@symphony/common";
import { Column } from "./column";
import { HISTOGRAM_METHOD, LogLinearHistogram } from "./histogram";
import type { RequestRecord } from "./record";
import { ReservoirSampler, summarize, type MetricSummary } from "./stats";

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
  /**
   * Every record is kept (exact percentiles, as `vllm bench serve` computes them) up to this many;
   * beyond it the accumulator drops them and every figure comes from bounded histograms (within
   * 1%). Default `EXACT_RECORDS_LIMIT`.
   */
  exactRecords?: number;
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

/** Throughput and mean concurrency over the run, in buckets of `bucketS` seconds. */
export interface TimeSeries {
  bucketS: number;
  x: number[];
  requestsPerS: number[];
  tokensPerS: number[];
  concurrency: number[];
}

/**
 * What report.html draws: every record's columns while the run is small ("records"), else
 * bounded data ("bounded": CDFs from the histograms, a uniform sample of requests for the
 * latency scatter, time series binned as the records came).
 */
export type ChartSource =
  | { kind: "records"; columns: RecordColumns; itlSample: number[] }
  | {
      kind: "bounded";
      cdf: Record<"ttft" | "tpot" | "itl" | "e2el", [number[], number[]]>;
      /** [send time s, TTFT ms (null: none), E2EL ms], ordered by send time. */
      scatter: [number[], (number | null)[], number[]];
      series: TimeSeries;
    };

/** Turn indices from this one up are pooled into one "N+" group. */
const TURN_GROUPS = 10;
/** Default of `SummaryOptions.exactRecords`: ~50 MB of columns (and a 16 MB ITL reservoir) at most. */
export const EXACT_RECORDS_LIMIT = 250_000;
/** Points per CDF curve and per scatter series in report.html. */
export const CDF_POINTS = 400;
export const SCATTER_POINTS = 4000;
/** Time-series buckets across the run (report.html). */
export const MAX_TIME_BUCKETS = 300;

/** What the summary keeps of one record (ms; NaN where the record has null). */
interface Row {
  sent: number;
  end: number;
  lag: number;
  ttft: number;
  tpot: number;
  e2el: number;
  prompt: number;
  completion: number;
  cached: number;
  turn: number;
  profile: number;
  /** Index of the error code, -1 when the request completed. */
  error: number;
  clientCounted: boolean;
  /** Inter-token gaps of a completed request (the record's own array: no copy). */
  itl: readonly number[] | undefined;
}

/** One group's running figures: counts, token sums and TTFT/TPOT/E2EL histograms (completed requests). */
class GroupStats {
  completed = 0;
  failed = 0;
  prompt = 0;
  completion = 0;
  cached = 0;
  readonly ttft = new LogLinearHistogram();
  readonly tpot = new LogLinearHistogram();
  readonly e2el = new LogLinearHistogram();

  add(row: Row): void {
    if (row.error >= 0) {
      this.failed++;
      return;
    }
    this.completed++;
    this.ttft.add(row.ttft); // NaN (no first token) is ignored, as the exact path skips it
    this.tpot.add(row.tpot);
    this.e2el.add(row.e2el);
    this.prompt += row.prompt;
    this.completion += row.completion;
    this.cached += row.cached;
  }

  merge(other: GroupStats): void {
    this.completed += other.completed;
    this.failed += other.failed;
    this.prompt += other.prompt;
    this.completion += other.completion;
    this.cached += other.cached;
    this.ttft.merge(other.ttft);
    this.tpot.merge(other.tpot);
    this.e2el.merge(other.e2el);
  }

  summary(windowS: number): GroupSummary {
    return {
      completed: this.completed,
      failed: this.failed,
      request_throughput: this.completed / windowS,
      output_token_throughput: this.completion / windowS,
      ttft_ms: this.ttft.summary(),
      tpot_ms: this.tpot.summary(),
      e2el_ms: this.e2el.summary(),
      mean_prompt_tokens: this.completed > 0 ? this.prompt / this.completed : NaN,
      cached_token_fraction: this.prompt > 0 ? this.cached / this.prompt : NaN,
    };
  }
}

const turnGroup = (turn: number) => Math.min(turn, TURN_GROUPS);
const turnLabel = (group: number) => (group >= TURN_GROUPS ? `${TURN_GROUPS}+` : String(group));

/** Everything the summary needs of the requests inside the window, in memory bounded by buckets and groups. */
class WindowStats {
  readonly all = new GroupStats();
  readonly profiles = new Map<number, GroupStats>();
  readonly turns = new Map<number, GroupStats>();
  readonly lag = new LogLinearHistogram();
  readonly itl = new LogLinearHistogram();
  readonly errors = new Map<number, number>();
  sends = 0;
  itlSum = 0;
  itlCount = 0;
  clientCounted = 0;
  firstScheduled = Infinity;
  lastScheduled = -Infinity;
  firstSent = Infinity;
  lastSent = -Infinity;
  good = 0;
  readonly violations = { ttft: 0, tpot: 0, e2el: 0 };

  constructor(private readonly slo: Slo) {}

  private static group(map: Map<number, GroupStats>, key: number): GroupStats {
    let g = map.get(key);
    if (!g) map.set(key, (g = new GroupStats()));
    return g;
  }

  add(row: Row): void {
    this.sends++;
    this.lag.add(row.lag);
    const scheduled = row.sent - row.lag;
    this.firstScheduled = Math.min(this.firstScheduled, scheduled);
    this.lastScheduled = Math.max(this.lastScheduled, scheduled);
    this.firstSent = Math.min(this.firstSent, row.sent);
    this.lastSent = Math.max(this.lastSent, row.sent);
    this.all.add(row);
    WindowStats.group(this.profiles, row.profile).add(row);
    WindowStats.group(this.turns, turnGroup(row.turn)).add(row);
    if (row.error >= 0) {
      this.errors.set(row.error, (this.errors.get(row.error) ?? 0) + 1);
      return;
    }
    const gaps = row.itl ?? [];
    this.itl.addMany(gaps);
    let itlSum = this.itlSum;
    for (let k = 0; k < gaps.length; k++) itlSum += gaps[k]!;
    this.itlSum = itlSum;
    this.itlCount += gaps.length;
    if (row.clientCounted) this.clientCounted++;
    const slo = this.slo;
    if (slo.ttft === undefined && slo.tpot === undefined && slo.e2el === undefined) return;
    // The same rules as the exact path (see `goodputOf`).
    const tpot = Number.isNaN(row.tpot) ? 0 : row.tpot;
    const missTtft = slo.ttft !== undefined && !(row.ttft <= slo.ttft);
    const missTpot = slo.tpot !== undefined && !(tpot <= slo.tpot);
    const missE2el = slo.e2el !== undefined && !(row.e2el <= slo.e2el);
    if (missTtft) this.violations.ttft++;
    if (missTpot) this.violations.tpot++;
    if (missE2el) this.violations.e2el++;
    if (!missTtft && !missTpot && !missE2el) this.good++;
  }

  /** Adds `other`'s figures to these (`other` is left as it was). */
  merge(other: WindowStats): this {
    this.all.merge(other.all);
    for (const [k, g] of other.profiles) WindowStats.group(this.profiles, k).merge(g);
    for (const [k, g] of other.turns) WindowStats.group(this.turns, k).merge(g);
    this.lag.merge(other.lag);
    this.itl.merge(other.itl);
    for (const [k, n] of other.errors) this.errors.set(k, (this.errors.get(k) ?? 0) + n);
    this.sends += other.sends;
    this.itlSum += other.itlSum;
    this.itlCount += other.itlCount;
    this.clientCounted += other.clientCounted;
    this.firstScheduled = Math.min(this.firstScheduled, other.firstScheduled);
    this.lastScheduled = Math.max(this.lastScheduled, other.lastScheduled);
    this.firstSent = Math.min(this.firstSent, other.firstSent);
    this.lastSent = Math.max(this.lastSent, other.lastSent);
    this.good += other.good;
    this.violations.ttft += other.violations.ttft;
    this.violations.tpot += other.violations.tpot;
    this.violations.e2el += other.violations.e2el;
    return this;
  }

  /** Bucket slots held by every histogram (the size test's counter). */
  get slots(): number {
    let n = this.lag.slots + this.itl.slots;
    for (const g of [this.all, ...this.profiles.values(), ...this.turns.values()])
      n += g.ttft.slots + g.tpot.slots + g.e2el.slots;
    return n;
  }
}

/** Most bins `TimeBins` keeps before it doubles their width. */
const MAX_TIME_BINS = 4 * MAX_TIME_BUCKETS;

/**
 * Completions, output tokens and busy time per bin of the run, as records arrive: bins start at
 * 1 s and double in width whenever there would be more than MAX_TIME_BINS, so memory is bounded
 * however long the run. The report's buckets are then whole numbers of bins.
 */
class TimeBins {
  private widthMs = 1000;
  private completed: number[] = [];
  private tokens: number[] = [];
  private busyMs: number[] = [];
  private maxEndMs = 0;

  add(row: Row): void {
    this.maxEndMs = Math.max(this.maxEndMs, row.end);
    this.cover(row.end);
    const b = Math.floor(row.end / this.widthMs);
    if (row.error < 0) {
      this.completed[b]!++;
      this.tokens[b]! += row.completion;
    }
    for (let t = Math.max(0, row.sent); t < row.end;) {
      const k = Math.floor(t / this.widthMs);
      const next = Math.min((k + 1) * this.widthMs, row.end);
      this.busyMs[k]! += next - t;
      t = next;
    }
  }

  /** Makes room for time `ms`, doubling the bin width while there would be too many bins. */
  private cover(ms: number): void {
    while (Math.floor(ms / this.widthMs) >= MAX_TIME_BINS) {
      const halve = (a: number[]) => {
        const out = new Array<number>(Math.ceil(a.length / 2)).fill(0);
        for (let i = 0; i < a.length; i++) out[i >> 1]! += a[i]!;
        return out;
      };
      this.completed = halve(this.completed);
      this.tokens = halve(this.tokens);
      this.busyMs = halve(this.busyMs);
      this.widthMs *= 2;
    }
    const need = Math.floor(ms / this.widthMs) + 1;
    while (this.completed.length < need) {
      this.completed.push(0);
      this.tokens.push(0);
      this.busyMs.push(0);
    }
  }

  /** The report's series: buckets of whole bins, at least 1 s, at most MAX_TIME_BUCKETS (as `timeSeries`). */
  series(durationS: number): TimeSeries {
    const spanS = Math.max(durationS, 1e-3, this.maxEndMs / 1000);
    const binS = this.widthMs / 1000;
    const bucketS = binS * Math.ceil(Math.max(1, Math.ceil(spanS / MAX_TIME_BUCKETS)) / binS);
    const buckets = Math.ceil(spanS / bucketS);
    const perBucket = bucketS / binS;
    const completed = new Array<number>(buckets).fill(0);
    const tokens = new Array<number>(buckets).fill(0);
    const busyMs = new Array<number>(buckets).fill(0);
    for (let i = 0; i < this.completed.length; i++) {
      const b = Math.floor(i / perBucket);
      // Completions after the span's last bucket count in it; busy time beyond it is cut off.
      completed[Math.min(b, buckets - 1)]! += this.completed[i]!;
      tokens[Math.min(b, buckets - 1)]! += this.tokens[i]!;
      if (b < buckets) busyMs[b]! += this.busyMs[i]!;
    }
    const round = (x: number) => Math.round(x * 1000) / 1000;
    return {
      bucketS,
      x: Array.from({ length: buckets }, (_, k) => k * bucketS),
      requestsPerS: completed.map((c) => round(c / bucketS)),
      tokensPerS: tokens.map((c) => round(c / bucketS)),
      concurrency: busyMs.map((ms) => round(ms / (bucketS * 1000))),
    };
  }

  get slots(): number {
    return this.completed.length * 3;
  }
}

/**
 * Every record's figures in columns (the exact path): warm-up/cool-down windows and groups are
 * cut at the end, percentiles are exact. Inter-token gaps (hundreds per request) go to a uniform
 * reservoir of at most `itlReservoirSize` gaps: ITL means and counts are exact, ITL percentiles
 * exact until the reservoir fills.
 */
class ExactRecords {
  private readonly sent = new Column();
  private readonly end = new Column();
  private readonly lag = new Column();
  private readonly ttft = new Column();
  private readonly tpot = new Column();
  private readonly e2el = new Column();
  private readonly prompt = new Column();
  private readonly completion = new Column();
  private readonly cached = new Column();
  private readonly turn = new Column();
  private readonly profile = new Column();
  private readonly errorCode = new Column();
  private readonly clientCounted = new Column();
  private readonly itlSum = new Column();
  private readonly itlCount = new Column();
  /**
   * ITL reservoir, slot k's gap at [2k] and the index of its request at [2k + 1]: a replacement
   * (millions, at random slots, once the reservoir is full) touches one cache line, not two
   * arrays. Grown a chunk at a time while the reservoir fills (never copied whole).
   */
  private readonly itlSlots = new Column();
  /** Slots filled. */
  private itlKept = 0;
  private readonly itlSampler: ReservoirSampler;
  private itlSeen = 0;

  constructor(
    private readonly itlReservoirSize: number,
    seed: number,
    private readonly profileNames: readonly string[],
    private readonly errorNames: readonly string[],
    private readonly slo: Slo,
  ) {
    // The random streams keep their workloadgen-era names: another name would change every
    // seeded run's sampled ITL percentiles and report.
    this.itlSampler = new ReservoirSampler(itlReservoirSize, rngFor(seed, "workloadgen.itl-reservoir"));
  }

  get length(): number {
    return this.sent.length;
  }

  add(row: Row, gaps: readonly number[]): void {
    const i = this.sent.length;
    this.sent.push(row.sent);
    this.end.push(row.end);
    this.lag.push(row.lag);
    this.turn.push(row.turn);
    this.profile.push(row.profile);
    this.errorCode.push(row.error);
    this.ttft.push(row.ttft);
    this.tpot.push(row.tpot);
    this.e2el.push(row.e2el);
    this.prompt.push(row.prompt);
    this.completion.push(row.completion);
    this.cached.push(row.cached);
    this.clientCounted.push(row.clientCounted ? 1 : 0);
    let sum = 0;
    for (let k = 0; k < gaps.length; k++) sum += gaps[k]!;
    this.itlSeen += gaps.length;
    this.itlSampler.offerMany(gaps.length, (slot, k) => {
      if (slot >= this.itlKept) {
        while (this.itlSlots.length < 2 * (slot + 1)) this.itlSlots.push(0);
        this.itlKept = slot + 1;
      }
      this.itlSlots.set(2 * slot, gaps[k]!);
      this.itlSlots.set(2 * slot + 1, i);
    });
    this.itlSum.push(sum);
    this.itlCount.push(row.error < 0 ? gaps.length : 0);
  }

  /** "exact" while the reservoir holds every gap, else what it is. */
  get itlMethod(): string {
    return this.itlSeen <= this.itlReservoirSize
      ? "exact"
      : `uniform sample of ${this.itlReservoirSize} gaps`;
  }

  columns(): RecordColumns {
    return {
      sent: this.sent.toArray(),
      end: this.end.toArray(),
      scheduled: this.sent.map((s, i) => s - this.lag.get(i)),
      ttft: this.ttft.toArray(),
      tpot: this.tpot.toArray(),
      e2el: this.e2el.toArray(),
      completion: this.completion.toArray(),
      ok: this.errorCode.map((e) => e < 0),
    };
  }

  /** Up to `max` inter-token gaps from the reservoir (a uniform sample), for charts. */
  itlSample(max: number): number[] {
    const n = this.itlKept;
    if (n <= max) return Array.from({ length: n }, (_, k) => this.itlSlots.get(2 * k));
    const step = n / max;
    return Array.from({ length: max }, (_, k) => this.itlSlots.get(2 * Math.floor(k * step)));
  }

  /** ITL reservoir values of completed requests sent inside the window. */
  private itlIn(included: Uint8Array): number[] {
    const out: number[] = [];
    for (let k = 0; k < this.itlKept; k++) {
      const r = this.itlSlots.get(2 * k + 1);
      // Failed streams' gaps (a node dying mid-turn) would skew the percentiles of served tokens.
      if (included[r] && this.errorCode.get(r) < 0) out.push(this.itlSlots.get(2 * k));
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
      if (this.errorCode.get(i) >= 0) {
        failed++;
        continue;
      }
      completed++;
      if (!Number.isNaN(this.ttft.get(i))) ttft.push(this.ttft.get(i));
      if (!Number.isNaN(this.tpot.get(i))) tpot.push(this.tpot.get(i));
      e2el.push(this.e2el.get(i));
      prompt += this.prompt.get(i);
      completion += this.completion.get(i);
      cached += this.cached.get(i);
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

  figures(w: Window): Figures {
    const n = this.sent.length;
    const included = new Uint8Array(n);
    const indices: number[] = [];
    for (let i = 0; i < n; i++) {
      const s = this.sent.get(i);
      if (s >= w.fromMs && s < w.toMs) {
        included[i] = 1;
        indices.push(i);
      }
    }
    const all = this.group(indices, w.windowS);
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
      lag.push(this.lag.get(i));
      const scheduled = this.sent.get(i) - this.lag.get(i);
      firstScheduled = Math.min(firstScheduled, scheduled);
      lastScheduled = Math.max(lastScheduled, scheduled);
      firstSent = Math.min(firstSent, this.sent.get(i));
      lastSent = Math.max(lastSent, this.sent.get(i));
      const e = this.errorCode.get(i);
      if (e >= 0) {
        const code = this.errorNames[e]!;
        errors[code] = (errors[code] ?? 0) + 1;
        continue;
      }
      prompt += this.prompt.get(i);
      completion += this.completion.get(i);
      cached += this.cached.get(i);
      itlSum += this.itlSum.get(i);
      itlCount += this.itlCount.get(i);
      if (this.clientCounted.get(i) === 1) clientCounted++;
    }
    return {
      method: "exact",
      itlMethod: this.itlMethod,
      all,
      prompt,
      completion,
      cached,
      itl: summarize(this.itlIn(included)),
      itlSum,
      itlCount,
      lag: summarize(lag),
      errors,
      clientCounted,
      sends: indices.length,
      firstScheduled,
      lastScheduled,
      firstSent,
      lastSent,
      goodput: this.goodput(indices),
      byProfile: this.grouped(indices, (i) => this.profileNames[this.profile.get(i)]!, w.windowS),
      byTurn: this.grouped(indices, (i) => turnLabel(turnGroup(this.turn.get(i))), w.windowS),
    };
  }

  /** Goodput (vLLM's definition): completed requests meeting every SLO. */
  private goodput(indices: readonly number[]): Figures["goodput"] {
    const slo = this.slo;
    if (slo.ttft === undefined && slo.tpot === undefined && slo.e2el === undefined) return undefined;
    let good = 0;
    const violations = { ttft: 0, tpot: 0, e2el: 0 };
    for (const i of indices) {
      if (this.errorCode.get(i) >= 0) continue;
      const ttft = this.ttft.get(i);
      // A request with one token has no TPOT: it cannot violate that SLO.
      const tpot = Number.isNaN(this.tpot.get(i)) ? 0 : this.tpot.get(i);
      // NaN (no first token) never meets an SLO: the comparisons are written to fail on it.
      const missTtft = slo.ttft !== undefined && !(ttft <= slo.ttft);
      const missTpot = slo.tpot !== undefined && !(tpot <= slo.tpot);
      const missE2el = slo.e2el !== undefined && !(this.e2el.get(i) <= slo.e2el);
      if (missTtft) violations.ttft++;
      if (missTpot) violations.tpot++;
      if (missE2el) violations.e2el++;
      if (!missTtft && !missTpot && !missE2el) good++;
    }
    return { good, violations };
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
}

/** The measured window: requests sent in [fromMs, toMs) count; throughputs divide by windowS. */
interface Window {
  fromMs: number;
  toMs: number;
  windowS: number;
  windowed: boolean;
}

/** The window's figures, from every record (exact) or from the histograms (bounded). */
interface Figures {
  method: string;
  itlMethod: string;
  all: GroupSummary;
  prompt: number;
  completion: number;
  cached: number;
  itl: MetricSummary;
  itlSum: number;
  itlCount: number;
  lag: MetricSummary;
  errors: Record<string, number>;
  clientCounted: number;
  sends: number;
  firstScheduled: number;
  lastScheduled: number;
  firstSent: number;
  lastSent: number;
  goodput: { good: number; violations: { ttft: number; tpot: number; e2el: number } } | undefined;
  /** Unordered; the summary sorts them. */
  byProfile: Map<string, GroupSummary>;
  byTurn: Map<string, GroupSummary>;
}

/** Pending rows are swept into the window's histograms once there are this many (or twice as many as last time). */
const SWEEP_MIN_ROWS = 1024;

/**
 * Builds the run summary one record at a time, in memory that does not grow with the run once
 * it is long. Up to `exactRecords` records (`SummaryOptions`, default 250,000) it also keeps
 * every record's figures, and the summary's percentiles are exact (`"percentiles": "exact"`);
 * past that it drops them, and the summary and report come from mergeable histograms
 * (`LogLinearHistogram`, within 1%: `"percentiles": "hdr(1%)"`), binned time series and a
 * uniform sample of requests for the latency scatter. Counts, sums, means, min and max stay exact.
 *
 * The histograms take a record once it is surely inside the measured window: at once without a
 * window; with `--warmup`/`--cooldown`, once it was sent more than the cool-down before the
 * latest end seen (the run lasts at least that long). Until then its row waits (at most a
 * cool-down's worth of requests).
 */
export class SummaryAccumulator {
  private readonly profileNames: string[] = [];
  private readonly profileIndex = new Map<string, number>();
  private readonly errorNames: string[] = [];
  private readonly errorIndex = new Map<string, number>();
  private exact: ExactRecords | undefined;
  private readonly exactLimit: number;
  private readonly slo: Slo;
  private readonly warmupMs: number;
  private readonly cooldownMs: number;
  private readonly windowed: boolean;
  /** Rows surely inside the window. */
  private readonly committed: WindowStats;
  /** Rows that may still fall in the cool-down. */
  private pending: Row[] = [];
  private sweepAt = SWEEP_MIN_ROWS;
  private maxEndMs = -Infinity;
  private readonly bins = new TimeBins();
  private readonly scatterSampler: ReservoirSampler;
  private readonly scatter = {
    sent: new Float64Array(SCATTER_POINTS),
    ttft: new Float64Array(SCATTER_POINTS),
    e2el: new Float64Array(SCATTER_POINTS),
  };
  private scatterCount = 0;
  private records = 0;
  private okCount = 0;
  private failCount = 0;
  private readonly ttftProgress = new LogLinearHistogram();

  constructor(
    itlReservoirSize = 1_000_000,
    seed = 0,
    private readonly byProfile = true,
    options: SummaryOptions = {},
  ) {
    this.slo = options.slo ?? {};
    this.warmupMs = (options.warmupS ?? 0) * 1000;
    this.cooldownMs = (options.cooldownS ?? 0) * 1000;
    this.windowed = this.warmupMs > 0 || this.cooldownMs > 0;
    this.exactLimit = options.exactRecords ?? EXACT_RECORDS_LIMIT;
    this.committed = new WindowStats(this.slo);
    this.exact =
      this.exactLimit > 0
        ? new ExactRecords(itlReservoirSize, seed, this.profileNames, this.errorNames, this.slo)
        : undefined;
    this.scatterSampler = new ReservoirSampler(SCATTER_POINTS, rngFor(seed, "workloadgen.latency-scatter"));
  }

  /** Requests added so far: completed, failed (cheap: for per-record checks). */
  get counts(): { completed: number; failed: number } {
    return { completed: this.okCount, failed: this.failCount };
  }

  /** Counts and the TTFT median so far (±1%), for the progress display (a few times a second). */
  get progress(): { completed: number; failed: number; ttftP50Ms: number } {
    return { ...this.counts, ttftP50Ms: this.ttftProgress.percentile(50) };
  }

  /** "exact" while every record is kept, else the histograms' method. */
  get method(): string {
    return this.exact ? "exact" : HISTOGRAM_METHOD;
  }

  /**
   * Memory held, in values (8 bytes each, about): every kept record's columns while exact, then
   * only histogram buckets, time bins, the scatter sample and the rows waiting for the window.
   */
  get footprint(): { records: number; pendingRows: number; slots: number } {
    return {
      records: this.exact?.length ?? 0,
      pendingRows: this.pending.length,
      slots: this.committed.slots + this.bins.slots + this.ttftProgress.slots + 3 * SCATTER_POINTS,
    };
  }

  add(r: RequestRecord): void {
    let p = this.profileIndex.get(r.profile);
    if (p === undefined) {
      p = this.profileNames.push(r.profile) - 1;
      this.profileIndex.set(r.profile, p);
    }
    let e = -1;
    if (r.error !== null) {
      this.failCount++;
      const code = r.error.split(":")[0]!;
      let known = this.errorIndex.get(code);
      if (known === undefined) {
        known = this.errorNames.push(code) - 1;
        this.errorIndex.set(code, known);
      }
      e = known;
    } else {
      this.okCount++;
      if (r.ttft_ms !== null) this.ttftProgress.add(r.ttft_ms);
    }
    const row: Row = {
      sent: r.sent_ms,
      end: r.end_ms,
      lag: r.schedule_lag_ms,
      ttft: r.ttft_ms ?? NaN,
      tpot: r.tpot_ms ?? NaN,
      e2el: r.e2el_ms,
      prompt: r.prompt_tokens,
      completion: r.completion_tokens,
      cached: r.cached_tokens,
      turn: r.turn_index,
      profile: p,
      error: e,
      clientCounted: r.usage_source === "client" && r.error === null,
      itl: e < 0 ? r.itl_ms : undefined,
    };
    this.records++;
    this.exact?.add(row, r.itl_ms);
    this.bins.add(row);
    if (e < 0) {
      // One item at a time: `offer` takes the same draws as `offerMany(1, ...)`, without a closure per record.
      const slot = this.scatterSampler.offer();
      if (slot >= 0) {
        this.scatter.sent[slot] = row.sent;
        this.scatter.ttft[slot] = row.ttft;
        this.scatter.e2el[slot] = row.e2el;
        this.scatterCount = Math.min(SCATTER_POINTS, this.scatterCount + 1);
      }
    }
    if (!this.windowed) this.committed.add(row);
    else if (row.sent >= this.warmupMs) {
      // Rows sent in the warm-up never count; the others wait until they are surely before the cool-down.
      this.pending.push(row);
      this.maxEndMs = Math.max(this.maxEndMs, row.end);
      if (this.pending.length >= this.sweepAt) this.sweep();
    }
    if (this.exact && this.records > this.exactLimit) this.exact = undefined;
  }

  /** Moves the rows surely inside the window (sent a cool-down before the latest end) into the histograms. */
  private sweep(): void {
    const before = this.maxEndMs - this.cooldownMs;
    const waiting: Row[] = [];
    for (const row of this.pending) {
      if (row.sent < before) this.committed.add(row);
      else waiting.push(row);
    }
    this.pending = waiting;
    this.sweepAt = Math.max(SWEEP_MIN_ROWS, 2 * waiting.length);
  }

  private window(durationS: number): Window {
    const fromMs = this.warmupMs;
    const toMs = this.windowed ? durationS * 1000 - this.cooldownMs : Infinity;
    const windowS = this.windowed ? Math.max(0, toMs - fromMs) / 1000 : durationS;
    return { fromMs, toMs, windowS, windowed: this.windowed };
  }

  /** The window's histograms: the committed rows plus the waiting ones inside the window. */
  private windowStats(w: Window): WindowStats {
    const stats = new WindowStats(this.slo);
    for (const row of this.pending) if (row.sent >= w.fromMs && row.sent < w.toMs) stats.add(row);
    return stats.merge(this.committed);
  }

  private boundedFigures(w: Window): Figures {
    const stats = this.windowStats(w);
    const named = (map: Map<number, GroupStats>, name: (k: number) => string) =>
      new Map([...map].map(([k, g]) => [name(k), g.summary(w.windowS)] as const));
    const errors: Record<string, number> = {};
    for (const [k, n] of stats.errors) errors[this.errorNames[k]!] = n;
    const hasSlo = this.slo.ttft !== undefined || this.slo.tpot !== undefined || this.slo.e2el !== undefined;
    return {
      method: HISTOGRAM_METHOD,
      itlMethod: HISTOGRAM_METHOD,
      all: stats.all.summary(w.windowS),
      prompt: stats.all.prompt,
      completion: stats.all.completion,
      cached: stats.all.cached,
      itl: stats.itl.summary(),
      itlSum: stats.itlSum,
      itlCount: stats.itlCount,
      lag: stats.lag.summary(),
      errors,
      clientCounted: stats.clientCounted,
      sends: stats.sends,
      firstScheduled: stats.firstScheduled,
      lastScheduled: stats.lastScheduled,
      firstSent: stats.firstSent,
      lastSent: stats.lastSent,
      goodput: hasSlo ? { good: stats.good, violations: { ...stats.violations } } : undefined,
      byProfile: named(stats.profiles, (k) => this.profileNames[k]!),
      byTurn: named(stats.turns, turnLabel),
    };
  }

  /**
   * The summary of everything added, for a run that lasted `durationS` seconds (wall clock, or
   * virtual time in a simulation). With a warm-up/cool-down, only requests sent inside
   * [warmup, duration - cooldown) count, and throughputs divide by that window's length.
   */
  summary(durationS: number): RunSummary {
    const w = this.window(durationS);
    const f = this.exact ? this.exact.figures(w) : this.boundedFigures(w);
    const n = this.records;
    const sends = f.sends;
    const summary: RunSummary = {
      completed: f.all.completed,
      failed: f.all.failed,
      duration_s: durationS,
      request_throughput: f.all.request_throughput,
      output_token_throughput: f.all.output_token_throughput,
      total_token_throughput: (f.completion + f.prompt) / w.windowS,
      total_prompt_tokens: f.prompt,
      total_completion_tokens: f.completion,
      total_cached_tokens: f.cached,
      ttft_ms: f.all.ttft_ms,
      tpot_ms: f.all.tpot_ms,
      itl_ms: { ...f.itl, count: f.itlCount, mean: f.itlCount > 0 ? f.itlSum / f.itlCount : NaN },
      e2el_ms: f.all.e2el_ms,
      schedule_lag_ms: f.lag,
      errors: f.errors,
      /** How the percentiles were computed: "exact" (every record kept) or "hdr(1%)" (histograms, within 1%). */
      percentiles: f.method,
      /** ITL percentiles: "exact", a uniform sample of the gaps (exact path, many gaps), or "hdr(1%)". */
      itl_percentiles: f.itlMethod,
      /** Requests whose token counts are the client's own (no usage from the server). */
      usage_client_counted: f.clientCounted,
      cached_token_fraction: f.all.cached_token_fraction,
      send_rate: {
        // Rate the schedule asked for vs the rate sends happened at (equal unless the client lags).
        requested_rps: sends > 1 ? ((sends - 1) * 1000) / (f.lastScheduled - f.firstScheduled) : NaN,
        achieved_rps: sends > 1 ? ((sends - 1) * 1000) / (f.lastSent - f.firstSent) : NaN,
      },
      ...(w.windowed
        ? {
            window: {
              warmup_s: this.warmupMs / 1000,
              cooldown_s: this.cooldownMs / 1000,
              measured_s: w.windowS,
              requests_excluded: n - sends,
            },
          }
        : {}),
      ...(f.goodput
        ? {
            goodput: {
              slo_ms: this.slo,
              good_requests: f.goodput.good,
              request_goodput: f.goodput.good / w.windowS,
              good_fraction: f.all.completed > 0 ? f.goodput.good / f.all.completed : NaN,
              violations: f.goodput.violations,
            },
          }
        : {}),
      ...(this.byProfile
        ? {
            by_profile: Object.fromEntries(
              [...f.byProfile.keys()].sort((a, b) => a.localeCompare(b)).map((k) => [k, f.byProfile.get(k)!]),
            ),
          }
        : {}),
      // Per turn index ("0" = first turns, ..., "10+"): first turns pay full prefill, later turns
      // reuse the session's KV cache, so TTFT and cached_token_fraction show the reuse effect.
      ...(this.byProfile
        ? {
            by_turn_index: Object.fromEntries(
              [...f.byTurn.keys()]
                .sort((a, b) => Number.parseInt(a, 10) - Number.parseInt(b, 10))
                .map((k) => [k, f.byTurn.get(k)!]),
            ),
          }
        : {}),
    };
    return summary;
  }

  /**
   * What report.html draws for a run of `durationS` seconds: every record's columns while they
   * are kept, else bounded data (CDFs of the measured window from the histograms, at most
   * SCATTER_POINTS requests sampled uniformly for the scatter, the binned time series).
   */
  chartSource(durationS: number): ChartSource {
    if (this.exact)
      return { kind: "records", columns: this.exact.columns(), itlSample: this.exact.itlSample(20_000) };
    const stats = this.windowStats(this.window(durationS));
    const order = Array.from({ length: this.scatterCount }, (_, i) => i).sort(
      (a, b) => this.scatter.sent[a]! - this.scatter.sent[b]!,
    );
    const round = (x: number) => Math.round(x * 1000) / 1000;
    const rounded = ([x, y]: [number[], number[]]): [number[], number[]] => [x.map(round), y.map(round)];
    return {
      kind: "bounded",
      cdf: {
        ttft: rounded(stats.all.ttft.cdf(CDF_POINTS)),
        tpot: rounded(stats.all.tpot.cdf(CDF_POINTS)),
        itl: rounded(stats.itl.cdf(CDF_POINTS)),
        e2el: rounded(stats.all.e2el.cdf(CDF_POINTS)),
      },
      scatter: [
        order.map((i) => round(this.scatter.sent[i]! / 1000)),
        order.map((i) => (Number.isFinite(this.scatter.ttft[i]!) ? round(this.scatter.ttft[i]!) : null)),
        order.map((i) => round(this.scatter.e2el[i]!)),
      ],
      series: this.bins.series(durationS),
    };
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
  if (typeof s.percentiles === "string" && s.percentiles !== "exact")
    out.push(line("Percentiles (from histograms):", s.percentiles));
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
