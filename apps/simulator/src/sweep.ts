import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "@symphony/common";
import { prepareOutDir, toJson } from "@symphony/measure";
import { type Logger } from "@symphony/runtime";
import { applySweepValue, resolveConfig, type SimConfig, type SweepAxis } from "./config";
import { sweepChartSvg } from "./output/chart";
import { runSimulation, type SimResult } from "./simulate";
import type { SweepRow } from "./sweep-row";

export type { SweepRow } from "./sweep-row";

/** Every combination of the axes' values, in order (the first axis varies slowest). */
export function combinations(axes: readonly SweepAxis[]): Record<string, string>[] {
  let out: Record<string, string>[] = [{}];
  for (const axis of axes) out = out.flatMap((c) => axis.values.map((v) => ({ ...c, [axis.key]: v })));
  return out;
}

export function rowOf(run: string, params: Record<string, string>, { summary: s }: SimResult): SweepRow {
  let hits = 0;
  let misses = 0;
  for (const n of Object.values(
    s.nodes as Record<string, { hitsGpu: number; hitsCpu: number; misses: number }>,
  )) {
    hits += n.hitsGpu + n.hitsCpu;
    misses += n.misses;
  }
  return {
    run,
    params,
    completed: s.completed,
    failed: s.failed,
    request_throughput: s.request_throughput,
    output_token_throughput: s.output_token_throughput,
    ttft_mean_ms: s.ttft_ms.mean,
    ttft_p50_ms: s.ttft_ms.p50,
    ttft_p99_ms: s.ttft_ms.p99,
    tpot_mean_ms: s.tpot_ms.mean,
    e2el_mean_ms: s.e2el_ms.mean,
    e2el_p99_ms: s.e2el_ms.p99,
    prefix_cache_hit: s.total_prompt_tokens > 0 ? s.total_cached_tokens / s.total_prompt_tokens : 0,
    session_hit_rate: hits + misses > 0 ? hits / (hits + misses) : 0,
    virtual_s: s.sim.virtual_duration_s,
    wall_s: s.sim.wall_time_s,
  };
}

const METRIC_COLUMNS: readonly [keyof SweepRow, string, number][] = [
  ["completed", "done", 0],
  ["failed", "failed", 0],
  ["request_throughput", "req/s", 2],
  ["output_token_throughput", "out tok/s", 1],
  ["ttft_mean_ms", "TTFT mean", 1],
  ["ttft_p99_ms", "TTFT p99", 1],
  ["tpot_mean_ms", "TPOT mean", 2],
  ["e2el_mean_ms", "E2EL mean", 1],
  ["prefix_cache_hit", "cache hit", 3],
  ["session_hit_rate", "sess hit", 3],
  ["wall_s", "wall s", 2],
];

const fmt = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : "n/a");

/** The comparison table for stdout: one line per run, parameters first. */
export function formatSweepTable(rows: readonly SweepRow[], keys: readonly string[]): string {
  const header = [...keys, ...METRIC_COLUMNS.map((c) => c[1])];
  const body = rows.map((r) => [
    ...keys.map((k) => r.params[k] ?? ""),
    ...METRIC_COLUMNS.map(([k, , d]) => fmt(r[k] as number, d)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < keys.length ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n") + "\n";
}

/** CSV with a header line; parameters first, then every metric. */
export function sweepCsv(rows: readonly SweepRow[], keys: readonly string[]): string {
  const metricKeys = Object.keys(rows[0] ?? {}).filter((k) => k !== "params" && k !== "run");
  const esc = (v: string) => (/[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
  const lines = [["run", ...keys, ...metricKeys].join(",")];
  for (const r of rows) {
    const rec = r as unknown as Record<string, unknown>;
    lines.push(
      [
        esc(r.run),
        ...keys.map((k) => esc(r.params[k] ?? "")),
        ...metricKeys.map((k) => {
          const v = rec[k] as number;
          return Number.isFinite(v) ? String(v) : "";
        }),
      ].join(","),
    );
  }
  return lines.join("\n") + "\n";
}

/** Runs every combination of `config.sweep`, one after another, and writes the comparison. */
export async function runSweep(
  config: SimConfig,
  logger: Logger,
  write: (s: string) => void,
): Promise<SweepRow[]> {
  const keys = config.sweep.map((a) => a.key);
  const combos = combinations(config.sweep);
  if (combos.length > 1000) throw new UsageError(`--sweep: ${combos.length} combinations (at most 1000)`);
  if (config.out) prepareOutDir(config.out);
  const rows: SweepRow[] = [];
  for (const params of combos) {
    let overrides = config.overrides;
    for (const k of keys) overrides = applySweepValue(overrides, k, params[k]!);
    const run = keys.map((k) => `${k}=${params[k]}`).join(",");
    const runConfig = resolveConfig(config.file, overrides, {
      configFile: config.configFile,
      out: config.out ? join(config.out, run.replaceAll(/[^A-Za-z0-9=,._-]/g, "_")) : undefined,
      sweep: [],
      progressIntervalS: config.progressIntervalS,
      logLevel: config.logLevel,
    });
    const result = await runSimulation(runConfig, logger);
    const row = rowOf(run, params, result);
    rows.push(row);
    logger.info("sweep run done", { run, ttftMeanMs: row.ttft_mean_ms, reqPerS: row.request_throughput });
  }
  write(formatSweepTable(rows, keys));
  if (config.out) {
    writeFileSync(join(config.out, "sweep.csv"), sweepCsv(rows, keys));
    writeFileSync(
      join(config.out, "sweep.json"),
      toJson({ simulated: true, axes: config.sweep, runs: rows }) + "\n",
    );
    writeFileSync(join(config.out, "sweep.svg"), sweepChartSvg(rows));
    write(`wrote ${join(config.out, "sweep.csv")}, sweep.json, sweep.svg\n`);
  }
  return rows;
}
