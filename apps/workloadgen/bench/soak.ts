/**
 * Soak benchmark: workloadgen against a mock-vllm for a long time, with the
 * memory of both processes sampled every few seconds, and each one's growth per hour. A run that
 * keeps what it needs in bounded summaries shows a flat heap; one that keeps every record grows
 * linearly with the requests finished. Not a test: figures depend on the machine.
 *
 * Run (after `npm run build -w @symphony/workloadgen -w @symphony/mock-vllm`):
 *   npm run bench:soak -w @symphony/workloadgen -- --duration-s 600 --rate 100
 * Options: `--duration-s` (600), `--rate` requests/s (100; open loop, 30% of sessions with two
 * follow-up turns), `--sample-s` (5), `--warmup-s` (samples before this are left out of the
 * slopes; default a fifth of the run, at most 60), `--time-scale` of the mock (10: replies 10x
 * faster than a real engine), `--output-tokens` mean (48), `--workers` (1), `--exact-records <n>`
 * (passed to workloadgen: 0 = histograms from the start, to see the long-run regime in a short
 * soak), `--no-gc` (sample without a full GC first), `--workloadgen <main.js>` / `--mock <main.js>`
 * (other bundles, e.g. an older build, to compare), `--keep <dir>` (keep the outputs and samples).
 *
 * How: each child runs with `--expose-gc --require <probe>`; the probe (main thread only) runs a
 * full GC and appends `process.memoryUsage()` to a file every `--sample-s`, so the heap figures
 * are live data, not garbage waiting for a collection. Growth per hour is the least-squares slope
 * over the samples after the warm-up, and over the second half alone ("late"): a leak shows in
 * both, a cache filling up to its bound (the mock's KV pool) only in the first.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";

interface Options {
  durationS: number;
  rate: number;
  sampleS: number;
  warmupS: number;
  timeScale: number;
  outputTokens: number;
  workers: number;
  exactRecords: number | undefined;
  gc: boolean;
  workloadgen: string;
  mock: string;
  keep: string | undefined;
}

function parseOptions(argv: readonly string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, fallback: number, min: number): number => {
    const raw = value(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min) {
      console.error(`error: ${name} ${raw}: expected a number >= ${min}`);
      process.exit(2);
    }
    return n;
  };
  const durationS = num("--duration-s", 600, 10);
  return {
    durationS,
    rate: num("--rate", 100, 0.1),
    sampleS: num("--sample-s", 5, 0.5),
    warmupS: num("--warmup-s", Math.min(60, durationS / 5), 0),
    timeScale: num("--time-scale", 10, 0.01),
    outputTokens: num("--output-tokens", 48, 1),
    workers: num("--workers", 1, 1),
    exactRecords: value("--exact-records") === undefined ? undefined : num("--exact-records", 0, 0),
    gc: !argv.includes("--no-gc"),
    workloadgen: resolve(value("--workloadgen") ?? join(__dirname, "main.js")),
    mock: resolve(value("--mock") ?? join(__dirname, "..", "mock-vllm", "main.js")),
    keep: value("--keep"),
  };
}

/** The probe each child preloads: CommonJS, main thread only, one JSON line per sample. */
const PROBE = `
const { isMainThread } = require("node:worker_threads");
const { appendFileSync } = require("node:fs");
const file = process.env.SOAK_PROBE_FILE;
if (isMainThread && file) {
  const t0 = Date.now();
  const sample = () => {
    if (typeof globalThis.gc === "function") globalThis.gc();
    const m = process.memoryUsage();
    appendFileSync(file, JSON.stringify({ t: (Date.now() - t0) / 1000, rss: m.rss, heapUsed: m.heapUsed,
      heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers }) + "\\n");
  };
  sample();
  setInterval(sample, Number(process.env.SOAK_PROBE_MS)).unref();
}
`;

interface Sample {
  t: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

function spawnProbed(name: string, script: string, args: string[], dir: string, opts: Options): ChildProcess {
  const probe = join(dir, "probe.cjs");
  if (!existsSync(probe)) writeFileSync(probe, PROBE);
  const execArgv = [...(opts.gc ? ["--expose-gc"] : []), "--require", probe];
  return spawn(process.execPath, [...execArgv, script, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      SOAK_PROBE_FILE: join(dir, `${name}.samples.jsonl`),
      SOAK_PROBE_MS: String(Math.round(opts.sampleS * 1000)),
    },
  });
}

