import { spread } from "../domain/capacity-search";
import type { RegimeConfig } from "./config";
import { STOCK_CONFIGURATIONS } from "./configurations";
import type { RegimeResult } from "./results";
import type { RegimePoint } from "./sim-point";

/** The paper's 256 users on 8 GPUs. */
const PAPER_USERS_PER_GPU = 32;

const label = (name: string) => STOCK_CONFIGURATIONS.find((c) => c.name === name)?.label ?? name;

/** "12.3 (11.0–13.1)": mean with the min–max over seeds (just the value for one seed). */
export function withSpread(values: readonly number[], digits = 0, suffix = ""): string {
  const s = spread(values);
  if (!Number.isFinite(s.mean)) return "n/a";
  const f = (x: number) => x.toFixed(digits);
  return s.min === s.max ? `${f(s.mean)}${suffix}` : `${f(s.mean)}${suffix} (${f(s.min)}–${f(s.max)})`;
}

/** Per-seed capacities of one configuration under one criterion, and whether any is a lower bound. */
function capacities(r: RegimeResult, config: string, criterion: "slo" | "latency") {
  const mine = r.capacities.filter((x) => x.config === config && x.criterion === criterion);
  return {
    bySeed: new Map(mine.map((x) => [x.seed, x.search.capacity])),
    bounded: mine.some((x) => x.search.lowerBound),
  };
}

/** Per-seed ratios of `config`'s capacity to configuration 1's (seeds where 1 held some sessions). */
export function capacityRatios(r: RegimeResult, config: string, criterion: "slo" | "latency"): number[] {
  const base = capacities(r, "round-robin", criterion).bySeed;
  const mine = capacities(r, config, criterion).bySeed;
  const out: number[] = [];
  for (const [seed, n] of mine) {
    const b = base.get(seed);
    if (b !== undefined && b > 0) out.push(n / b);
  }
  return out;
}

/** Per-seed mean E2EL speed-up of `config` over configuration 1 at the fixed load (1's / config's). */
export function e2elSpeedups(r: RegimeResult, config: string): number[] {
  const out: number[] = [];
  for (const p of r.fixed.filter((x) => x.config === config)) {
    const b = r.fixed.find((x) => x.config === "round-robin" && x.seed === p.seed);
    if (b) out.push(b.e2el_mean_ms / p.e2el_mean_ms);
  }
  return out;
}

function capacityTable(r: RegimeResult, c: RegimeConfig): string {
  const rows = [
    `| configuration | sessions at p99 TTFT ≤ ${c.sloP99TtftMs} ms | vs 1 | sessions at mean normalized latency ≤ unloaded + ${Math.round(c.latencyTolerance * 100)} % | vs 1 |`,
    "| --- | --- | --- | --- | --- |",
  ];
  for (const cfg of c.configs) {
    const cell = (criterion: "slo" | "latency") => {
      const k = capacities(r, cfg.name, criterion);
      return `${k.bounded ? "≥ " : ""}${withSpread([...k.bySeed.values()])}`;
    };
    rows.push(
      `| ${cfg.label} | ${cell("slo")} | ${withSpread(capacityRatios(r, cfg.name, "slo"), 2, "×")} | ${cell("latency")} | ${withSpread(capacityRatios(r, cfg.name, "latency"), 2, "×")} |`,
    );
  }
  return rows.join("\n") + "\n";
}

