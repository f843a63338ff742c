import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSummary, type RequestRecord } from "@symphony/measure";
import { bundlePath, runCli, spawnService, type RunningService } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkPage, hasChromium } from "./browser";
import { readRequestLines, readSummary } from "./run-output";

/** Open loop with follow-up turns: every session of the plan is played, whatever the timing. */
const WORKLOAD = [
  "workload: { type: open, total_duration: 12, seed: 11 }",
  "client_profiles:",
  "  - profile_name: chat",
  "    weight: 2",
  "    inter_arrival_time_dist_config: { type: Poisson, rate: 3 }",
  "    prompt_tokens_dist_config: { type: Uniform, low: 20, high: 300, is_int: true }",
  "    max_output_tokens_dist_config: { type: Uniform, low: 2, high: 24, is_int: true }",
  "    conversational_probability: 0.5",
  "    follow_up_delay_dist_config: { type: Exponential, mean: 1 }",
  "    follow_up_turns_dist_config: { type: Poisson, mean: 2, max: 4 }",
  "  - profile_name: batch",
  "    weight: 1",
  "    inter_arrival_time_dist_config: { type: Poisson, rate: 1 }",
  "    prompt_tokens_dist_config: { type: Constant, value: 64 }",
  "    max_output_tokens_dist_config: { type: Constant, value: 8 }",
  "    conversational_probability: 0",
].join("\n");

/** numpy's default percentile (linear between closest ranks), written out again here on purpose. */
function numpyPercentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  return s[lo]! + (s[Math.ceil(rank)]! - s[lo]!) * (rank - lo);
}

