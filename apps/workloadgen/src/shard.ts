import { hostname } from "node:os";
import { InvalidArgumentError } from "commander";
import { shareOf } from "./domain";

/**
 * `--shard i/n`: this process plays part `index` (0-based, as Kubernetes' JOB_COMPLETION_INDEX)
 * of `count` parts of the run. Every shard builds the same seeded plan and keeps every n-th
 * session (sessions are the unit: a session's turns and sub-agents stay together), so the
 * shards' plans together are the single-process plan, with arrival times unchanged.
 */
export interface Shard {
  index: number;
  count: number;
}

/** Most shards: a bound that catches typos (`--shard 1/10000000`), far above any fleet. */
export const MAX_SHARDS = 10_000;

/** Commander parser for `--shard i/n` (0 <= i < n). */
export function parseShard(value: string): Shard {
  const m = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  if (!m)
    throw new InvalidArgumentError(`expected i/n with 0 <= i < n (0-based index, e.g. 0/3), got "${value}"`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || count > MAX_SHARDS)
    throw new InvalidArgumentError(`expected n in [1, ${MAX_SHARDS}], got "${value}"`);
  if (index >= count)
    throw new InvalidArgumentError(
      `expected a 0-based index below n (shards of ${count} are 0/${count} ... ${count - 1}/${count}), got "${value}"`,
    );
  return { index, count };
}

/** The whole run as one shard. */
export const WHOLE: Shard = { index: 0, count: 1 };

/**
 * One sending runner's part of a closed loop's clients and of the run's `--max-requests`, for
 * thread `thread` of this shard's sending threads: shard i of n holds the run's clients
 * i, i + n, ...; its thread w of W holds every W-th of those. Client ids stay the run's own.
 */
export interface RunnerShare {
  /** Closed-loop clients this runner keeps active. */
  numClients: number;
  /** Its slot k is the run's client `slotOffset + k * slotStride`. */
  slotOffset: number;
  slotStride: number;
  /** Clients of the whole run (the ramp-up spreads all of them). */
  totalClients: number;
  /** This shard's part of --max-requests (Infinity = no cap). */
  shardMaxRequests: number;
}

export function runnerShare(
  config: { numClients: number; maxRequests: number; shard?: Shard | undefined },
  thread: Shard = WHOLE,
): RunnerShare {
  const shard = config.shard ?? WHOLE;
  const shardClients = shareOf(config.numClients, shard.index, shard.count);
  return {
    numClients: shareOf(shardClients, thread.index, thread.count),
    slotOffset: shard.index + thread.index * shard.count,
    slotStride: shard.count * thread.count,
    totalClients: config.numClients,
    // A cap on the whole run cannot be shared between machines: each shard stops at its part.
    shardMaxRequests: Number.isFinite(config.maxRequests)
      ? shareOf(config.maxRequests, shard.index, shard.count)
      : Infinity,
  };
}

/**
 * What `summary.json` says about a run's clocks (`clock`), so `workloadgen merge` can put several
 * shards' records on one time line. Record times (`sent_ms`, `end_ms`, ...) count from the
 * schedule's start on a monotonic clock; `schedule_start_epoch_ms` is that instant on this host's
 * wall clock, so shards on different machines line up to within their clocks' skew (NTP).
 */
export interface RunClock {
  host: string;
  pid: number;
  /** The schedule's start (record times' zero), wall clock, ms since the epoch (sub-ms precision). */
  schedule_start_epoch_ms: number;
  /** The same instant as an ISO string, for people. */
  schedule_start: string;
  /** The same instant on this process's monotonic clock (performance.now(), ms). */
  monotonic_base_ms: number;
  /** The monotonic clock's origin on the wall clock (performance.timeOrigin, ms since the epoch). */
  time_origin_epoch_ms: number;
  /**
   * Date.now() - (timeOrigin + performance.now()) when the run ended: how far the wall clock has
   * moved away from the monotonic one since the process started (NTP steps and slews), ms.
   */
  wall_minus_monotonic_ms: number;
}

/** This run's clock facts, given the schedule's start on the monotonic clock (`performance.now()` ms). */
export function runClock(monotonicStartMs: number): RunClock {
  const epoch = performance.timeOrigin + monotonicStartMs;
  return {
    host: hostname(),
    pid: process.pid,
    schedule_start_epoch_ms: epoch,
    schedule_start: new Date(epoch).toISOString(),
    monotonic_base_ms: monotonicStartMs,
    time_origin_epoch_ms: performance.timeOrigin,
    wall_minus_monotonic_ms: Date.now() - (performance.timeOrigin + performance.now()),
  };
}
