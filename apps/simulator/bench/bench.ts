/**
 * Speed benchmark: one hour of ~100 requests/s open-loop traffic (360,000 requests) on 8
 * simulated nodes (examples/cluster.yaml) must take under 20 CPU-seconds. Two modes:
 *
 * - Default: the hour in this process, fast-forwarded (the default), then again the old way
 *   (every engine step runs every request, one timer event per step delivers its tokens), after
 *   an untimed minute of each way (tokenizer loaded, JIT warm); both must give the same results.
 * - `--baseline-bundle <dist dir or main.js>`: an A/B of this build's simulator bundle
 *   (dist/apps/simulator/main.js, built by the bench script) against another (e.g. main's,
 *   copied aside before a change), each run as its own process writing `--out`, the two side by
 *   side in each of `--ab-rounds` rounds (the machine's other load, bursty on a shared box, hits
 *   both alike); the ratio is the median of the rounds' ratios. Same results = every run's requests.jsonl and summary.json (wall-clock
 *   fields aside) byte-identical.
 *
 * CPU seconds (user + system, V8's GC threads included) are the figure: on a shared machine the
 * wall time depends on everyone else's load. Prints JSON; exits 1 when the target is missed or
 * the results differ.
 *
 *   npm run bench -w @symphony/simulator                     # the full hour, both ways
 *   BENCH_DURATION_S=300 npm run bench -w @symphony/simulator   # a shorter slice (target scales)
 *   BENCH_PER_STEP=0 npm run bench -w @symphony/simulator    # fast-forward only
 *   npm run bench -w @symphony/simulator -- --baseline-bundle /tmp/main-sim [--ab-rounds 2]
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createLogger } from "@symphony/runtime";
import { parseConfig, type SimConfig } from "../src/config";
import { runSimulation } from "../src/simulate";

/** CPU-seconds per simulated hour. */
const TARGET_CPU_S = 20;
const repoRoot = join(__dirname, "..", "..", "..");
const clusterYaml = join(repoRoot, "apps", "simulator", "examples", "cluster.yaml");

async function timed(config: SimConfig, fastForward: boolean) {
  const run: SimConfig = {
    ...config,
    cluster: { ...config.cluster, engine: { ...config.cluster.engine, fastForward } },
  };
  const cpu0 = process.cpuUsage();
  const { summary } = await runSimulation(run, createLogger("simulator-bench", "info"));
  const cpu = process.cpuUsage(cpu0);
  const s = summary.sim;
  return {
    summary,
    figures: {
      wall_time_s: s.wall_time_s,
      // User + system CPU of the process (V8's parallel GC threads included).
      cpu_s: (cpu.user + cpu.system) / 1e6,
      speed_ratio: s.speed_ratio,
      events_processed: s.events_processed,
    },
  };
}

/**
 * The summary without what differs between runs by construction: wall time and event counts
 * (`sim`), the temporary config file, and the echoed `fastForward` setting itself.
 */
function results(summary: Record<string, unknown>): string {
  const { sim: _sim, ...rest } = summary;
  return JSON.stringify(rest, (k, v: unknown) => (k === "configFile" || k === "fastForward" ? undefined : v));
}

async function inProcess(durationS: number): Promise<void> {
  const args = ["--config", clusterYaml, "--duration", String(durationS), "--progress-interval", "10"];
  const config = parseConfig(args);
  // A minute of each way first, untimed: loads the tokenizer and warms the JIT for both.
  const warmup = parseConfig([...args.slice(0, 3), "60", "--log-level", "warn"]);
  await timed(warmup, true);
  await timed(warmup, false);
  const fast = await timed(config, true);
  const perStep = process.env.BENCH_PER_STEP === "0" ? null : await timed(config, false);
  const targetS = (TARGET_CPU_S * durationS) / 3600;
  const s = fast.summary;
  const result = {
    nodes: config.cluster.nodes,
    virtual_duration_s: s.sim.virtual_duration_s,
    requests: s.completed + s.failed,
    output_tokens: s.total_completion_tokens,
    fast_forward: fast.figures,
    per_step: perStep?.figures ?? null,
    wall_ratio: perStep ? perStep.figures.wall_time_s / fast.figures.wall_time_s : null,
    cpu_ratio: perStep ? perStep.figures.cpu_s / fast.figures.cpu_s : null,
    same_results: perStep ? results(perStep.summary) === results(s) : null,
    target_cpu_s: targetS,
    met: fast.figures.cpu_s < targetS,
  };
  process.stdout.write(JSON.stringify(result, null, 2) + "\n");
  if (!result.met || result.same_results === false) process.exitCode = 1;
}

interface BundleRun {
  cpu_s: number;
  wall_s: number;
  /** sha256 of requests.jsonl and of summary.json without its wall-clock fields. */
  requests_sha: string;
  summary_sha: string;
  requests: number;
  output_tokens: number;
}