function startMock(dir: string, opts: Options): Promise<{ child: ChildProcess; port: number }> {
  const child = spawnProbed(
    "mock-vllm",
    opts.mock,
    ["--port", "0", "--time-scale", String(opts.timeScale)],
    dir,
    opts,
  );
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  return new Promise((resolvePort, reject) => {
    const onLine = (line: string) => {
      try {
        const entry = JSON.parse(line) as { message?: string; msg?: string; port?: number };
        if ((entry.message ?? entry.msg) === "listening" && entry.port)
          resolvePort({ child, port: entry.port });
      } catch {
        // not a log line
      }
    };
    createInterface({ input: child.stdout! }).on("line", onLine);
    createInterface({ input: child.stderr! }).on("line", onLine);
    child.once("exit", (code) => reject(new Error(`mock-vllm exited ${code} before listening: ${stderr}`)));
  });
}

function workloadYaml(opts: Options): string {
  // Sessions per second: a third of them have two follow-ups, so 1.6 requests per session.
  const followUps = 2;
  const conversational = 0.3;
  const sessionRate = opts.rate / (1 + conversational * followUps);
  return [
    `workload: { type: open, total_duration: ${opts.durationS}, seed: 1 }`,
    "client_profiles:",
    "  - profile_name: soak",
    "    weight: 1",
    `    inter_arrival_time_dist_config: { type: Poisson, rate: ${sessionRate} }`,
    "    prompt_tokens_dist_config: { type: LogNormal, mean: 128, sigma: 64, is_int: true, min: 8, max: 1024 }",
    `    max_output_tokens_dist_config: { type: LogNormal, mean: ${opts.outputTokens}, sigma: ${Math.round(opts.outputTokens / 2)}, is_int: true, min: 2, max: 512 }`,
    `    conversational_probability: ${conversational}`,
    `    follow_up_turns_dist_config: { type: Constant, value: ${followUps} }`,
    "    follow_up_delay_dist_config: { type: Exponential, mean: 2 }",
    "    streaming_response_probability: 1",
    "",
  ].join("\n");
}

/** Least-squares slope of y over t (per second). */
function slope(points: readonly { t: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  let st = 0;
  let sy = 0;
  for (const p of points) {
    st += p.t;
    sy += p.y;
  }
  const mt = st / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.y - my);
    den += (p.t - mt) ** 2;
  }
  return den > 0 ? num / den : NaN;
}

const MB = 1024 * 1024;
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "n/a");

interface Growth {
  process: string;
  samples: number;
  rssStartMb: number;
  rssEndMb: number;
  rssMaxMb: number;
  heapStartMb: number;
  heapEndMb: number;
  rssMbPerHour: number;
  heapMbPerHour: number;
  /** The same slopes over the second half of the run. */
  lateRssMbPerHour: number;
  lateHeapMbPerHour: number;
  /** RSS at the end plus the RSS slope over the rest of 24 hours. */
  rss24hMb: number;
}

function growth(name: string, samples: readonly Sample[], opts: Options, runS: number): Growth {
  const steady = samples.filter((s) => s.t >= opts.warmupS);
  const last = samples[samples.length - 1];
  const first = steady[0] ?? samples[0];
  const rssSlope = slope(steady.map((s) => ({ t: s.t, y: s.rss / MB }))) * 3600;
  const late = samples.filter((s) => s.t >= runS / 2);
  return {
    process: name,
    samples: samples.length,
    rssStartMb: (first?.rss ?? NaN) / MB,
    rssEndMb: (last?.rss ?? NaN) / MB,
    rssMaxMb: Math.max(...samples.map((s) => s.rss)) / MB,
    heapStartMb: (first?.heapUsed ?? NaN) / MB,
    heapEndMb: (last?.heapUsed ?? NaN) / MB,
    rssMbPerHour: rssSlope,
    heapMbPerHour: slope(steady.map((s) => ({ t: s.t, y: s.heapUsed / MB }))) * 3600,
    lateRssMbPerHour: slope(late.map((s) => ({ t: s.t, y: s.rss / MB }))) * 3600,
    lateHeapMbPerHour: slope(late.map((s) => ({ t: s.t, y: s.heapUsed / MB }))) * 3600,
    rss24hMb: (last?.rss ?? NaN) / MB + Math.max(0, rssSlope) * ((24 * 3600 - runS) / 3600),
  };
}

