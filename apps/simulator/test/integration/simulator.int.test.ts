import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, runCli } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const bundle = join(repoRoot, "dist", "apps", "simulator", "main.js");
const small = join(__dirname, "..", "..", "examples", "small.yaml");
const workloadgenExamples = join(repoRoot, "apps", "workloadgen", "examples");
const dir = mkdtempSync(join(tmpdir(), "sim-int-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (args: string[]) => runCli(bundle, args, 60_000);
const requests = (out: string) => readFileSync(join(out, "requests.jsonl"), "utf8");

describe("simulator bundle", () => {
  beforeAll(() => {
    if (!existsSync(bundle)) throw new Error(`${bundle} is missing: run the simulator build first`);
  });

  it("small config -> exit 0, a results table, summary.json marked simulated with sim stats", async () => {
    const out = join(dir, "one");
    const r = await run(["--config", small, "--out", out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Simulated Benchmark Result/);
    expect(r.stdout).toMatch(/Successful requests:\s+100/);
    const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(summary.simulated).toBe(true);
    expect(summary.completed).toBe(100);
    expect(summary.sim.events_processed).toBeGreaterThan(summary.completed);
    expect(summary.sim.virtual_duration_s).toBeCloseTo(summary.duration_s, 6);
    expect(summary.sim.speed_ratio).toBeCloseTo(summary.sim.virtual_duration_s / summary.sim.wall_time_s, 6);
    expect(requests(out).trim().split("\n")).toHaveLength(100);
    // The live run's writers (@symphony/measure's RunOutputs), offline page included.
    expect(readFileSync(join(out, "summary.csv"), "utf8")).toMatch(/^scope,metric,stat,value/);
    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(html).toMatch(/simulated run/);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href="https?:/);
  });

  it("same seed twice -> byte-identical requests.jsonl; another seed -> different", async () => {
    const [a, b, c] = [join(dir, "seed-a"), join(dir, "seed-b"), join(dir, "seed-c")];
    const runs = await Promise.all([
      run(["--config", small, "--seed", "11", "--out", a]),
      run(["--config", small, "--seed", "11", "--out", b]),
      run(["--config", small, "--seed", "12", "--out", c]),
    ]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    expect(requests(b)).toBe(requests(a));
    expect(requests(c)).not.toBe(requests(a));
  });

  it("--sweep over two axes -> a table on stdout and sweep.csv/json/svg with one row per combination", async () => {
    const out = join(dir, "sweep");
    const r = await run([
      "--config",
      small,
      "--max-requests",
      "30",
      "--sweep",
      "policy=session-affinity,round-robin",
      "--sweep",
      "nodes=1,2",
      "--out",
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^policy\s+nodes\s+done/m);
    const csv = readFileSync(join(out, "sweep.csv"), "utf8").trim().split("\n");
    expect(csv).toHaveLength(5);
    const json = JSON.parse(readFileSync(join(out, "sweep.json"), "utf8"));
    expect(json.runs.map((x: { run: string }) => x.run)).toEqual([
      "policy=session-affinity,nodes=1",
      "policy=session-affinity,nodes=2",
      "policy=round-robin,nodes=1",
      "policy=round-robin,nodes=2",
    ]);
    expect(readFileSync(join(out, "sweep.svg"), "utf8")).toMatch(/^<svg/);
    expect(existsSync(join(out, "policy=round-robin,nodes=2", "summary.json"))).toBe(true);
  });

  it.each(readdirSync(workloadgenExamples).filter((f) => /\.ya?ml$/.test(f)))(
    "workloadgen's example %s as the only config -> simulated without error",
    async (name) => {
      const out = join(dir, `example-${name}`);
      const r = await run([
        "--config",
        join(workloadgenExamples, name),
        "--duration",
        "10",
        "--max-requests",
        "100",
        "--out",
        out,
      ]);
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
      expect(summary.simulated).toBe(true);
      expect(summary.completed).toBeGreaterThan(0);
    },
  );

  it.each([
    ["an unknown flag", ["--nodez", "3"], /unknown option '--nodez'/],
    ["a bad --nodes", ["--nodes", "zero"], /--nodes.*expected an integer/],
    ["a bad sweep key", ["--sweep", "colour=red"], /--sweep: unknown key "colour"/],
  ])("%s -> exit 2 with one clear line", async (_what, args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("--out under a file -> exit 2 naming --out before anything runs", async () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "");
    const r = await run(["--config", small, "--out", join(file, "sub")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--out .*a-file\/sub: cannot write there \(\w+\): a file is in the way/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
