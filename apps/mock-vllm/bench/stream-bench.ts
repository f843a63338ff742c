// Streaming throughput benchmark for one mock-vllm process.
//
//   npm run bench -w @symphony/mock-vllm -- [--streams 2000] [--duration-s 15] [--warmup-s 5]
//       [--max-tokens 100] [--client-workers 2] [--time-scale 1] [--mock-arg=--flag=value ...]
//       [--node-arg=--cpu-prof ...] [--baseline-bundle <dist dir or main.js> [--ab-rounds 3]]
//
// Starts the built bundle (dist/apps/mock-vllm/main.js) on a free port, keeps `--streams`
// streaming chat completions open at all times (closed loop: a finished stream is replaced at
// once) from `--client-workers` worker threads, and after a warm-up measures for `--duration-s`:
// streamed tokens/s (SSE content chunks received), completed requests/s, client TTFT, the mock's
// CPU use, and how far the mock's measured inter-token latency is from the latency its own step
// model predicts (which shows whether the event loop keeps up). Uses only Node built-ins.
//
// --baseline-bundle: an A/B of this build against another (e.g. main's, copied aside before a
// change): `--ab-rounds` rounds, each running both bundles side by side (each with its own
// client workers and --streams), then the median ratio of their tokens per CPU-second (the
// machine's other load, bursty on a shared box, hits both alike).
//
// --write-ceiling [--ceiling-step-ms 40]: the same rounds side by side with a bare writer in
// place of the baseline: a node:http server that does nothing per token but write the mock's
// mid-stream SSE chunk (same bytes per event, one socket.write each) to every open stream once
// per step. Its tokens per CPU-second are what this machine and Node allow one process with one
// write per token; the ratio says how close the mock gets.
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import http from "node:http";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { percentileSorted } from "@symphony/measure";

interface WorkerConfig {
  port: number;
  streams: number;
  maxTokens: number;
  salt: number;
}

interface WorkerReport {
  /** ms since this worker's counters were reset (each worker times its own window). */
  elapsedMs: number;
  tokens: number;
  completed: number;
  errors: number;
  ttftMs: number[];
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(`error: --${name} expects a positive number, got ${process.argv[i + 1]}\n`);
    process.exit(2);
  }
  return v;
}

/** Client side: `streams` concurrent closed-loop streams; counts `data: ` events per buffer. */
function runWorker(cfg: WorkerConfig): void {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  let report: WorkerReport = { elapsedMs: 0, tokens: 0, completed: 0, errors: 0, ttftMs: [] };
  let resetAt = performance.now();
  let stopping = false;
  let seq = 0;
  const one = () => {
    if (stopping) return;
    const n = seq++;
    // Short distinct prompts: the bench measures streaming, not prefill.
    const body = JSON.stringify({
      messages: [{ role: "user", content: `bench ${cfg.salt} request ${n}: say something.` }],
      max_tokens: cfg.maxTokens,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    });
    const t0 = performance.now();
    let first = true;
    let carry = "";
    let mine = 0;
    const req = http.request(
      {
        host: "127.0.0.1",
        port: cfg.port,
        path: "/v1/chat/completions",
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        if (res.statusCode !== 200) {
          if (report.errors++ < 3) process.stderr.write(`client got HTTP ${res.statusCode}\n`);
          res.resume();
          res.on("end", one);
          return;
        }
        res.setEncoding("utf8");
        res.on("data", (text: string) => {
          // Count SSE events; "data: " split across buffers is caught by the 5-char carry.
          const s = carry + text;
          let count = 0;
          for (let i = s.indexOf('"content":"'); i >= 0; i = s.indexOf('"content":"', i + 11)) {
            if (s.charCodeAt(i + 11) !== 34) count++; // skip the role chunk's empty content
          }
          carry = s.slice(-10);
          if (count > 0 && first) {
            first = false;
            report.ttftMs.push(performance.now() - t0);
          }
          report.tokens += count;
          mine += count;
        });
        res.on("end", () => {
          if (mine !== cfg.maxTokens && report.errors++ < 3)
            process.stderr.write(`stream had ${mine} tokens\n`);
          report.completed++;
          one();
        });
      },
    );
    req.on("error", (err) => {
      if (report.errors++ < 3) process.stderr.write(`client error: ${err.message}\n`);
      if (!stopping) setTimeout(one, 10);
    });
    req.end(body);
  };
  // Ramp up over ~1 s rather than opening thousands of connections in one tick.
  for (let i = 0; i < cfg.streams; i++) setTimeout(one, Math.floor((i / cfg.streams) * 1000));
  parentPort!.on("message", (msg: string) => {
    if (msg === "reset") {
      report = { elapsedMs: 0, tokens: 0, completed: 0, errors: 0, ttftMs: [] };
      resetAt = performance.now();
    }
    if (msg === "report") parentPort!.postMessage({ ...report, elapsedMs: performance.now() - resetAt });
    if (msg === "stop") {
      stopping = true;
      agent.destroy();
      process.exit(0);
    }
  });
}

