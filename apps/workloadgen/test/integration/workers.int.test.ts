import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundlePath, runCli, spawnService, type RunningService } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeScheduler, type FakeScheduler } from "./fake-scheduler";
import { prometheusCounter, readRequestLines, readSummary, signalMidRun } from "./run-output";

/**
 * `--workers N`: the plan split across worker threads must send the same requests
 * as one thread and measure them as exactly, against the real mock engine.
 */

interface Line {
  request_id: string;
  client_id: string;
  session_id: string;
  turn_index: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  token_count: number;
  error: string | null;
}

const readLines = (dir: string) => readRequestLines<Line>(dir);
const counter = prometheusCounter;

/** A fixed open-loop plan: ~40 sessions in 1 s, half of them with follow-up turns. */
const PLAN = `workload: { type: open, total_duration: 1, seed: 11 }
client_profiles:
  - profile_name: mix
    weight: 1
    inter_arrival_time_dist_config: { type: Poisson, rate: 40 }
    prompt_tokens_dist_config: { type: Uniform, low: 20, high: 200, is_int: true }
    max_output_tokens_dist_config: { type: Uniform, low: 2, high: 12, is_int: true }
    conversational_probability: 0.5
    follow_up_turns_dist_config: { type: Constant, value: 2 }
    follow_up_delay_dist_config: { type: Exponential, mean: 0.1 }
    streaming_response_probability: 1
`;

const key = (l: Line) => `${l.session_id}#${l.turn_index}`;

