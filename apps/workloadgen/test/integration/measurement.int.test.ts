import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bundlePath,
  runCli,
  spawnService,
  startLocalStack,
  type LocalStack,
  type RunningService,
} from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkPage, hasChromium } from "./browser";
import { prometheusCounter, readRequestLines, readSummary, signalMidRun } from "./run-output";

/**
 * The mock's step time with every roofline coefficient at 0 except the fixed per-step overhead:
 * every engine step (the prefill step, then each decode step) lasts exactly STEP_MS, so a lone
 * request has TTFT ≈ STEP_MS and TPOT = ITL ≈ STEP_MS.
 */
const STEP_MS = 250;
const FIXED_STEP_ARGS = [
  "--step-overhead-us",
  String(STEP_MS * 1000),
  "--per-seq-us",
  "0",
  "--weight-read-us",
  "0",
  "--kv-read-us-per-token",
  "0",
  "--prefill-us-per-token",
  "0",
  "--attention-us-per-pair",
  "0",
];
const REQUESTS = 6;

interface Line {
  request_id: string;
  ttft_ms: number;
  e2el_ms: number;
  tpot_ms: number | null;
  itl_ms: number[];
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  token_count: number;
  usage_source: string;
  scheduled_ms: number;
  sent_ms: number;
  error: string | null;
}

const readLines = (dir: string) => readRequestLines<Line>(dir);
const counter = prometheusCounter;

/** The mock's own mean TTFT (its vllm:time_to_first_token_seconds histogram), ms. */
const serverTtftMeanMs = (metrics: string) =>
  (counter(metrics, "vllm:time_to_first_token_seconds_sum") /
    counter(metrics, "vllm:time_to_first_token_seconds_count")) *
  1000;

/** One user, replies of at most 8 tokens, think times compressed away: requests run one at a time. */
const sequentialArgs = (out: string) => [
  "--num-clients",
  "1",
  "--max-requests",
  String(REQUESTS),
  "--max-output-tokens",
  "8",
  "--time-scale",
  "1000",
  "--seed",
  "3",
  "--out",
  out,
];