/** utime + stime of a process, seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Write-type syscalls (write, writev, sendmsg, ...) a process has made (Linux /proc). */
function writeSyscalls(pid: number): number {
  const line = readFileSync(`/proc/${pid}/io`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("syscw:"));
  return line ? Number(line.slice(6)) : Number.NaN;
}

function metric(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : Number.NaN;
}

/** Servers started and not yet exited: stopped when the bench exits, also on a failure. */
const servers = new Set<ReturnType<typeof spawn>>();
process.on("exit", () => {
  for (const server of servers) server.kill("SIGTERM");
});

/** One measurement of one server (a mock bundle, or the bare writer): start it, load it, measure, stop it. */
async function measure(serverArgs: string[]): Promise<Record<string, number | string>> {
  const streams = arg("streams", 2000);
  const durationS = arg("duration-s", 15);
  const warmupS = arg("warmup-s", 5);
  const maxTokens = arg("max-tokens", 100);
  const workers = arg("client-workers", 2);
  const timeScale = arg("time-scale", 1);
  const extra = process.argv
    .filter((a) => a.startsWith("--mock-arg="))
    .flatMap((a) => a.slice(11).split("="));
  const mockArgs = [
    "--port",
    "0",
    "--max-num-seqs",
    String(streams),
    "--time-scale",
    String(timeScale),
    ...extra,
  ];
  const nodeArgs = process.argv.filter((a) => a.startsWith("--node-arg=")).map((a) => a.slice(11));
  const mock = spawn(process.execPath, [...nodeArgs, ...serverArgs, ...mockArgs], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  servers.add(mock);
  mock.once("exit", () => servers.delete(mock));
  const port = await new Promise<number>((res, rej) => {
    // Generous: on a loaded shared machine loading the tokenizers alone can take tens of seconds.
    const timer = setTimeout(() => rej(new Error("mock did not start within 60 s")), 60_000);
    createInterface({ input: mock.stderr! }).on("line", (line) => {
      if (!line.includes('"level":"info"')) process.stderr.write(`mock: ${line}\n`);
      if (!line.includes('"listening"')) return;
      clearTimeout(timer);
      res((JSON.parse(line) as { port: number }).port);
    });
    mock.once("exit", (code) => rej(new Error(`mock exited with ${code}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  const scrape = async () => (await fetch(`${base}/metrics`)).text();

  const pool: Worker[] = [];
  for (let w = 0; w < workers; w++) {
    const share = Math.floor(streams / workers) + (w < streams % workers ? 1 : 0);
    pool.push(
      new Worker(new URL(import.meta.url), {
        workerData: { port, streams: share, maxTokens, salt: w } satisfies WorkerConfig,
      }),
    );
  }
  const collect = () =>
    Promise.all(
      pool.map(
        (w) =>
          new Promise<WorkerReport>((res) => {
            w.once("message", res);
            w.postMessage("report");
          }),
      ),
    );

  process.stderr.write(
    `mock on port ${port}; ${streams} streams from ${workers} workers; warming up ${warmupS} s\n`,
  );
  await new Promise((r) => setTimeout(r, warmupS * 1000));
  process.stderr.write(`measuring ${durationS} s\n`);
  // Two windows, each timed on its own: the client's (reset -> report) and the engine's
  // (scrape -> scrape). A scrape of a busy server can take a while, so they differ slightly.
  const tClient0 = performance.now();
  for (const w of pool) w.postMessage("reset");
  const m0 = await scrape();
  const tEngine0 = performance.now();
  const cpu0 = cpuSeconds(mock.pid!);
  const writes0 = writeSyscalls(mock.pid!);
  await new Promise((r) => setTimeout(r, durationS * 1000));
  const reports = await collect();
  process.stderr.write(`collected client reports\n`);
  const elapsedS = (performance.now() - tClient0) / 1000;
  const cpu1 = cpuSeconds(mock.pid!);
  const writes1 = writeSyscalls(mock.pid!);
  const tScrape = performance.now();
  const m1 = await scrape();
  const scrapeMs = performance.now() - tScrape;
  const engineS = (performance.now() - tEngine0) / 1000;
  for (const w of pool) w.postMessage("stop");
  mock.kill("SIGTERM");

  const tokensPerS = reports.reduce((a, r) => a + r.tokens / (r.elapsedMs / 1000), 0);
  const completedPerS = reports.reduce((a, r) => a + r.completed / (r.elapsedMs / 1000), 0);
  const errors = reports.reduce((a, r) => a + r.errors, 0);
  const ttft = reports.flatMap((r) => r.ttftMs).sort((a, b) => a - b);
  const itlCount =
    metric(m1, "vllm:inter_token_latency_seconds_count") -
    metric(m0, "vllm:inter_token_latency_seconds_count");
  const itlSum =
    metric(m1, "vllm:inter_token_latency_seconds_sum") - metric(m0, "vllm:inter_token_latency_seconds_sum");
  const engineTokens =
    metric(m1, "vllm:generation_tokens_total") - metric(m0, "vllm:generation_tokens_total");
  const result = {
    streams,
    maxTokens,
    timeScale,
    durationS: Number(elapsedS.toFixed(2)),
    streamedTokensPerS: Math.round(tokensPerS),
    engineTokensPerS: Math.round(engineTokens / engineS),
    completedRequestsPerS: Number(completedPerS.toFixed(1)),
    errors,
    runningAtEnd: metric(m1, "vllm:num_requests_running"),
    waitingAtEnd: metric(m1, "vllm:num_requests_waiting"),
    mockCpuPercent: Math.round(((cpu1 - cpu0) / engineS) * 100),
    // Tokens per second of mock CPU: what one dedicated core would sustain, under contention too.
    mockTokensPerCpuSecond: Math.round(engineTokens / (cpu1 - cpu0)),
    // One SSE chunk per token, so at least ~1 (the scrapes and per-request writes add a little).
    mockWriteSyscallsPerToken: Number(((writes1 - writes0) / engineTokens).toFixed(3)),
    metricsScrapeMs: Math.round(scrapeMs),
    meanItlMs: Number(((itlSum / itlCount) * 1000).toFixed(2)),
    clientTtftMsP50: Math.round(percentileSorted(ttft, 50)),
    clientTtftMsP99: Math.round(percentileSorted(ttft, 99)),
    mockArgs: mockArgs.join(" "),
  };
  return result;
}

function stringArg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/**
 * The bare writer (--write-ceiling): per stream the mock's SSE bytes (headers flushed at once;
 * role + first token; one mid-stream chunk per step, framed as the mock frames it, in one
 * socket.write; the last token, usage, [DONE] and the end corked into one write), and nothing
 * else per token: no engine, no metrics, no chunk building beyond a string concatenation. Serves
 * the /metrics lines the bench reads.
 */
function serveWriteCeiling(): void {
  const stepMs = arg("ceiling-step-ms", 40);
  const port = Number(stringArg("port") ?? 0);
  const model = JSON.stringify("meta-llama/Llama-3.1-8B-Instruct");
  const pieces = [" the", " quick", " brown", " fox", " jumps", " over", " a", " lazy", " dog", "."];
  const midEnd = '},"logprobs":null,"finish_reason":null}]}\n\n';
  interface Stream {
    res: http.ServerResponse;
    head: string;
    next: number;
    maxTokens: number;
    lastUs: number;
  }
  const streams = new Set<Stream>();
  let generated = 0;
  let itlSum = 0;
  let itlCount = 0;
  const frame = (event: string) => `${Buffer.byteLength(event).toString(16)}\r\n${event}\r\n`;
  const server = http.createServer((req, res) => {
    if (req.url === "/metrics") {
      res.end(
        `vllm:generation_tokens_total ${generated}\nvllm:inter_token_latency_seconds_sum ${itlSum}\n` +
          `vllm:inter_token_latency_seconds_count ${itlCount}\nvllm:num_requests_running ${streams.size}\n` +
          `vllm:num_requests_waiting 0\n`,
      );
      return;
    }
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => {
      const { max_tokens: maxTokens } = JSON.parse(body) as { max_tokens: number };
      res.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      });
      res.flushHeaders();
      const head = `data: {"id":"chatcmpl-${randomUUID().replaceAll("-", "")}","object":"chat.completion.chunk","created":${Math.floor(Date.now() / 1000)},"model":${model},"choices":[{"index":0,`;
      const stream: Stream = { res, head, next: 0, maxTokens, lastUs: 0 };
      streams.add(stream);
      res.on("close", () => streams.delete(stream));
    });
  });
  server.keepAliveTimeout = 0;
  const step = () => {
    const startedMs = performance.now();
    const nowUs = startedMs * 1000;
    for (const s of streams) {
      const socket = s.res.socket;
      if (!socket?.writable) continue;
      const i = s.next++;
      const piece = `"${pieces[i % pieces.length]!}"`;
      generated++;
      if (i > 0) {
        itlSum += (nowUs - s.lastUs) / 1e6;
        itlCount++;
      }
      s.lastUs = nowUs;
      if (i === 0) {
        const role = `${s.head}"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`;
        socket.write(frame(role + s.head + '"delta":{"content":' + piece + midEnd));
      } else if (i < s.maxTokens - 1) socket.write(frame(s.head + '"delta":{"content":' + piece + midEnd));
      else {
        streams.delete(s);
        const id = s.head.slice(0, s.head.indexOf(',"choices"'));
        socket.cork();
        socket.write(
          frame(
            `${s.head}"delta":{"content":${piece}},"logprobs":null,"finish_reason":"length","stop_reason":null}]}\n\n`,
          ),
        );
        s.res.end(
          `${id},"choices":[],"usage":{"prompt_tokens":20,"total_tokens":${20 + s.maxTokens},"completion_tokens":${s.maxTokens}}}\n\ndata: [DONE]\n\n`,
        );
        socket.uncork();
      }
    }
    setTimeout(step, Math.max(0, stepMs - (performance.now() - startedMs)));
  };
  server.listen({ host: "127.0.0.1", port, backlog: 2048 }, () => {
    const address = server.address() as { port: number };
    process.stderr.write(`${JSON.stringify({ level: "info", msg: "listening", port: address.port })}\n`);
    step();
  });
  process.on("SIGTERM", () => process.exit(0));
}

function printRound(round: number, which: string, r: Record<string, number | string>): void {
  process.stdout.write(
    `round ${round + 1} ${which.padEnd(12)}: ${r.mockTokensPerCpuSecond} tokens per CPU-second, ` +
      `${r.streamedTokensPerS} streamed tokens/s at ${r.mockCpuPercent} % CPU, ` +
      `${r.mockWriteSyscallsPerToken} write syscalls per token, mean ITL ${r.meanItlMs} ms, ${r.errors} errors\n`,
  );
}

async function main(): Promise<void> {
  if (process.argv.includes("--serve-write-ceiling")) return serveWriteCeiling();
  const bundle = resolve(import.meta.dirname, "../../../dist/apps/mock-vllm/main.js");
  const baselineArg = stringArg("baseline-bundle");
  const rounds = arg("ab-rounds", 3);
  if (process.argv.includes("--write-ceiling")) {
    const ceiling = [
      fileURLToPath(import.meta.url),
      "--serve-write-ceiling",
      "--ceiling-step-ms",
      String(arg("ceiling-step-ms", 40)),
    ];
    const r = await sideBySide(rounds, ["mock", [bundle]], ["bare writer", ceiling]);
    process.stdout.write(
      `RESULT  ${rounds} rounds side by side: mock ${r.first} tokens per CPU-second, bare writer ` +
        `${r.second}; mock/bare median x${r.ratio.toFixed(2)} (rounds: ${r.rounds})\n`,
    );
    return;
  }
  if (baselineArg === undefined) {
    process.stdout.write(`${JSON.stringify(await measure([bundle]), null, 2)}\n`);
    return;
  }
  const baseline = resolve(
    existsSync(baselineArg) && statSync(baselineArg).isDirectory() ? `${baselineArg}/main.js` : baselineArg,
  );
  if (!existsSync(baseline)) {
    process.stderr.write(
      `error: --baseline-bundle: no bundle at ${baseline} (expected a dist dir or its main.js)\n`,
    );
    process.exit(2);
  }
  const r = await sideBySide(rounds, ["current", [bundle]], ["baseline", [baseline]]);
  process.stdout.write(
    `RESULT  A/B, ${rounds} rounds: ${r.first} tokens per CPU-second (this build) vs ` +
      `${r.second} (${baseline}); median ratio x${r.ratio.toFixed(2)} (rounds: ${r.rounds})\n`,
  );
}

/**
 * Two servers measured side by side (the same client load on each at once) in each of `rounds`:
 * the medians of their tokens per CPU-second and of the first's ratio to the second's.
 */
async function sideBySide(
  rounds: number,
  [firstName, firstArgs]: [string, string[]],
  [secondName, secondArgs]: [string, string[]],
): Promise<{ first: number; second: number; ratio: number; rounds: string }> {
  const first: number[] = [];
  const second: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const [a, b] = await Promise.all([measure(firstArgs), measure(secondArgs)]);
    printRound(round, firstName, a);
    printRound(round, secondName, b);
    first.push(a.mockTokensPerCpuSecond as number);
    second.push(b.mockTokensPerCpuSecond as number);
    ratios.push((a.mockTokensPerCpuSecond as number) / (b.mockTokensPerCpuSecond as number));
  }
  return {
    first: median(first),
    second: median(second),
    ratio: median(ratios),
    rounds: ratios.map((r) => r.toFixed(2)).join(", "),
  };
}

if (isMainThread) {
  main().catch((err: unknown) => {
    process.stderr.write(`bench failed: ${String(err)}\n`);
    process.exit(1);
  });
} else {
  runWorker(workerData as WorkerConfig);
}
