import type { RequestRecord } from "./record";
import type { ServerMetricsSample } from "./server-metrics";

/** What merging needs from one shard's results folder. */
export interface ShardRun {
  /** The folder, for messages. */
  name: string;
  /** Its summary.json. */
  summary: Readonly<Record<string, unknown>>;
  records: RequestRecord[];
  serverSamples?: ServerMetricsSample[];
}

/** How one shard was placed on the merged time line. */
export interface ShardPlacement {
  name: string;
  /** `shard.index` / `shard.count`, or null for a run without --shard. */
  index: number | null;
  count: number | null;
  host: string | null;
  run_id: string | null;
  records: number;
  duration_s: number;
  stop_reason: string | null;
  /** Added to this shard's record times: its schedule start minus the earliest shard's (ms). */
  offset_ms: number;
  /** "wall-clock": from `clock.schedule_start_epoch_ms`; "unknown": the folder had no clock, placed at 0. */
  offset_source: "wall-clock" | "unknown";
}

export interface MergedRuns {
  /** Every record, times on the merged time line, in finishing order (as one process writes them). */
  records: RequestRecord[];
  serverSamples: ServerMetricsSample[];
  /** From the earliest schedule start to the last shard's end (s). */
  durationS: number;
  /** The earliest schedule start (ms since the epoch), when any shard knew its clock. */
  startEpochMs: number | undefined;
  shards: ShardPlacement[];
  warnings: string[];
}

/** A merge that cannot be right (mixed shard counts, one shard twice): the message says which folders. */
export class MergeError extends Error {}

/** Shards that started further apart than this (ms) get a warning: open-loop arrivals were shifted by it. */
export const START_SPREAD_WARN_MS = 1000;

interface ClockFacts {
  schedule_start_epoch_ms?: number;
  host?: string;
}
interface ShardFacts {
  index?: number;
  count?: number;
}

const field = <T>(s: Readonly<Record<string, unknown>>, key: string): T | undefined =>
  s[key] as T | undefined;

/** The workload facts that must agree for folders to be parts of one run. */
function runIdentity(s: Readonly<Record<string, unknown>>): string {
  const c = (s.config ?? {}) as Record<string, unknown>;
  return JSON.stringify({ workload: c.workload, seed: c.seed, numClients: c.numClients });
}

/**
 * Puts several shards' records on one time line. Each shard's records count from its own
 * schedule start; its `clock.schedule_start_epoch_ms` says where that start was on its host's
 * wall clock, so shard k's times move by (its start − the earliest start). The error of that
 * is the hosts' clock skew (NTP: typically well under 10 ms on one network); a folder without a
 * clock is placed at 0 with a warning. Records stay as they were measured: only their
 * `scheduled_ms`, `sent_ms`, `first_token_ms` and `end_ms` move.
 *
 * Refused (`MergeError`): folders of different shard counts, the same shard twice, shards of
 * different workloads or seeds. Warned: missing shards, folders that are not shards, shards
 * started more than `START_SPREAD_WARN_MS` apart.
 */
export function mergeShardRuns(runs: readonly ShardRun[]): MergedRuns {
  if (runs.length === 0) throw new MergeError("nothing to merge");
  const warnings: string[] = [];
  const shardOf = (r: ShardRun) => field<ShardFacts>(r.summary, "shard");
  const sharded = runs.filter((r) => shardOf(r) !== undefined);
  if (sharded.length > 0 && sharded.length < runs.length)
    throw new MergeError(
      `${runs.find((r) => !shardOf(r))!.name} is not a shard (no summary.json shard) but ${sharded[0]!.name} is: merge the shards of one run`,
    );
  if (sharded.length === 0)
    warnings.push(
      "these folders are not shards of one run (no --shard): merged as if they had run side by side",
    );
  else {
    const count = shardOf(sharded[0]!)!.count!;
    const seen = new Map<number, string>();
    for (const r of sharded) {
      const s = shardOf(r)!;
      if (s.count !== count)
        throw new MergeError(
          `${r.name} is shard ${s.index}/${s.count} but ${sharded[0]!.name} is one of ${count}`,
        );
      if (seen.has(s.index!))
        throw new MergeError(`${r.name} and ${seen.get(s.index!)} are both shard ${s.index}/${count}`);
      seen.set(s.index!, r.name);
      if (runIdentity(r.summary) !== runIdentity(sharded[0]!.summary))
        throw new MergeError(
          `${r.name} ran another workload or seed than ${sharded[0]!.name} (summary.json config)`,
        );
    }
    const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !seen.has(i));
    if (missing.length > 0)
      warnings.push(
        `shards ${missing.map((i) => `${i}/${count}`).join(", ")} missing: the merge holds ${seen.size} of ${count} parts of the run`,
      );
  }

  const starts = runs.map((r) => field<ClockFacts>(r.summary, "clock")?.schedule_start_epoch_ms);
  const known = starts.filter((s): s is number => typeof s === "number" && Number.isFinite(s));
  const earliest = known.length > 0 ? Math.min(...known) : undefined;
  const shards: ShardPlacement[] = runs.map((r, k) => {
    const start = starts[k];
    const knows = typeof start === "number" && Number.isFinite(start);
    if (!knows)
      warnings.push(
        `${r.name}: no clock in summary.json: its records are placed at offset 0 (their alignment is unknown)`,
      );
    const s = shardOf(r);
    return {
      name: r.name,
      index: s?.index ?? null,
      count: s?.count ?? null,
      host: field<ClockFacts>(r.summary, "clock")?.host ?? null,
      run_id: field<string>(r.summary, "run_id") ?? null,
      records: r.records.length,
      duration_s: Number(field<number>(r.summary, "duration_s") ?? 0),
      stop_reason: field<string>(r.summary, "stop_reason") ?? null,
      offset_ms: knows && earliest !== undefined ? start - earliest : 0,
      offset_source: knows ? "wall-clock" : "unknown",
    };
  });
  const spread = Math.max(...shards.map((s) => s.offset_ms));
  if (spread > START_SPREAD_WARN_MS)
    warnings.push(
      `shards started up to ${(spread / 1000).toFixed(3)} s apart: arrivals of later shards came that much later than planned`,
    );

  const records: RequestRecord[] = [];
  const serverSamples: ServerMetricsSample[] = [];
  runs.forEach((r, k) => {
    const off = shards[k]!.offset_ms;
    for (const rec of r.records)
      records.push(
        off === 0
          ? rec
          : {
              ...rec,
              scheduled_ms: rec.scheduled_ms + off,
              sent_ms: rec.sent_ms + off,
              first_token_ms: rec.first_token_ms === null ? null : rec.first_token_ms + off,
              end_ms: rec.end_ms + off,
            },
      );
    for (const s of r.serverSamples ?? []) serverSamples.push({ ...s, t_ms: s.t_ms + off });
  });
  // Finishing order, as one process appends them; ties keep shard order (a stable sort).
  records.sort((a, b) => a.end_ms - b.end_ms);
  serverSamples.sort((a, b) => a.t_ms - b.t_ms);
  const durationS = Math.max(...shards.map((s) => s.offset_ms / 1000 + s.duration_s));
  return { records, serverSamples, durationS, startEpochMs: earliest, shards, warnings };
}