describe("workloadgen --workers 2 vs --workers 1 (same seed, mock-vllm)", () => {
  let mock: RunningService;
  let root: string;
  const runs: Record<
    string,
    { dir: string; code: number | null; stderr: string; tokens: Record<string, number> }
  > = {};
  const COUNTERS = [
    "vllm:prompt_tokens_total",
    "vllm:generation_tokens_total",
    "vllm:prefix_cache_hits_total",
  ];
  const mockCounters = async () => {
    const text = await (await fetch(`http://127.0.0.1:${mock.ports.http}/metrics`)).text();
    return Object.fromEntries(COUNTERS.map((name) => [name, counter(text, name)]));
  };

  beforeAll(async () => {
    mock = await spawnService(
      "mock-vllm",
      bundlePath("mock-vllm"),
      ["--port", "0", "--time-scale", "20", "--enable-prompt-tokens-details"],
      ["http"],
    );
    root = mkdtempSync(join(tmpdir(), "wg-workers-"));
    const plan = join(root, "plan.yaml");
    writeFileSync(plan, PLAN);
    // One after the other, so the mock's counters can be split by run.
    for (const workers of ["1", "2"]) {
      const dir = join(root, `w${workers}`);
      const before = await mockCounters();
      const run = await runCli(bundlePath("workloadgen"), [
        "--config",
        plan,
        "--target",
        `http://127.0.0.1:${mock.ports.http}/v1`,
        "--workers",
        workers,
        "--out",
        dir,
      ]);
      const after = await mockCounters();
      runs[workers] = {
        dir,
        code: run.code,
        stderr: run.stderr,
        tokens: Object.fromEntries(COUNTERS.map((name) => [name, after[name]! - before[name]!])),
      };
    }
  }, 120_000);
  afterAll(async () => {
    await mock?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("both runs -> exit 0, no failed request", () => {
    for (const run of Object.values(runs)) {
      expect(run.code, run.stderr).toBe(0);
      expect(readLines(run.dir).filter((l) => l.error !== null)).toEqual([]);
    }
  });

  it("2 workers -> the same requests (session, turn) as 1, each once, with the same planned tokens", () => {
    const one = readLines(runs["1"]!.dir);
    const two = readLines(runs["2"]!.dir);
    expect(one.length).toBeGreaterThan(20);
    expect(two.map(key).sort()).toEqual(one.map(key).sort());
    expect(new Set(two.map(key)).size).toBe(two.length);
    const byKey = new Map(one.map((l) => [key(l), l]));
    for (const l of two) {
      const o = byKey.get(key(l))!;
      // Output lengths are planned (ignore_eos); first-turn prompts are synthesized exactly.
      expect(l.completion_tokens).toBe(o.completion_tokens);
      if (l.turn_index === 0) expect(l.prompt_tokens).toBe(o.prompt_tokens);
    }
    // Request ids stay unique across the workers.
    expect(new Set(two.map((l) => l.request_id)).size).toBe(two.length);
  });

  it.each(["1", "2"])("--workers %s -> token totals equal the mock's own counters", (workers) => {
    const run = runs[workers]!;
    const lines = readLines(run.dir);
    const sum = (f: (l: Line) => number) => lines.reduce((a, l) => a + f(l), 0);
    expect(sum((l) => l.prompt_tokens)).toBe(run.tokens["vllm:prompt_tokens_total"]);
    expect(sum((l) => l.completion_tokens)).toBe(run.tokens["vllm:generation_tokens_total"]);
    expect(sum((l) => l.cached_tokens)).toBe(run.tokens["vllm:prefix_cache_hits_total"]);
    // Every streamed chunk counted once: the streamed count equals the server's usage.
    for (const l of lines) expect(l.token_count).toBe(l.completion_tokens);
  });

  it("--workers 2 -> summary counts every request and reports each worker's event-loop delay", () => {
    const s = readSummary(runs["2"]!.dir);
    expect(s.completed).toBe(readLines(runs["2"]!.dir).length);
    expect(s.config.workers).toBe(2);
    expect(s.event_loop_delay_ms.sending_threads).toBe(2);
    const threads = (s.event_loop_delay_ms.threads as { thread: string; p99: number }[]).map((t) => t.thread);
    expect(threads).toEqual(["worker 0", "worker 1", "main (collects only)"]);
    expect(s.event_loop_delay_ms.p99).toBe(
      Math.max(...s.event_loop_delay_ms.threads.slice(0, 2).map((t: { p99: number }) => t.p99)),
    );
  });

  it("closed loop, --workers 3 --max-requests 25 -> exactly 25 requests, clients unique run-wide", async () => {
    const dir = join(root, "closed");
    const run = await runCli(bundlePath("workloadgen"), [
      "--target",
      `http://127.0.0.1:${mock.ports.http}/v1`,
      "--workers",
      "3",
      "--num-clients",
      "5",
      "--max-requests",
      "25",
      "--time-scale",
      "1000",
      "--max-output-tokens",
      "8",
      "--send-expected-response",
      "--out",
      dir,
    ]);
    expect(run.code, run.stderr).toBe(0);
    const lines = readLines(dir);
    expect(lines).toHaveLength(25);
    expect(readSummary(dir).stop_reason).toBe("completed");
    const clients = new Set(lines.map((l) => l.client_id));
    expect([...clients].every((c) => /^client-[0-4]$/.test(c))).toBe(true);
    expect(clients.size).toBe(5);
  }, 60_000);

  it("SIGTERM mid-run with --workers 2 -> partial requests.jsonl + summary + report, exit 143", async () => {
    const dir = join(root, "sigterm");
    const { code, stderr } = await signalMidRun(
      [
        "--target",
        `http://127.0.0.1:${mock.ports.http}/v1`,
        "--workers",
        "2",
        "--num-clients",
        "4",
        "--duration",
        "60",
        "--time-scale",
        "1000",
        "--max-output-tokens",
        "64",
        "--grace",
        "1",
        "--progress-interval",
        "0.2",
        "--out",
        dir,
      ],
      "SIGTERM",
    );
    expect(code, stderr).toBe(143);
    const s = readSummary(dir);
    expect(s.stop_reason).toBe("signal SIGTERM");
    expect(s.completed).toBeGreaterThan(0);
    expect(readLines(dir).length).toBe(s.completed + s.failed);
    expect(existsSync(join(dir, "report.html"))).toBe(true);
  }, 60_000);
});

describe("workloadgen --workers 2 -> the Symphony scheduler over gRPC (fake scheduler)", () => {
  let fake: FakeScheduler;
  let dir: string;
  let run: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    fake = await startFakeScheduler();
    dir = mkdtempSync(join(tmpdir(), "wg-workers-grpc-"));
    run = await runCli(bundlePath("workloadgen"), [
      "--target",
      `grpc://127.0.0.1:${fake.server.port}`,
      "--workers",
      "2",
      "--num-clients",
      "4",
      "--max-requests",
      "30",
      "--time-scale",
      "1000",
      "--out",
      dir,
    ]);
  }, 60_000);
  afterAll(async () => {
    await fake?.server.stop(100);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("run -> exactly 30 submits, one record each, hints and closes from both workers", () => {
    expect(run.code, run.stderr).toBe(0);
    expect(fake.submits).toHaveLength(30);
    const lines = readLines(dir);
    expect(lines.map((l) => l.request_id).sort()).toEqual(fake.submits.map((r) => r.requestId).sort());
    expect(new Set(lines.map((l) => l.request_id.split("-")[1])).size).toBe(2);
    const s = readSummary(dir);
    // Advise counters summed over the workers: one per hinted turn that the fake accepted.
    expect(s.hints.hintsAccepted).toBe(fake.hints.length);
    expect(fake.hints.length).toBeGreaterThan(0);
    expect(fake.closes.length).toBeGreaterThan(0);
  });
});