function readSamples(file: string): Sample[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Sample);
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((r) => child.once("exit", (code) => r(code)));
}

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  for (const [flag, path] of [
    ["--workloadgen", opts.workloadgen],
    ["--mock", opts.mock],
  ] as const) {
    if (!existsSync(path)) {
      console.error(
        `error: ${flag} ${path}: no such bundle (npm run build -w @symphony/workloadgen -w @symphony/mock-vllm)`,
      );
      process.exit(2);
    }
  }
  const dir = opts.keep ? resolve(opts.keep) : mkdtempSync(join(tmpdir(), "wg-soak-"));
  mkdirSync(dir, { recursive: true });
  const out = join(dir, "run");
  const config = join(dir, "soak.yaml");
  writeFileSync(config, workloadYaml(opts));
  console.log(
    `soak: ${opts.durationS} s at ${opts.rate} req/s (open loop), mock --time-scale ${opts.timeScale}, ` +
      `~${opts.outputTokens} output tokens, --workers ${opts.workers}, memory every ${opts.sampleS} s` +
      `${opts.gc ? " after a full GC" : ""}; workloadgen ${opts.workloadgen}`,
  );
  const mock = await startMock(dir, opts);
  let code: number | null;
  const t0 = performance.now();
  try {
    const wg = spawnProbed(
      "workloadgen",
      opts.workloadgen,
      [
        "--config",
        config,
        "--target",
        `http://127.0.0.1:${mock.port}/v1`,
        "--duration",
        String(opts.durationS),
        "--workers",
        String(opts.workers),
        "--out",
        out,
        "--progress-interval",
        "60",
        "--log-level",
        "warn",
        ...(opts.exactRecords === undefined ? [] : ["--exact-records", String(opts.exactRecords)]),
      ],
      dir,
      opts,
    );
    let stderr = "";
    wg.stderr!.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    wg.stdout!.resume();
    const ticker = setInterval(() => {
      const s = readSamples(join(dir, "workloadgen.samples.jsonl")).at(-1);
      const m = readSamples(join(dir, "mock-vllm.samples.jsonl")).at(-1);
      if (s && m)
        console.log(
          `  t=${f1(s.t)} s  workloadgen rss ${f1(s.rss / MB)} MB heap ${f1(s.heapUsed / MB)} MB | ` +
            `mock-vllm rss ${f1(m.rss / MB)} MB heap ${f1(m.heapUsed / MB)} MB`,
        );
    }, 30_000);
    code = await exited(wg);
    clearInterval(ticker);
    if (code !== 0) console.error(`workloadgen exited ${code}:\n${stderr}`);
  } finally {
    mock.child.kill("SIGTERM");
    await exited(mock.child);
  }
  const runS = (performance.now() - t0) / 1000;
  const rows = ["workloadgen", "mock-vllm"].map((name) =>
    growth(name, readSamples(join(dir, `${name}.samples.jsonl`)), opts, runS),
  );
  let achieved = "";
  const summaryPath = join(out, "summary.json");
  if (existsSync(summaryPath)) {
    const s = JSON.parse(readFileSync(summaryPath, "utf8")) as {
      completed: number;
      failed: number;
      duration_s: number;
      percentiles?: string;
    };
    const lines = readFileSync(join(out, "requests.jsonl"), "utf8").split("\n").length - 1;
    achieved =
      `${s.completed} ok / ${s.failed} failed in ${f1(s.duration_s)} s = ` +
      `${f1((s.completed + s.failed) / s.duration_s)} req/s; requests.jsonl ${lines} lines; ` +
      `percentiles ${s.percentiles ?? "exact (no field: an older build)"}`;
  }
  console.log(`\nrun: ${achieved}`);
  console.log(
    `growth per hour after ${f1(opts.warmupS)} s, and (late) over the second half:\n` +
      "process       samples  rss start→end (max) MB   heap start→end MB   rss MB/h (late)   heap MB/h (late)  rss after 24 h (MB, linear)",
  );
  for (const r of rows)
    console.log(
      `${r.process.padEnd(12)}  ${String(r.samples).padStart(7)}  ` +
        `${`${f1(r.rssStartMb)}→${f1(r.rssEndMb)} (${f1(r.rssMaxMb)})`.padEnd(23)}  ` +
        `${`${f1(r.heapStartMb)}→${f1(r.heapEndMb)}`.padEnd(18)}  ` +
        `${`${f1(r.rssMbPerHour)} (${f1(r.lateRssMbPerHour)})`.padEnd(16)}  ` +
        `${`${f1(r.heapMbPerHour)} (${f1(r.lateHeapMbPerHour)})`.padEnd(16)}  ${f1(r.rss24hMb)}`,
    );
  console.log(`RESULT ${JSON.stringify({ durationS: opts.durationS, rate: opts.rate, processes: rows })}`);
  if (!opts.keep) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept: ${dir}`);
  process.exitCode = code === 0 ? 0 : 1;
}

void main();
