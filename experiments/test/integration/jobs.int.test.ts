/**
 * --jobs changes where simulated points run, never what they measure or the order they are
 * reported in: the same tiny runs with --jobs 1 (one after another in the process) and --jobs 2
 * (worker threads) write the same files, byte for byte once the wall-clock fields are blanked.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, runCli } from "@symphony/testkit";
import { afterAll, describe, expect, it } from "vitest";

const bundle = join(repoRoot, "dist", "experiments", "main.js");
const out = mkdtempSync(join(tmpdir(), "experiments-jobs-"));
afterAll(() => rmSync(out, { recursive: true, force: true }));

/** The file's text with what the wall clock decides blanked: start time, wall seconds, the out dir. */
function withoutWallClock(name: string, text: string): string {
  const blanked = text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, "T")
    .replace(/"wall_s": ?[^,\n}]+/g, '"wall_s":0')
    .replace(/"outDir": ?"[^"]*"/g, '"outDir":""')
    .replace(/^# (.*) results \(.*\)$/m, "# $1 results");
  // wall_s is the last column of both experiments' point CSVs.
  return name === "points.csv" || name === "results.csv" ? blanked.replace(/,[^,\n]*$/gm, ",") : blanked;
}

/** Runs the bundle into its own out dir; returns its result folder's files, wall clock blanked. */
async function run(args: string[], jobs: number): Promise<Map<string, string>> {
  const dir = join(out, `${args[0]}-jobs-${jobs}`);
  const r = await runCli(
    bundle,
    [...args, "--jobs", String(jobs), "--out-dir", dir, "--log-level", "warn"],
    60_000,
  );
  expect(r.code, r.stderr).toBe(0);
  const [results] = readdirSync(dir);
  const files = new Map<string, string>();
  for (const name of readdirSync(join(dir, results!)).sort())
    files.set(name, withoutWallClock(name, readFileSync(join(dir, results!, name), "utf8")));
  return files;
}

/** The run with --jobs 1, then with --jobs 2: every file of the first the same in the second. */
async function runBothWays(args: string[]): Promise<[Map<string, string>, Map<string, string>]> {
  const one = await run(args, 1);
  const two = await run(args, 2);
  for (const [name, text] of one) expect(two.get(name), name).toBe(text);
  return [one, two];
}

describe("--jobs 1 vs --jobs 2", () => {
  it("paper-regime (capacity searches, fixed load, hint variants, two seeds) -> the same files", async () => {
    const args = [
      "paper-regime",
      "--gpus",
      "1",
      "--think-time",
      "chat-gaps",
      "--duration",
      "20",
      "--warmup",
      "5",
      "--seeds",
      "1,2",
      "--configs",
      "round-robin,warmup",
      "--fixed-sessions-per-gpu",
      "8",
      "--search-start-per-gpu",
      "8",
      "--search-tolerance-pct",
      "50",
      "--search-max",
      "64",
    ];
    const [one, two] = await runBothWays(args);
    expect([...two.keys()]).toEqual(["capacity.csv", "points.csv", "results.json", "results.md"]);
    // Several points per search, so the order of points.csv is one that scheduling could change.
    expect(one.get("points.csv")!.trim().split("\n").length).toBeGreaterThan(10);
  });

  it("symphony-effect (two simulated scales, configurations climbing side by side) -> the same files", async () => {
    const args = [
      "symphony-effect",
      "--scales",
      "sim-small,sim",
      "--configs",
      "baseline,hints",
      "--live-sessions",
      "4,8",
      "--live-duration",
      "20",
      "--sim-nodes",
      "2",
      "--sim-kv-tokens",
      "8192",
      "--sim-sessions",
      "6,12",
      "--sim-duration",
      "20",
      "--sim-warmup",
      "5",
      "--conversations",
      "40",
    ];
    const [, two] = await runBothWays(args);
    expect([...two.keys()]).toContain("results.csv");
  });
});
