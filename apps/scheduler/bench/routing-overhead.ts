/**
 * Routing overhead benchmark: the latency the scheduler adds per request and the most requests
 * per second it relays, measured side by side against sending straight to the node in one run.
 *
 * A fast in-process fake node answers each Submit with Started, one Token and Finished. The
 * scheduler runs as its built bundle (a separate process, as in production) in front of it.
 *   1. Open loop at --rate req/s for --seconds: end-to-end latency percentiles, direct vs via
 *      the scheduler; the difference is the added latency.
 *   2. Closed loop with --concurrency outstanding requests for --seconds: completed req/s.
 *
 * Usage: npm run bench -w @symphony/scheduler [-- --rate 1000 --seconds 5 --concurrency 64]
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  grpcClientOptions,
  NodeSchedulerServiceClient,
  SchedulerServiceClient,
  type InferenceEvent,
  type InferenceRequest,
} from "@symphony/common";
import { bundlePath, repoRoot, spawnService } from "@symphony/testkit";
import { turn } from "../test/client";
import { FakeNode } from "../test/fake-node";

/** Nearest-rank quantile of an ascending array (q in [0, 1]). */
function quantileSorted(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

type Submitter = (req: InferenceRequest) => grpc.ClientReadableStream<InferenceEvent>;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v <= 0) {
    process.stderr.write(`error: --${name} expects a positive number, got "${process.argv[i + 1]}"\n`);
    process.exit(2);
  }
  return v;
}

/** One turn, resolving with its latency in ms (rejecting on a failed turn). */
function oneTurn(submit: Submitter, req: InferenceRequest): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const call = submit(req);
    let failed: string | undefined;
    call.on("data", (ev: InferenceEvent) => {
      if (ev.event?.$case === "error") failed = ev.event.value.message;
    });
    call.on("error", (err) => reject(err));
    call.on("end", () => (failed ? reject(new Error(failed)) : resolve(performance.now() - t0)));
  });
}

const SESSIONS = 256;
let seq = 0;
function nextRequest(): InferenceRequest {
  const n = seq++;
  return turn(`bench-${n % SESSIONS}`, Math.floor(n / SESSIONS), { maxOutputTokens: 1 });
}

