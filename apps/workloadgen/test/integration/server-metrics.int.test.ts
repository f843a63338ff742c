import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundlePath, runCli, spawnService, type RunningService } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkPage, hasChromium } from "./browser";
import { readSummary } from "./run-output";

/** Starts mock-vllm with VLLM_SERVER_DEV_MODE set as given (the child inherits this process's environment). */
async function startMock(devMode: boolean): Promise<RunningService> {
  const before = process.env.VLLM_SERVER_DEV_MODE;
  process.env.VLLM_SERVER_DEV_MODE = devMode ? "1" : "0";
  try {
    return await spawnService("mock-vllm", bundlePath("mock-vllm"), ["--port", "0"], ["http"], 90_000);
  } finally {
    if (before === undefined) delete process.env.VLLM_SERVER_DEV_MODE;
    else process.env.VLLM_SERVER_DEV_MODE = before;
  }
}

const runArgs = (port: number, out: string, extra: string[]) => [
  "--target",
  `http://127.0.0.1:${port}/v1`,
  "--num-clients",
  "3",
  "--max-requests",
  "12",
  "--time-scale",
  "200",
  "--send-expected-response",
  "--server-metrics",
  `127.0.0.1:${port}`,
  "--server-metrics-interval",
  "0.1",
  "--out",
  out,
  ...extra,
];

describe("--server-metrics and --reset-prefix-cache against mock-vllm", () => {
  let devMock: RunningService;
  let plainMock: RunningService;
  let dir: string;

  beforeAll(async () => {
    devMock = await startMock(true);
    plainMock = await startMock(false);
    dir = mkdtempSync(join(tmpdir(), "wg-server-metrics-"));
  }, 200_000);
  afterAll(async () => {
    await Promise.all([devMock?.stop(), plainMock?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a run, then a second run on the same engine -> series saved, the second warned of a warm cache, a reset clears the warning", async () => {
    const port = devMock.ports.http!;
    const first = await runCli(bundlePath("workloadgen"), runArgs(port, join(dir, "a"), []));
    expect(first.code, first.stderr).toBe(0);
    const a = readSummary(join(dir, "a"));
    expect(a.warnings).toBeUndefined(); // a fresh engine
    const [engine] = a.server_metrics.endpoints;
    expect(engine).toMatchObject({
      endpoint: `http://127.0.0.1:${port}/metrics`,
      engine: true,
      failed_scrapes: 0,
    });
    expect(engine.prefix_cache_queries).toBeGreaterThan(0);
    expect(engine.num_requests_running.max).toBeGreaterThan(0);
    const lines = readFileSync(join(dir, "a", "server-metrics.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines.length).toBe(engine.samples);
    expect(lines[0].t_ms).toBeLessThan(0); // the baseline, taken before the first request
    expect(lines.at(-1).t_ms).toBeGreaterThan(0);
    expect(lines[0].metrics["vllm:num_requests_waiting"]).toBe(0);

    if (hasChromium) {
      // The servers' series drawn beside the client's: 7 client charts, 3 server ones, 2 per turn index.
      const page = await checkPage(join(dir, "a", "report.html"));
      expect(page.errors).toEqual([]);
      expect(page.chartsRendered).toBe(12);
      expect(readFileSync(join(dir, "a", "report.html"), "utf8")).toContain('id="server-kv-usage"');
    }

    const warm = await runCli(bundlePath("workloadgen"), runArgs(port, join(dir, "b"), []));
    expect(warm.code, warm.stderr).toBe(0);
    expect(readSummary(join(dir, "b")).warnings).toEqual([
      expect.stringMatching(/^warm cache at start: .*prefix cache already hit \d+ tokens before this run/),
    ]);
    expect(warm.stdout).toMatch(/^warning: warm cache at start/m);

    const reset = await runCli(
      bundlePath("workloadgen"),
      runArgs(port, join(dir, "c"), ["--reset-prefix-cache"]),
    );
    expect(reset.code, reset.stderr).toBe(0);
    const c = readSummary(join(dir, "c"));
    expect(c.prefix_cache_reset).toEqual([
      {
        url: `http://127.0.0.1:${port}/reset_prefix_cache`,
        ok: true,
        status: 200,
        message: "prefix cache reset",
      },
    ]);
    expect(c.warnings).toBeUndefined();
  }, 240_000);

  it("--reset-prefix-cache, engine without VLLM_SERVER_DEV_MODE=1 -> the run goes on, the refusal said plainly", async () => {
    const port = plainMock.ports.http!;
    const run = await runCli(
      bundlePath("workloadgen"),
      runArgs(port, join(dir, "d"), ["--reset-prefix-cache"]),
    );
    expect(run.code, run.stderr).toBe(0);
    const d = readSummary(join(dir, "d"));
    expect(d.prefix_cache_reset[0]).toMatchObject({ ok: false, status: 404 });
    expect(d.warnings[0]).toContain("only when started with VLLM_SERVER_DEV_MODE=1");
    expect(d.completed).toBe(12);
  }, 120_000);
});
