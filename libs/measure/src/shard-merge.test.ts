import { describe, expect, it } from "vitest";
import type { RequestRecord } from "./record";
import { MergeError, mergeShardRuns, type ShardRun } from "./shard-merge";
import { requestRecord } from "./testing";

const record = (id: string, sentMs: number, endMs: number): RequestRecord =>
  requestRecord({
    request_id: id,
    session_id: id,
    node_id: "",
    kv_tier: "",
    scheduled_ms: sentMs,
    sent_ms: sentMs,
    first_token_ms: sentMs + 1,
    end_ms: endMs,
    ttft_ms: 1,
    e2el_ms: endMs - sentMs,
    tpot_ms: null,
    itl_ms: [],
    prompt_tokens: 10,
    completion_tokens: 1,
    cached_tokens: 0,
    token_count: 1,
    queue_time_ms: null,
  });

const shard = (
  index: number,
  count: number,
  startEpochMs: number | undefined,
  records: RequestRecord[],
): ShardRun => ({
  name: `dir${index}`,
  summary: {
    shard: { index, count },
    duration_s: 2,
    run_id: `r${index}`,
    stop_reason: "completed",
    config: { workload: "open", seed: 1, numClients: 10 },
    ...(startEpochMs !== undefined
      ? { clock: { schedule_start_epoch_ms: startEpochMs, host: `h${index}` } }
      : {}),
  },
  records,
  serverSamples: [{ t_ms: 5, endpoint: `e${index}`, metrics: {} }],
});

describe("mergeShardRuns", () => {
  it("3 shards started 0, 250 and 40 ms apart -> record times moved by each start's offset, finishing order, offsets reported", () => {
    const m = mergeShardRuns([
      shard(0, 3, 1_000_000, [record("a", 0, 100), record("b", 50, 300)]),
      shard(1, 3, 1_000_250, [record("c", 0, 10)]),
      shard(2, 3, 1_000_040, [record("d", 30, 100)]),
    ]);
    expect(m.shards.map((s) => [s.name, s.offset_ms, s.offset_source, s.host])).toEqual([
      ["dir0", 0, "wall-clock", "h0"],
      ["dir1", 250, "wall-clock", "h1"],
      ["dir2", 40, "wall-clock", "h2"],
    ]);
    expect(m.records.map((r) => [r.request_id, r.sent_ms, r.end_ms, r.first_token_ms])).toEqual([
      ["a", 0, 100, 1],
      ["d", 70, 140, 71],
      ["c", 250, 260, 251],
      ["b", 50, 300, 51],
    ]);
    // Latencies are measured on one clock each: they never move.
    expect(m.records.find((r) => r.request_id === "c")!.e2el_ms).toBe(10);
    expect(m.serverSamples.map((s) => [s.endpoint, s.t_ms])).toEqual([
      ["e0", 5],
      ["e2", 45],
      ["e1", 255],
    ]);
    expect(m.durationS).toBeCloseTo(2.25);
    expect(m.startEpochMs).toBe(1_000_000);
    expect(m.warnings).toEqual([]);
  });

  it("a shard without a clock, a missing shard, a start spread over 1 s -> merged with a warning each", () => {
    const m = mergeShardRuns([
      shard(0, 3, 1_000_000, [record("a", 0, 1)]),
      shard(1, 3, undefined, []),
      shard(2, 3, 1_002_500, []),
    ]);
    expect(m.shards[1]).toMatchObject({ offset_ms: 0, offset_source: "unknown" });
    expect(m.warnings).toEqual([
      "dir1: no clock in summary.json: its records are placed at offset 0 (their alignment is unknown)",
      "shards started up to 2.500 s apart: arrivals of later shards came that much later than planned",
    ]);
    expect(mergeShardRuns([shard(0, 2, 1, [])]).warnings).toEqual([
      "shards 1/2 missing: the merge holds 1 of 2 parts of the run",
    ]);
  });

  it.each([
    ["the same shard twice", [shard(1, 3, 1, []), shard(1, 3, 2, [])], "dir1 and dir1 are both shard 1/3"],
    [
      "different shard counts",
      [shard(0, 3, 1, []), shard(1, 4, 2, [])],
      "dir1 is shard 1/4 but dir0 is one of 3",
    ],
    [
      "a shard and a whole run",
      [shard(0, 3, 1, []), { ...shard(1, 3, 2, []), summary: { duration_s: 1 } }],
      "dir1 is not a shard",
    ],
    [
      "another seed",
      [
        shard(0, 2, 1, []),
        { ...shard(1, 2, 2, []), summary: { ...shard(1, 2, 2, []).summary, config: { seed: 2 } } },
      ],
      "dir1 ran another workload or seed than dir0",
    ],
  ])("%s -> refused, naming the folders", (_, runs, message) => {
    expect(() => mergeShardRuns(runs)).toThrow(MergeError);
    expect(() => mergeShardRuns(runs)).toThrow(message);
  });
});