/** Issues `rate` req/s for `seconds` (open loop, catching up in 1 ms ticks); returns sorted latencies. */
async function openLoop(
  submit: Submitter,
  rate: number,
  seconds: number,
): Promise<{ sorted: number[]; errors: number }> {
  const total = Math.round(rate * seconds);
  const latencies: number[] = [];
  let errors = 0;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  let issued = 0;
  while (issued < total) {
    const due = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    for (; issued < due; issued++)
      pending.push(
        oneTurn(submit, nextRequest()).then(
          (ms) => void latencies.push(ms),
          (err: unknown) => {
            if (errors++ < 3) process.stderr.write(`turn failed: ${String(err)}\n`);
          },
        ),
      );
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  return { sorted: latencies.sort((a, b) => a - b), errors };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux; NaN elsewhere). */
function processCpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of /proc/<pid>/stat (utime, stime) in clock ticks, usually 100 per second.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

let lastClosedLoopCount = 0;

/** Keeps `concurrency` turns outstanding for `seconds`; returns completed turns per second. */
async function closedLoop(submit: Submitter, concurrency: number, seconds: number): Promise<number> {
  const end = performance.now() + seconds * 1000;
  let done = 0;
  const worker = async () => {
    while (performance.now() < end) {
      await oneTurn(submit, nextRequest()).catch(() => undefined);
      done++;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  lastClosedLoopCount = done;
  return done / ((performance.now() - t0) / 1000);
}

const ms = (v: number) => Math.round(v * 1000) / 1000;

async function main(): Promise<void> {
  const rate = arg("rate", 1000);
  const seconds = arg("seconds", 5);
  const concurrency = arg("concurrency", 64);

  const node = await FakeNode.start({ nodeId: "bench-node", tokens: 1 });
  const scheduler = await spawnService(
    "scheduler",
    bundlePath("scheduler"),
    ["--port", "0", "--metrics-port", "0", "--nodes", node.address, "--poll-interval-ms", "200"],
    ["grpc", "metrics"],
  );
  const creds = grpc.credentials.createInsecure();
  const direct = new NodeSchedulerServiceClient(node.address, creds, grpcClientOptions);
  const via = new SchedulerServiceClient(`127.0.0.1:${scheduler.ports.grpc}`, creds, grpcClientOptions);
  const submitDirect: Submitter = (r) => direct.submit(r);
  const submitVia: Submitter = (r) => via.submit(r);

  try {
    // Wait for the node to be up behind the scheduler, then warm both paths.
    for (let i = 0; ; i++) {
      const ok = await oneTurn(submitVia, nextRequest()).then(
        () => true,
        () => false,
      );
      if (ok) break;
      if (i > 100) throw new Error("the scheduler never routed to the fake node");
      await new Promise((r) => setTimeout(r, 100));
    }
    await openLoop(submitDirect, rate, 1);
    await openLoop(submitVia, rate, 1);

    const results: Record<string, unknown> = {
      rate,
      seconds,
      concurrency,
      cpus: cpus().length,
      loadAverage1m: Math.round(loadavg()[0]! * 100) / 100,
    };
    const summary = (s: number[]) => ({
      p50: ms(quantileSorted(s, 0.5)),
      p90: ms(quantileSorted(s, 0.9)),
      p99: ms(quantileSorted(s, 0.99)),
      max: ms(s[s.length - 1]!),
    });
    // 1. Capacity: completed turns per second with `concurrency` outstanding.
    const directRps = await closedLoop(submitDirect, concurrency, seconds);
    const cpuBefore = processCpuSeconds(scheduler.child.pid!);
    const viaRps = await closedLoop(submitVia, concurrency, seconds);
    const cpuPerRequestUs =
      ((processCpuSeconds(scheduler.child.pid!) - cpuBefore) / lastClosedLoopCount) * 1e6;
    results.maxRequestsPerSecond = { direct: Math.round(directRps), viaScheduler: Math.round(viaRps) };
    // The scheduler's own CPU per relayed turn does not depend on what else runs on the machine:
    // 1e6 / cpuPerRequestUs is what one free core would relay.
    results.schedulerCpuUsPerRequest = Math.round(cpuPerRequestUs);
    results.schedulerMaxRequestsPerSecondPerFreeCore = Math.round(1e6 / cpuPerRequestUs);

    // 2. Added latency, open loop: at the requested rate, and at half the relayed capacity (a
    // rate this machine sustains, so the figures show the relay's cost rather than queueing).
    const latencyAt = async (r: number) => {
      const d = await openLoop(submitDirect, r, seconds);
      const v = await openLoop(submitVia, r, seconds);
      const ds = summary(d.sorted);
      const vs = summary(v.sorted);
      return {
        rate: r,
        direct: { ...ds, requests: d.sorted.length, errors: d.errors },
        viaScheduler: { ...vs, requests: v.sorted.length, errors: v.errors },
        added: { p50: ms(vs.p50 - ds.p50), p90: ms(vs.p90 - ds.p90), p99: ms(vs.p99 - ds.p99) },
      };
    };
    const sustainable = Math.max(10, Math.round(Math.min(rate, viaRps / 2)));
    const atRate = await latencyAt(rate);
    const atSustainable = sustainable < rate ? await latencyAt(sustainable) : atRate;
    results.latencyMs = { atRate, atSustainable };

    const metrics = await (await fetch(`http://127.0.0.1:${scheduler.ports.metrics}/metrics`)).text();
    const sum = Number(/^scheduler_route_overhead_seconds_sum (\S+)/m.exec(metrics)?.[1]);
    const count = Number(/^scheduler_route_overhead_seconds_count (\S+)/m.exec(metrics)?.[1]);
    results.schedulerRouteOverheadMeanUs = Math.round((sum / count) * 1e6 * 10) / 10;

    const out = JSON.stringify(results, null, 2);
    process.stdout.write(`${out}\n`);
    const dir = join(repoRoot, "reports", "bench");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "scheduler-routing-overhead.json"), out);
    const added = atRate.added.p99;
    process.stdout.write(
      `added p99 at ${rate} req/s: ${added} ms (target < 1 ms: ${added < 1 ? "met" : "NOT met"}); ` +
        `at ${atSustainable.rate} req/s: p50 +${atSustainable.added.p50} ms, p99 +${atSustainable.added.p99} ms; ` +
        `max relayed ${Math.round(viaRps)} req/s vs ${Math.round(directRps)} direct; ` +
        `scheduler CPU ${Math.round(cpuPerRequestUs)} us/request ` +
        `(${cpus().length} CPUs, load average ${loadavg()[0]!.toFixed(1)})\n`,
    );
  } finally {
    direct.close();
    via.close();
    await scheduler.stop();
    await node.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