describe("one workload whole and as 3 shards on loopback (mock-vllm), merged", () => {
  let mock: RunningService;
  let dir: string;
  let merge: { code: number | null; stdout: string; stderr: string };

  beforeAll(async () => {
    mock = await spawnService("mock-vllm", bundlePath("mock-vllm"), ["--port", "0"], ["http"], 90_000);
    dir = mkdtempSync(join(tmpdir(), "wg-shards-"));
    writeFileSync(join(dir, "workload.yaml"), WORKLOAD);
    const args = (out: string, extra: string[] = []) => [
      "--target",
      `http://127.0.0.1:${mock.ports.http}/v1`,
      "--config",
      join(dir, "workload.yaml"),
      "--time-scale",
      "4",
      "--out",
      join(dir, out),
      ...extra,
    ];
    const runs = await Promise.all([
      runCli(bundlePath("workloadgen"), args("whole"), 240_000),
      ...[0, 1, 2].map((i) =>
        runCli(bundlePath("workloadgen"), args(`shard${i}`, ["--shard", `${i}/3`]), 240_000),
      ),
    ]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    merge = await runCli(bundlePath("workloadgen"), [
      "merge",
      join(dir, "shard0"),
      join(dir, "shard1"),
      join(dir, "shard2"),
      "--out",
      join(dir, "merged"),
    ]);
  }, 300_000);
  afterAll(async () => {
    await mock?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("merged -> the same requests as the whole run, the same request count and token totals", () => {
    expect(merge.code, merge.stderr).toBe(0);
    const whole = readSummary(join(dir, "whole"));
    const merged = readSummary(join(dir, "merged"));
    expect(whole.failed).toBe(0);
    for (const key of ["completed", "failed", "total_prompt_tokens", "total_completion_tokens"])
      expect(merged[key], key).toBe(whole[key]);
    const turns = (d: string) =>
      readRequestLines<RequestRecord>(join(dir, d))
        .map((r) => `${r.session_id}/${r.turn_index}`)
        .sort();
    expect(turns("merged")).toEqual(turns("whole"));
    expect(new Set(turns("merged")).size).toBe(turns("merged").length);
    expect(Object.keys(merged.by_profile).sort()).toEqual(["batch", "chat"]);
    expect(merged.by_profile.chat.completed).toBe(whole.by_profile.chat.completed);
  });

  it("merged percentiles -> those of the union of the shards' records, and what the summary code computes from them", () => {
    const union = [0, 1, 2].flatMap((i) => readRequestLines<RequestRecord>(join(dir, `shard${i}`)));
    const merged = readSummary(join(dir, "merged"));
    expect(merged.percentiles).toBe("exact");
    const ok = union.filter((r) => r.error === null);
    const columns: Record<string, number[]> = {
      ttft_ms: ok.map((r) => r.ttft_ms!),
      e2el_ms: ok.map((r) => r.e2el_ms),
      tpot_ms: ok.filter((r) => r.tpot_ms !== null).map((r) => r.tpot_ms!),
      itl_ms: ok.flatMap((r) => r.itl_ms),
    };
    for (const [metric, values] of Object.entries(columns)) {
      expect(merged[metric].count, metric).toBe(values.length);
      for (const p of [50, 90, 95, 99])
        expect(merged[metric][`p${p}`], `${metric} p${p}`).toBeCloseTo(numpyPercentile(values, p), 9);
      expect(merged[metric].max).toBe(Math.max(...values));
    }
    // The summary code over the same records, in the merged file's (finishing) order: sums, and
    // so means, depend on the order of additions in the last bit.
    const mergedRecords = readRequestLines<RequestRecord>(join(dir, "merged"));
    const key = (r: RequestRecord) => `${r.request_id} ${r.ttft_ms} ${r.e2el_ms} ${r.itl_ms.join(",")}`;
    expect(mergedRecords.map(key).sort()).toEqual(union.map(key).sort());
    const direct = buildSummary(mergedRecords, merged.duration_s);
    for (const metric of Object.keys(columns))
      expect(merged[metric]).toEqual(JSON.parse(JSON.stringify(direct[metric])));
    expect(merged.by_turn_index).toEqual(JSON.parse(JSON.stringify(direct.by_turn_index)));
  });

  it("merged summary -> every shard's clock offset, what was used, said on stdout too", () => {
    const merged = readSummary(join(dir, "merged"));
    expect(merged.merged.shards.map((s: { index: number }) => s.index)).toEqual([0, 1, 2]);
    for (const s of merged.merged.shards) {
      expect(s.offset_source).toBe("wall-clock");
      expect(s.offset_ms).toBeGreaterThanOrEqual(0);
    }
    expect(Math.min(...merged.merged.shards.map((s: { offset_ms: number }) => s.offset_ms))).toBe(0);
    expect(merge.stdout).toMatch(/^clock offsets used: .*shard0 [\d.]+ ms/m);
    expect(merged.config.shard).toBeUndefined();
    expect(readFileSync(join(dir, "merged", "report.html"), "utf8")).toContain("merged shards");
  });

  it("merge of a folder given twice, or of no results folder -> one line, exit 2", async () => {
    const twice = await runCli(bundlePath("workloadgen"), [
      "merge",
      join(dir, "shard0"),
      join(dir, "shard0"),
      "--out",
      join(dir, "x"),
    ]);
    expect(twice.code).toBe(2);
    expect(twice.stderr.trim()).toBe("error: merge: a folder is given twice");
    const none = await runCli(bundlePath("workloadgen"), ["merge", dir, "--out", join(dir, "y")]);
    expect(none.code).toBe(2);
    expect(none.stderr.trim()).toBe(
      `error: ${dir}: no summary.json (not the --out folder of a workloadgen run)`,
    );
  });
  it.skipIf(!hasChromium)(
    "compare whole vs merged -> table on stdout, compare.json, report.html drawn in headless Chromium",
    async () => {
      const out = join(dir, "compare");
      const run = await runCli(bundlePath("workloadgen"), [
        "compare",
        join(dir, "whole"),
        join(dir, "merged"),
        "--out",
        out,
      ]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(
        /^TTFT p50 \(ms\)\s+[\d.]+\s+[\d.]+\s+[-+][\d.]+ \([-+][\d.]+%\)\s+(<1e-6|[\d.e-]+)$/m,
      );
      // The same requests: the token totals do not change.
      expect(run.stdout).toMatch(/^Prompt tokens\s+(\d+)\s+\1\s+\+0 \(\+0\.0%\)/m);
      const c = JSON.parse(readFileSync(join(out, "compare.json"), "utf8"));
      expect(c.labels).toEqual(["whole", "merged"]);
      const ttft = c.rows.find((r: { key: string }) => r.key === "ttft_ms.p50");
      expect(ttft.tests[1].p).toBeGreaterThanOrEqual(0);
      expect(ttft.tests[1].medianDiff.resamples).toBe(1000);
      const page = await checkPage(join(out, "report.html"));
      expect(page.errors).toEqual([]);
      expect(page.chartsRendered).toBe(6); // 4 CDF overlays, TTFT and cached share by turn
      expect(page.canvases).toHaveLength(6);
      for (const pixels of page.seriesPixels) expect(pixels).toBeGreaterThan(20);
    },
    120_000,
  );
});