/** One row per group of points (a configuration's seeds): means with their spread. */
function fixedTable(
  r: RegimeResult,
  c: RegimeConfig,
  rowLabel: (p: RegimePoint[]) => string,
  groups: RegimePoint[][],
): string {
  const rows = [
    `| ${c.fixedSessionsPerGpu * c.gpus} sessions | TTFT mean ms | TTFT p99 ms | E2EL mean ms | E2EL p99 ms | mean E2EL speed-up vs 1 | normalized latency ms/token | GPU hit, returning turns | warm-ups sent / useful / wasted | recomputed tokens | CPU→GPU GB |`,
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const g of groups) {
    if (g.length === 0) continue;
    const col = (f: (p: RegimePoint) => number, d = 0, s = "") => withSpread(g.map(f), d, s);
    const speedups: number[] = [];
    for (const p of g) {
      const b = r.fixed.find((x) => x.config === "round-robin" && x.seed === p.seed);
      if (b) speedups.push(b.e2el_mean_ms / p.e2el_mean_ms);
    }
    const sum = (f: (p: RegimePoint) => number) => Math.round(g.reduce((a, p) => a + f(p), 0) / g.length);
    rows.push(
      `| ${rowLabel(g)} | ${col((p) => p.ttft_mean_ms)} | ${col((p) => p.ttft_p99_ms)} | ${col((p) => p.e2el_mean_ms)} | ${col((p) => p.e2el_p99_ms)} | ${withSpread(speedups, 2, "×")} | ${col((p) => p.normalized_latency_ms, 1)} | ${col((p) => p.gpu_hit_rate, 3)} | ${sum((p) => p.warmups_sent)} / ${sum((p) => p.warmups_useful)} / ${sum((p) => p.warmups_wasted)} | ${col((p) => p.recomputed_tokens)} | ${col((p) => p.cpu_to_gpu_bytes / 1e9, 1)} |`,
    );
  }
  return rows.join("\n") + "\n";
}

/** Configurations 4 and 5 against 1 in every regime, beside the paper's claims. */
export function headlineTable(results: readonly RegimeResult[], c: RegimeConfig): string {
  const rows = [
    `| regime | 4 vs 1: sessions at p99 TTFT SLO | 4 vs 1: at latency bound | 4 vs 1: mean E2EL speed-up at ${c.fixedSessionsPerGpu * c.gpus} | 5 vs 1: sessions at SLO | 5 vs 1: at latency bound | 5 vs 1: mean E2EL speed-up |`,
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of results) {
    const x = (v: number[]) => withSpread(v, 2, "×");
    rows.push(
      `| ${r.name} | ${x(capacityRatios(r, "warmup", "slo"))} | ${x(capacityRatios(r, "warmup", "latency"))} | ${x(e2elSpeedups(r, "warmup"))} | ${x(capacityRatios(r, "directive", "slo"))} | ${x(capacityRatios(r, "directive", "latency"))} | ${x(e2elSpeedups(r, "directive"))} |`,
    );
  }
  rows.push(
    "| paper (Symphony vs vLLM, Llama-2-13B, A100) | up to 4× requests | (at ~1.3 % latency cost) | up to 2.4× | | | |",
  );
  return rows.join("\n") + "\n";
}

function setup(r: RegimeResult, c: RegimeConfig): string {
  const ch = r.regime.chats;
  return (
    `${r.regime.gpus} × ${r.profile} (mock-vllm profile), KV cache ${r.kvTokensPerGpu.toLocaleString("en")} tokens per GPU ` +
    `(vLLM at 0.9 memory utilization), ${c.cpuOffloadGiB} GiB host memory per GPU for KV = ` +
    `${r.cpuTokensPerGpu.toLocaleString("en")} tokens (configurations 3-5). Users: workloadgen --sharegpt-synth ` +
    `(turns 1 + Geometric(${ch.turnsGeometricP}) ≤ ${ch.maxTurns}, prompts LogNormal(${ch.promptMedianTokens}, ${ch.promptSigma}) ` +
    `in [${ch.promptMinTokens}, ${ch.promptMaxTokens}], replies LogNormal(${ch.replyMedianTokens}, ${ch.replySigma}) in ` +
    `[${ch.replyMinTokens}, ${ch.replyMaxTokens}], chats end before ${ch.maxContextTokens} tokens), --think-time ${r.thinkTime} at real speed. ` +
    `${r.regime.durationS} virtual s per point, first ${r.regime.warmupS} s not counted. Seeds ${c.seeds.join(", ")}. ` +
    `Unloaded vLLM (configuration 1, ${r.unloaded[0]?.sessions ?? 0} sessions, ${r.unloaded[0]?.duration_s ?? 0} virtual s): ` +
    `mean normalized latency ${withSpread(
      r.unloaded.map((u) => u.normalized_latency_ms),
      1,
    )} ms/token, ` +
    `mean E2EL ${withSpread(r.unloaded.map((u) => u.e2el_mean_ms))} ms, p99 TTFT ${withSpread(r.unloaded.map((u) => u.ttft_p99_ms))} ms. Configuration 4: warm-ups ${c.warmupTiming}, ` +
    `hint ETA error ${c.hintEtaError}. ${r.points.length} points measured.\n`
  );
}