/**
 * Runs a simulator bundle on the bench's config as a child process; the CPU use of its
 * processes comes back through a preload.
 */
function runBundle(bundle: string, durationS: number, work: string, name: string): Promise<BundleRun> {
  const out = join(work, name);
  const cpuFile = join(work, `${name}.cpu.json`);
  const args = [
    "--require",
    join(work, "cpu-at-exit.js"),
    bundle,
    ...["--config", clusterYaml, "--duration", String(durationS), "--log-level", "warn", "--out", out],
  ];
  const t0 = performance.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, SIM_BENCH_CPU_FILE: cpuFile },
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`${bundle} exited with ${code}`));
      let cpuUs = 0;
      for (const line of readFileSync(cpuFile, "utf8").trim().split("\n")) {
        const cpu = JSON.parse(line) as { user: number; system: number };
        cpuUs += cpu.user + cpu.system;
      }
      const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Record<string, unknown>;
      const sha = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");
      const run: BundleRun = {
        cpu_s: cpuUs / 1e6,
        wall_s: (performance.now() - t0) / 1000,
        requests_sha: sha(readFileSync(join(out, "requests.jsonl"))),
        summary_sha: sha(results(summary)),
        requests: (summary.completed as number) + (summary.failed as number),
        output_tokens: summary.total_completion_tokens as number,
      };
      rmSync(out, { recursive: true, force: true });
      resolvePromise(run);
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

async function abRuns(baselineArg: string, durationS: number): Promise<void> {
  const baseline = resolve(
    existsSync(baselineArg) && statSync(baselineArg).isDirectory()
      ? join(baselineArg, "main.js")
      : baselineArg,
  );
  if (!existsSync(baseline)) {
    process.stderr.write(
      `error: --baseline-bundle: no bundle at ${baseline} (expected a dist dir or its main.js)\n`,
    );
    process.exit(2);
  }
  const roundsArg = argValue("ab-rounds") ?? "1";
  const rounds = Number(roundsArg);
  if (!Number.isInteger(rounds) || rounds < 1) {
    process.stderr.write(`error: --ab-rounds: expected an integer >= 1, got ${roundsArg}\n`);
    process.exit(2);
  }
  const current = join(repoRoot, "dist", "apps", "simulator", "main.js");
  const work = mkdtempSync(join(tmpdir(), "sim-bench-"));
  writeFileSync(
    join(work, "cpu-at-exit.js"),
    // Appended by every process of the run (the CLI may run itself again with other V8 flags).
    `process.on("exit", () => require("node:fs").appendFileSync(process.env.SIM_BENCH_CPU_FILE, JSON.stringify(process.cpuUsage()) + "\\n"));\n`,
  );
  const runs: Record<"current" | "baseline", BundleRun[]> = { current: [], baseline: [] };
  const ratios: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      // Side by side: both see the same load; the ratio is taken per round.
      const [cur, base] = await Promise.all([
        runBundle(current, durationS, work, `current-${round}`),
        runBundle(baseline, durationS, work, `baseline-${round}`),
      ]);
      runs.current.push(cur);
      runs.baseline.push(base);
      ratios.push(base.cpu_s / cur.cpu_s);
      for (const [which, run] of [
        ["current", cur],
        ["baseline", base],
      ] as const)
        process.stderr.write(
          `round ${round + 1} ${which.padEnd(8)}: ${run.cpu_s.toFixed(2)} CPU s, ${run.wall_s.toFixed(1)} s wall\n`,
        );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const all = [...runs.current, ...runs.baseline];
  const cpu = (which: "current" | "baseline") => median(runs[which].map((r) => r.cpu_s));
  const targetS = (TARGET_CPU_S * durationS) / 3600;
  const result = {
    duration_s: durationS,
    requests: runs.current[0]!.requests,
    output_tokens: runs.current[0]!.output_tokens,
    baseline_bundle: baseline,
    current_cpu_s: runs.current.map((r) => r.cpu_s),
    baseline_cpu_s: runs.baseline.map((r) => r.cpu_s),
    current_wall_s: runs.current.map((r) => r.wall_s),
    baseline_wall_s: runs.baseline.map((r) => r.wall_s),
    /** Median over the rounds of baseline CPU s / current CPU s. */
    cpu_ratio: median(ratios),
    same_results: all.every(
      (r) => r.requests_sha === all[0]!.requests_sha && r.summary_sha === all[0]!.summary_sha,
    ),
    target_cpu_s: targetS,
    met: cpu("current") < targetS,
  };
  process.stdout.write(JSON.stringify(result, null, 2) + "\n");
  if (!result.met || !result.same_results) process.exitCode = 1;
}

async function main(): Promise<void> {
  const durationS = Number(process.env.BENCH_DURATION_S ?? 3600);
  const baseline = argValue("baseline-bundle");
  if (baseline !== undefined) await abRuns(baseline, durationS);
  else await inProcess(durationS);
}

void main();