describe("workloadgen -> mock-vllm over HTTP (fixed step time)", () => {
  let mock: RunningService;
  let dir: string;
  let run: { code: number | null; stdout: string; stderr: string };
  let mockMetrics: string;

  beforeAll(async () => {
    mock = await spawnService(
      "mock-vllm",
      bundlePath("mock-vllm"),
      ["--port", "0", "--enable-prompt-tokens-details", ...FIXED_STEP_ARGS],
      ["http"],
    );
    dir = mkdtempSync(join(tmpdir(), "wg-http-"));
    run = await runCli(bundlePath("workloadgen"), [
      "--target",
      `http://127.0.0.1:${mock.ports.http}/v1`,
      "--send-expected-response",
      "--slo",
      `ttft=${STEP_MS * 3}ms,tpot=${STEP_MS * 2}ms`,
      "--session-id-header",
      "x-session-id",
      ...sequentialArgs(dir),
    ]);
    mockMetrics = await (await fetch(`http://127.0.0.1:${mock.ports.http}/metrics`)).text();
  });
  afterAll(async () => {
    await mock?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("run -> exit 0, every request ok, one requests.jsonl line each", () => {
    expect(run.code, run.stderr).toBe(0);
    const lines = readLines(dir);
    expect(lines).toHaveLength(REQUESTS);
    expect(lines.filter((l) => l.error !== null)).toEqual([]);
  });

  it("TTFT and TPOT -> the mock's step time within 10%", () => {
    const s = readSummary(dir);
    expect(s.ttft_ms.p50).toBeGreaterThan(STEP_MS * 0.9);
    expect(s.ttft_ms.p50).toBeLessThan(STEP_MS * 1.1);
    expect(s.tpot_ms.mean).toBeGreaterThan(STEP_MS * 0.9);
    expect(s.tpot_ms.mean).toBeLessThan(STEP_MS * 1.1);
    expect(s.itl_ms.p50).toBeGreaterThan(STEP_MS * 0.9);
    expect(s.itl_ms.p50).toBeLessThan(STEP_MS * 1.1);
    // The server's own mean TTFT is the step plus its few ms of request handling: the client's
    // median sits between the step and that (its mean also carries the cold first request).
    expect(s.ttft_ms.p50).toBeLessThan(serverTtftMeanMs(mockMetrics) * 1.1);
  });

  it("token counts -> equal to the server's own counters; usage from the server, not counted", () => {
    const lines = readLines(dir);
    const sum = (f: (l: Line) => number) => lines.reduce((a, l) => a + f(l), 0);
    expect(sum((l) => l.prompt_tokens)).toBe(counter(mockMetrics, "vllm:prompt_tokens_total"));
    expect(sum((l) => l.completion_tokens)).toBe(counter(mockMetrics, "vllm:generation_tokens_total"));
    expect(sum((l) => l.cached_tokens)).toBe(counter(mockMetrics, "vllm:prefix_cache_hits_total"));
    for (const l of lines) {
      expect(l.usage_source).toBe("server");
      // One SSE chunk per token: the streamed tokens are the usage's completion tokens.
      expect(l.token_count).toBe(l.completion_tokens);
      expect(l.itl_ms).toHaveLength(l.completion_tokens - 1);
      // TPOT's definition: (E2EL - TTFT) / (output tokens - 1); the ITLs span first to last token,
      // so their sum is at most E2EL - TTFT (the rest is the usage chunk and [DONE]).
      expect(l.tpot_ms! * (l.completion_tokens - 1)).toBeCloseTo(l.e2el_ms - l.ttft_ms, 6);
      expect(l.itl_ms.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(l.e2el_ms - l.ttft_ms + 1e-6);
    }
    expect(readSummary(dir).usage_client_counted).toBe(0);
  });

  it("summary -> goodput, per-turn breakdown (later turns hit the prefix cache), send rate, loop delay", () => {
    const s = readSummary(dir);
    expect(s.goodput.slo_ms).toEqual({ ttft: STEP_MS * 3, tpot: STEP_MS * 2 });
    expect(s.goodput.good_requests).toBeLessThanOrEqual(s.completed);
    expect(s.goodput.good_requests).toBeGreaterThan(0);
    expect(s.by_turn_index["0"].completed).toBeGreaterThan(0);
    expect(s.by_turn_index["1"].cached_token_fraction).toBeGreaterThan(
      s.by_turn_index["0"].cached_token_fraction,
    );
    expect(s.send_rate.achieved_rps).toBeGreaterThan(0);
    expect(s.event_loop_delay_ms.max).toBeGreaterThan(0);
    expect(s.target).toMatchObject({
      kind: "http",
      endpoint: "chat",
      model: "meta-llama/Llama-3.1-8B-Instruct",
    });
    expect(s.hints.hintsUnsupported).toBeGreaterThan(0);
    expect(s.hints.note).toMatch(/not delivered/);
  });

  it("summary.csv -> long format with the headline metrics", () => {
    const csv = readFileSync(join(dir, "summary.csv"), "utf8").split("\n");
    expect(csv[0]).toBe("scope,metric,stat,value");
    expect(csv).toContain(`all,completed,value,${REQUESTS}`);
    expect(csv.some((l) => l.startsWith("all,ttft_ms,p999,"))).toBe(true);
    expect(csv.some((l) => l.startsWith("turn:0,ttft_ms,p50,"))).toBe(true);
  });

  it.skipIf(!hasChromium)(
    "report.html in headless Chromium -> loads offline, draws every chart, no console errors",
    async () => {
      const page = await checkPage(join(dir, "report.html"));
      expect(page.errors).toEqual([]);
      // 7 from the records, TTFT and cached share by turn index from the summary.
      expect(page.chartsRendered).toBe(9);
      expect(page.canvases).toHaveLength(9);
      // Every chart drew its series in the series colour, not just axes.
      for (const pixels of page.seriesPixels) expect(pixels).toBeGreaterThan(50);
    },
  );
});

describe("workloadgen -> scheduler -> node-scheduler -> mock-vllm (gRPC, fixed step time)", () => {
  let stack: LocalStack;
  let dir: string;
  let run: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    stack = await startLocalStack({ nodes: 1, mockArgs: FIXED_STEP_ARGS });
    dir = mkdtempSync(join(tmpdir(), "wg-grpc-"));
    run = await runCli(bundlePath("workloadgen"), [
      "--target",
      `grpc://${stack.schedulerAddress}`,
      ...sequentialArgs(dir),
    ]);
  });
  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("TTFT and TPOT through the scheduler -> within 10% of the engine's; usage from the server", async () => {
    expect(run.code, run.stderr).toBe(0);
    const s = readSummary(dir);
    expect(s.completed).toBe(REQUESTS);
    const metrics = await (await fetch(`http://127.0.0.1:${stack.mocks[0]!.ports.http}/metrics`)).text();
    // Two gRPC hops and the node scheduler add a few ms to the engine's TTFT; the step dominates.
    expect(s.ttft_ms.p50).toBeGreaterThan(STEP_MS * 0.9);
    expect(s.ttft_ms.p50).toBeLessThan(STEP_MS * 1.1);
    expect(s.ttft_ms.p50).toBeGreaterThan(serverTtftMeanMs(metrics) * 0.9);
    expect(s.tpot_ms.mean).toBeGreaterThan(STEP_MS * 0.9);
    expect(s.tpot_ms.mean).toBeLessThan(STEP_MS * 1.1);
    const lines = readLines(dir);
    expect(lines.reduce((a, l) => a + l.completion_tokens, 0)).toBe(
      counter(metrics, "vllm:generation_tokens_total"),
    );
    expect(lines.reduce((a, l) => a + l.prompt_tokens, 0)).toBe(counter(metrics, "vllm:prompt_tokens_total"));
    expect(s.hints.hintsAccepted).toBeGreaterThan(0);
  });
});

describe("workloadgen stop rules against a failing / slow mock", () => {
  let failing: RunningService;
  let slow: RunningService;
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), "wg-stop-"));
    dirs.push(d);
    return d;
  };

  beforeAll(async () => {
    [failing, slow] = await Promise.all([
      spawnService(
        "mock-failing",
        bundlePath("mock-vllm"),
        ["--port", "0", "--fault-error-rate", "1"],
        ["http"],
      ),
      spawnService("mock-slow", bundlePath("mock-vllm"), ["--port", "0", ...FIXED_STEP_ARGS], ["http"]),
    ]);
  });
  afterAll(async () => {
    await Promise.all([failing?.stop(), slow?.stop()]);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("--max-errors 3, every request failing -> stops early, failures by type, exit 0", async () => {
    const dir = tempDir();
    const res = await runCli(bundlePath("workloadgen"), [
      "--target",
      `http://127.0.0.1:${failing.ports.http}/v1`,
      "--num-clients",
      "2",
      "--max-errors",
      "3",
      "--max-requests",
      "200",
      "--time-scale",
      "1000",
      "--out",
      dir,
    ]);
    expect(res.code, res.stderr).toBe(0);
    const s = readSummary(dir);
    expect(s.stop_reason).toBe("max-errors");
    expect(s.failed).toBeGreaterThanOrEqual(3);
    expect(s.failed).toBeLessThan(200);
    expect(Object.keys(s.errors)).toEqual(["HTTP_503"]);
  });

  it.each([
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const)(
    "%s mid-run -> partial requests.jsonl + summary + report, exit %i",
    async (signal, exitCode) => {
      const dir = tempDir();
      const { code, stderr } = await signalMidRun(
        [
          "--target",
          `http://127.0.0.1:${slow.ports.http}/v1`,
          "--num-clients",
          "4",
          "--duration",
          "60",
          "--time-scale",
          "1000",
          "--max-output-tokens",
          "4",
          "--grace",
          "1",
          "--progress-interval",
          "0.2",
          "--out",
          dir,
        ],
        signal,
      );
      expect(code, stderr).toBe(exitCode);
      const s = readSummary(dir);
      expect(s.stop_reason).toBe(`signal ${signal}`);
      expect(s.completed).toBeGreaterThan(0);
      expect(readLines(dir).length).toBe(s.completed + s.failed);
      expect(existsSync(join(dir, "report.html"))).toBe(true);
    },
  );
});
