/** The built bundle (dist/experiments/main.js): help, bad input, and one tiny end-to-end run. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, runCli } from "@symphony/testkit";
import { afterAll, describe, expect, it } from "vitest";

const bundle = join(repoRoot, "dist", "experiments", "main.js");
const out = mkdtempSync(join(tmpdir(), "symphony-effect-cli-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe("experiments bundle", () => {
  it("bundle -> built (npm run build -w @symphony/experiments)", () => {
    expect(existsSync(bundle)).toBe(true);
  });

  it("--help -> exit 0, every flag with its default", async () => {
    const r = await runCli(bundle, ["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--slo-p99-ttft-ms");
    expect(r.stdout).toContain("(default: 500)");
  });

  it.each([
    [["--sim-sessions", "10,5"], "--sim-sessions"],
    [["other"], "unknown experiment"],
    [["--jobs", "0"], "--jobs"],
    [["paper-regime", "--jobs", "two"], "--jobs"],
  ])("bad input %j -> exit 2, one line naming %s", async (args, needle) => {
    const r = await runCli(bundle, args);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(needle);
    expect(r.stderr).not.toContain("    at ");
  });

  it("tiny sim-small run -> results folder with table, CSV, JSON, chart and HTML report", async () => {
    const r = await runCli(
      bundle,
      [
        "--scales",
        "sim-small",
        "--configs",
        "baseline,hints",
        "--live-sessions",
        "4",
        "--live-duration",
        "20",
        "--out-dir",
        out,
        "--log-level",
        "warn",
      ],
      60_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const [dir] = readdirSync(out).filter((d) => d.startsWith("symphony-effect-"));
    expect(dir).toBeDefined();
    for (const f of [
      "results.md",
      "results.csv",
      "capacity.csv",
      "results.json",
      "chart.svg",
      "report.html",
      "dataset.json",
    ])
      expect(existsSync(join(out, dir!, f)), f).toBe(true);
    const json = JSON.parse(readFileSync(join(out, dir!, "results.json"), "utf8")) as {
      scales: { points: unknown[] }[];
    };
    expect(json.scales[0]!.points).toHaveLength(2);
    expect(r.stdout).toContain("4 affinity+residency+hints");
  });
});