/** The whole results.md. */
export function regimeMarkdown(
  c: RegimeConfig,
  results: readonly RegimeResult[],
  startedAt: string,
  wallS: number,
): string {
  const out: string[] = [
    `# paper-regime results (${startedAt}, ${wallS.toFixed(0)} s)\n`,
    "Figures are the mean over seeds with the (min–max) spread; ratios are per seed, then averaged. " +
      "Capacity: the largest session count found by search whose point meets the criterion (≥: none failed up to --search-max).\n",
    `## Headline: configurations 4 and 5 vs configuration 1\n\n${headlineTable(results, c)}`,
  ];
  for (const r of results) {
    out.push(`## ${r.name}\n\n${setup(r, c)}`);
    out.push(`### Capacity\n\n${capacityTable(r, c)}`);
    if (r.fixed.length > 0) {
      const groups = c.configs.map((cfg) => r.fixed.filter((p) => p.config === cfg.name));
      out.push(
        `### At ${c.fixedSessionsPerGpu * c.gpus} sessions (${c.fixedSessionsPerGpu} per GPU${c.fixedSessionsPerGpu === PAPER_USERS_PER_GPU ? ", the paper's load" : ""})\n\n${fixedTable(r, c, (g) => label(g[0]!.config), groups)}`,
      );
    }
    if (r.variants.length > 0) {
      out.push(
        `### Configuration 4: warm-up timing and hint accuracy, at ${c.fixedSessionsPerGpu * c.gpus} sessions\n\n` +
          fixedTable(
            r,
            c,
            (g) => {
              const v = r.variants.find((x) => x.points === g)!;
              return `4, ${v.timing}, ETA error ±${Math.round(v.hintEtaError * 100)} %`;
            },
            r.variants.map((v) => v.points),
          ),
      );
    }
  }
  return out.join("\n");
}

const csvRow = (xs: readonly (string | number)[]) =>
  xs.map((x) => (typeof x === "number" && !Number.isFinite(x) ? "" : String(x))).join(",");

/** One line per regime, configuration, seed and criterion. */
export function capacityCsv(results: readonly RegimeResult[]): string {
  const lines = ["regime,config,seed,criterion,capacity,first_fail,lower_bound,ratio_to_1,probes"];
  for (const r of results)
    for (const k of r.capacities) {
      const base = r.capacities.find(
        (x) => x.config === "round-robin" && x.seed === k.seed && x.criterion === k.criterion,
      );
      const ratio = base && base.search.capacity > 0 ? k.search.capacity / base.search.capacity : NaN;
      lines.push(
        csvRow([
          `"${r.name}"`,
          k.config,
          k.seed,
          k.criterion,
          k.search.capacity,
          k.search.firstFail ?? NaN,
          String(k.search.lowerBound),
          ratio,
          `"${k.search.probes.join(" ")}"`,
        ]),
      );
    }
  return lines.join("\n") + "\n";
}

const POINT_FIELDS = [
  "config",
  "sessions",
  "seed",
  "completed",
  "failed",
  "request_throughput",
  "ttft_mean_ms",
  "ttft_p50_ms",
  "ttft_p99_ms",
  "e2el_mean_ms",
  "e2el_p99_ms",
  "normalized_latency_ms",
  "prefix_cache_hit_rate",
  "gpu_hit_rate",
  "recomputed_tokens",
  "warmups_sent",
  "warmups_useful",
  "warmups_wasted",
  "cpu_to_gpu_bytes",
  "wall_s",
] as const;

/** Every measured point, one line each. */
export function pointsCsv(results: readonly RegimeResult[]): string {
  const lines = [["regime", "warmup_timing", "hint_eta_error", ...POINT_FIELDS].join(",")];
  for (const r of results) {
    const variantOf = new Map<RegimePoint, { timing: string; e: number }>();
    for (const v of r.variants)
      for (const p of v.points) variantOf.set(p, { timing: v.timing, e: v.hintEtaError });
    for (const p of r.points) {
      const v = variantOf.get(p) ?? { timing: r.regime.warmupTiming, e: r.regime.hintEtaError };
      lines.push(csvRow([`"${r.name}"`, v.timing, v.e, ...POINT_FIELDS.map((f) => p[f])]));
    }
  }
  return lines.join("\n") + "\n";
}
