import { existsSync, readFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { Command } from "commander";
import { UsageError } from "@symphony/common";
import {
  formatSummaryTable,
  prepareOutDir,
  requestLine,
  RunOutputs,
  MergeError,
  mergeShardRuns,
  SessionPanelAccumulator,
  summarizeServerMetrics,
  SummaryAccumulator,
  type RequestRecord,
  type ServerMetricsSample,
  type ShardRun,
  type Slo,
} from "@symphony/measure";
import { AgentReportAccumulator, formatAgentReport } from "./domain";

/** Lines of a JSONL file, parsed; a bad line is one UsageError naming the file and line. */
export function readJsonl<T>(path: string): T[] {
  const out: T[] = [];
  const lines = readFileSync(path, "utf8").split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      out.push(JSON.parse(line) as T);
    } catch (err) {
      throw new UsageError(`${path}:${i + 1}: not JSON (${(err as Error).message})`);
    }
  });
  return out;
}

/** A results folder: summary.json and requests.jsonl (required), server-metrics.jsonl (if any). */
export function readRunFolder(dir: string): ShardRun {
  const summaryPath = join(dir, "summary.json");
  const recordsPath = join(dir, "requests.jsonl");
  for (const [path, what] of [
    [summaryPath, "summary.json"],
    [recordsPath, "requests.jsonl"],
  ] as const)
    if (!existsSync(path))
      throw new UsageError(`${dir}: no ${what} (not the --out folder of a workloadgen run)`);
  let summary: Record<string, unknown>;
  try {
    summary = JSON.parse(readFileSync(summaryPath, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`${summaryPath}: not JSON (${(err as Error).message})`);
  }
  const records = readJsonl<RequestRecord & { itl_count?: number }>(recordsPath).map((r) => {
    delete r.itl_count; // derived: requestLine writes it again
    return r as RequestRecord;
  });
  const serverPath = join(dir, "server-metrics.jsonl");
  return {
    name: dir,
    summary,
    records,
    ...(existsSync(serverPath) ? { serverSamples: readJsonl<ServerMetricsSample>(serverPath) } : {}),
  };
}

/** Sums numeric fields of several objects (Advise counters). */
function sumCounters(objects: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const o of objects)
    for (const [k, v] of Object.entries((o ?? {}) as Record<string, unknown>))
      if (typeof v === "number") out[k] = ((out[k] as number | undefined) ?? 0) + v;
      else if (!(k in out)) out[k] = v;
  return out;
}

/**
 * `workloadgen merge DIR... --out DIR`: the shards' folders (`--shard i/n`) as one results
 * folder. The summary is built by the same code a run uses, fed the union of every shard's
 * requests.jsonl on one time line (see `mergeShardRuns`), so its percentiles are those of the
 * union of records (exact up to --exact-records, as in a run), never a mix of the shards'
 * percentiles. Writes summary.json (with `merged`: each shard's clock offset), summary.csv,
 * requests.jsonl, report.html and server-metrics.jsonl (if the shards scraped any).
 */
export async function mergeMain(argv: readonly string[]): Promise<void> {
  const program = new Command("workloadgen merge")
    .description("merge the results folders of `workloadgen --shard i/n` runs into one")
    .argument("<dirs...>", "the shards' --out folders")
    .requiredOption("--out <dir>", "write the merged results here")
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.parse([...argv], { from: "user" });
  const dirs = program.args;
  const out = program.opts<{ out: string }>().out;
  if (new Set(dirs.map((d) => resolve(d))).size < dirs.length)
    throw new UsageError("merge: a folder is given twice");
  if (dirs.some((d) => resolve(d) === resolve(out)))
    throw new UsageError(`merge: --out ${out} is one of the folders merged: choose another`);
  const runs = dirs.map(readRunFolder);
  let merged;
  try {
    merged = mergeShardRuns(runs);
  } catch (err) {
    if (err instanceof MergeError) throw new UsageError(`merge: ${err.message}`);
    throw err;
  }
  const first = runs[0]!.summary;
  const config = { ...((first.config ?? {}) as Record<string, unknown>) };
  delete config.shard;
  const results = new SummaryAccumulator(1_000_000, Number(config.seed ?? 0), true, {
    slo: (config.slo ?? {}) as Slo,
    warmupS: Number(config.warmup ?? 0),
    cooldownS: Number(config.cooldown ?? 0),
    ...(typeof config.exactRecords === "number" ? { exactRecords: config.exactRecords } : {}),
  });
  const agents = new AgentReportAccumulator(
    typeof config.exactRecords === "number" ? config.exactRecords : undefined,
  );
  const sessions = new SessionPanelAccumulator(
    config.hints === true && (first.target as { kind?: string } | undefined)?.kind === "grpc",
    typeof config.exactRecords === "number" ? config.exactRecords : undefined,
  );
  let agentRecords = 0;
  for (const r of merged.records) {
    results.add(r);
    agents.add(r);
    sessions.add(r);
    if (r.session_kind !== undefined && r.session_kind !== "chat") agentRecords++;
  }
  const warnings = [
    ...merged.warnings,
    ...runs.flatMap((r) => ((r.summary.warnings ?? []) as string[]).map((w) => `${basename(r.name)}: ${w}`)),
  ];
  const stopReasons = [...new Set(merged.shards.map((s) => s.stop_reason))];
  const workloadInfo = { ...((first.workload_info ?? {}) as Record<string, unknown>) };
  delete workloadInfo.shard;
  const summary = {
    ...results.summary(merged.durationS),
    started_at:
      merged.startEpochMs !== undefined ? new Date(merged.startEpochMs).toISOString() : first.started_at,
    merged: {
      clock_alignment:
        "record times moved by each shard's schedule start (clock.schedule_start_epoch_ms) minus the earliest; " +
        "error: the hosts' wall-clock skew",
      start_epoch_ms: merged.startEpochMs ?? null,
      shards: merged.shards,
    },
    run_id: merged.shards.map((s) => s.run_id).join("+"),
    stop_reason: stopReasons.length === 1 ? stopReasons[0] : stopReasons.join(", "),
    target: first.target,
    event_loop_delay_ms: {
      shards: runs.map((r) => ({ shard: r.name, ...((r.summary.event_loop_delay_ms ?? {}) as object) })),
    },
    hints: sumCounters(runs.map((r) => r.summary.hints)),
    workload_info: workloadInfo,
    ...(agentRecords > 0 ? { agents: agents.summary() } : {}),
    sessions: sessions.result(),
    ...(merged.serverSamples.length > 0
      ? {
          server_metrics: {
            file: "server-metrics.jsonl",
            endpoints: summarizeServerMetrics(merged.serverSamples),
          },
        }
      : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
    config,
  };
  prepareOutDir(out);
  process.stdout.write(formatSummaryTable(summary, "Merged Serving Benchmark Result"));
  if (summary.agents) process.stdout.write(formatAgentReport(summary.agents) + "\n");
  for (const w of warnings) process.stdout.write(`warning: ${w}\n`);
  const offsets = merged.shards.map((s) => `${basename(s.name)} ${s.offset_ms.toFixed(3)} ms`).join(", ");
  process.stdout.write(`clock offsets used: ${offsets}\n`);
  const outputs = new RunOutputs(out);
  for (const r of merged.records) outputs.writeRequestLine(requestLine(r));
  outputs.writeSummary(
    summary,
    results.chartSource(summary.duration_s),
    "workloadgen report (merged shards)",
    merged.serverSamples,
  );
}
