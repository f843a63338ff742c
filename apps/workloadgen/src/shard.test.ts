import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseConfig, sendingThreads } from "./config";
import { dryRun } from "./dry-run";
import { parseShard, runnerShare } from "./shard";
import { parseStartAt } from "./run-options";
import { buildWorkload } from "./workload";

let dir: string;
const files: Record<string, string> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "wg-shard-"));
  const write = (name: string, text: string) => {
    files[name] = join(dir, name);
    writeFileSync(files[name], text);
  };
  write(
    "open.yaml",
    [
      "workload: { type: open, total_duration: 30, seed: 7 }",
      "client_profiles:",
      "  - profile_name: chat",
      "    weight: 3",
      "    inter_arrival_time_dist_config: { type: Poisson, rate: 4 }",
      "    prompt_tokens_dist_config: { type: Uniform, low: 10, high: 200, is_int: true }",
      "    max_output_tokens_dist_config: { type: Constant, value: 16 }",
      "    conversational_probability: 0.5",
      "    follow_up_delay_dist_config: { type: Exponential, mean: 2 }",
      "    follow_up_turns_dist_config: { type: Poisson, mean: 2, max: 5 }",
      "  - profile_name: batch",
      "    weight: 1",
      "    inter_arrival_time_dist_config: { type: Poisson, rate: 2 }",
      "    prompt_tokens_dist_config: { type: Constant, value: 64 }",
      "    max_output_tokens_dist_config: { type: Constant, value: 8 }",
      "    conversational_probability: 0",
    ].join("\n"),
  );
  const rows = Array.from(
    { length: 40 },
    (_, i) =>
      `2023-11-16 18:15:${String(10 + i).padStart(2, "0")}.${String(i * 7919).padStart(7, "0")},${100 + i * 13},${1 + (i % 9)}`,
  );
  write("trace.csv", ["TIMESTAMP,ContextTokens,GeneratedTokens", ...rows].join("\n"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A dry run's plan.jsonl lines and plan-summary.json for these flags. */
function plan(args: string[]): { lines: string[]; summary: Record<string, unknown> } {
  const out = mkdtempSync(join(dir, "run-"));
  const config = parseConfig([...args, "--tokenizer", "cl100k", "--dry-run", "--out", out]);
  const write = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  try {
    dryRun(config, buildWorkload(config));
  } finally {
    write.mockRestore();
  }
  const text = readFileSync(join(out, "plan.jsonl"), "utf8");
  return {
    lines: text === "" ? [] : text.trimEnd().split("\n"),
    summary: JSON.parse(readFileSync(join(out, "plan-summary.json"), "utf8")) as Record<string, unknown>,
  };
}

const workloads: [string, () => string[]][] = [
  [
    "closed loop (embedded dataset)",
    () => ["--workload", "closed", "--plan-size", "29", "--num-clients", "5"],
  ],
  ["open loop (client profiles)", () => ["--config", files["open.yaml"]!]],
  ["trace replay (Azure CSV)", () => ["--trace", files["trace.csv"]!]],
  [
    "agent sessions (profiles + sub-agents)",
    () => ["--config", join(__dirname, "..", "examples", "agent.yaml"), "--total-duration", "40"],
  ],
  [
    "agent trace replay",
    () => ["--workload", "agent", "--agent-trace", join(__dirname, "..", "data", "sample-agent-trace.jsonl")],
  ],
];

describe("--shard i/n dry runs", () => {
  it.each(workloads)("%s, 3 shards -> disjoint plans whose union is the single-process plan", (_, args) => {
    const whole = plan(args());
    expect(whole.lines.length).toBeGreaterThanOrEqual(3); // every shard has a session
    const shards = [0, 1, 2].map((i) => plan([...args(), "--shard", `${i}/3`]));
    // Disjoint, and together exactly the whole plan, line for line (same sessions, same arrival times).
    const union = shards.flatMap((s) => s.lines);
    expect(union).toHaveLength(whole.lines.length);
    expect(new Set(union).size).toBe(union.length);
    expect([...union].sort()).toEqual([...whole.lines].sort());
    // Shard i holds the whole plan's sessions i, i + 3, ... in order.
    shards.forEach((s, i) => expect(s.lines).toEqual(whole.lines.filter((_l, k) => k % 3 === i)));
    shards.forEach((s, i) => expect(s.summary.shard).toBe(`${i}/3`));
    expect(whole.summary.shard).toBeUndefined();
  });

  it("1 shard of 1 -> the same plan as no --shard", () => {
    const args = ["--config", files["open.yaml"]!];
    expect(plan([...args, "--shard", "0/1"]).lines).toEqual(plan(args).lines);
  });
});

describe("parseShard", () => {
  it.each([
    ["0/1", { index: 0, count: 1 }],
    ["2/3", { index: 2, count: 3 }],
    [" 4 / 10 ", { index: 4, count: 10 }],
  ])("%s -> %o", (value, want) => expect(parseShard(value)).toEqual(want));

  it.each([
    ["3/3", "0-based index below n"],
    ["1/0", "expected n in [1, 10000]"],
    ["-1/3", "expected i/n"],
    ["1", "expected i/n"],
    ["a/b", "expected i/n"],
  ])("%s -> refused: %s", (value, message) => expect(() => parseShard(value)).toThrow(message));
});

describe("runnerShare", () => {
  it("10 clients, 3 shards x 2 threads -> each client once, ids the run's own, --max-requests split", () => {
    const seen: number[] = [];
    let requests = 0;
    for (let i = 0; i < 3; i++) {
      const shard = { index: i, count: 3 };
      requests += runnerShare({ numClients: 10, maxRequests: 100, shard }).shardMaxRequests;
      for (let w = 0; w < 2; w++) {
        const s = runnerShare({ numClients: 10, maxRequests: 100, shard }, { index: w, count: 2 });
        expect(s.totalClients).toBe(10);
        for (let k = 0; k < s.numClients; k++) seen.push(s.slotOffset + k * s.slotStride);
      }
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, k) => k));
    expect(requests).toBe(100);
  });

  it("no --shard -> the worker threads' old split (thread w: clients w, w + W, ...)", () => {
    expect(runnerShare({ numClients: 7, maxRequests: Infinity }, { index: 1, count: 3 })).toEqual({
      numClients: 2,
      slotOffset: 1,
      slotStride: 3,
      totalClients: 7,
      shardMaxRequests: Infinity,
    });
  });

  it("a shard with fewer clients than --workers -> one thread per client", () => {
    const config = parseConfig([
      "--num-clients",
      "4",
      "--workers",
      "4",
      "--shard",
      "1/3",
      "--tokenizer",
      "cl100k",
    ]);
    expect(sendingThreads(config)).toBe(1);
  });
});

describe("--start-at", () => {
  it.each([
    ["2026-12-06T14:00:00Z", Date.UTC(2026, 11, 6, 14)],
    ["2026-12-06T15:00:00.5+01:00", Date.UTC(2026, 11, 6, 14, 0, 0, 500)],
    ["1796565600", 1796565600_000],
    ["1796565600.25", 1796565600_250],
  ])("%s -> %d ms since the epoch", (value, want) => expect(parseStartAt(value)).toBe(want));

  it.each(["2026-12-06T14:00:00", "tomorrow", "", "-5"])(
    "%j -> refused: a zone or epoch seconds expected",
    (value) => expect(() => parseStartAt(value)).toThrow("expected an ISO 8601 time with its zone"),
  );
});
