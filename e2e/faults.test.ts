// The whole stack under faults: a real workloadgen run through the
// scheduler to two node-schedulers, each in front of its own mock-vllm, all processes on loopback;
// mid-run one fault is injected. For each: the turns that fail are at most those in flight at the
// fault (one per session, within the recovery window, never more than the concurrent clients),
// every later turn succeeds, and requests.jsonl agrees with summary.json. The component-level
// fault tests (security, engine-down/-killed, hostile engine, oversized, stalls, ...) live in the
// apps; `npm run test:faults -w @symphony/e2e` runs them all with this file.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import {
  grpcClientOptions,
  SchedulerServiceClient,
  type ClusterStatusResponse,
  type InferenceRequest,
} from "@symphony/runtime";
import { bundlePath, spawnService, type RunningService } from "@symphony/testkit";
import { afterAll, afterEach, describe, expect, it } from "vitest";

const CLIENTS = 6;
const MAX_REQUESTS = 60;
/** The fault comes once this many turns have finished. */
const FAULT_AFTER = 15;

interface RequestRecord {
  session_id: string;
  sent_ms: number;
  end_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  node_id: string;
  error: string | null;
}

interface Summary {
  completed: number;
  failed: number;
  total_prompt_tokens: number;
  total_completion_tokens: number;
  total_cached_tokens: number;
  errors: Record<string, number>;
}

const dir = mkdtempSync(join(tmpdir(), "symphony-faults-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function waitFor(what: string, pred: () => Promise<boolean> | boolean, timeoutMs = 20_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// --- the cluster -----------------------------------------------------------------------------

const SCHEDULER_ARGS = ["--heartbeat-interval-ms", "200", "--heartbeat-timeout-ms", "2000"];

class Cluster {
  engines: RunningService[] = [];
  nodes: RunningService[] = [];
  scheduler!: RunningService;
  schedulerPort = 0;
  client!: SchedulerServiceClient;

  /**
   * Scheduler, two engines and a node per engine registering with the scheduler (as in
   * docker-compose). `engineUrl` may put something between a node and its engine.
   */
  static async start(
    engineUrl: (i: number, engine: RunningService) => Promise<string> | string = (_i, e) =>
      `http://127.0.0.1:${e.ports.http}/v1`,
  ): Promise<Cluster> {
    const c = new Cluster();
    c.scheduler = await spawnService(
      "scheduler",
      bundlePath("scheduler"),
      ["--port", "0", "--metrics-port", "0", ...SCHEDULER_ARGS],
      ["grpc", "metrics"],
    );
    c.schedulerPort = c.scheduler.ports.grpc!;
    c.client = new SchedulerServiceClient(
      `127.0.0.1:${c.schedulerPort}`,
      grpc.credentials.createInsecure(),
      grpcClientOptions,
    );
    for (let i = 1; i <= 2; i++)
      c.engines.push(
        await spawnService(
          `mock-vllm-${i}`,
          bundlePath("mock-vllm"),
          ["--port", "0", "--time-scale", "5"],
          ["http"],
        ),
      );
    for (let i = 1; i <= 2; i++)
      c.nodes.push(
        await spawnService(
          `node-${i}`,
          bundlePath("node-scheduler"),
          [
            ...["--port", "0", "--metrics-port", "0", "--node-id", `node-${i}`],
            ...["--engine-url", await engineUrl(i - 1, c.engines[i - 1]!)],
            ...["--scheduler", `127.0.0.1:${c.schedulerPort}`, "--register-retry-ms", "200"],
            ...["--engine-health-interval-ms", "200", "--engine-health-failures", "2"],
            ...["--engine-retries", "1", "--engine-retry-backoff-ms", "50"],
          ],
          ["grpc"],
        ),
      );
    await c.waitUp(["node-1", "node-2"]);
    return c;
  }

  status(): Promise<ClusterStatusResponse> {
    return new Promise((resolve, reject) =>
      this.client.clusterStatus({}, (err, res) => (err ? reject(err) : resolve(res))),
    );
  }

  async upNodes(): Promise<string[]> {
    return (await this.status()).nodes.filter((n) => n.state === "up").map((n) => n.nodeId);
  }

  waitUp(ids: string[], timeoutMs = 20_000): Promise<void> {
    return waitFor(
      `nodes ${ids.join(", ")} up`,
      async () => {
        const up = await this.upNodes().catch((): string[] => []);
        return ids.every((id) => up.includes(id));
      },
      timeoutMs,
    );
  }

  /** kill -9 the scheduler and start it again on the same port (nodes re-register by themselves). */
  async restartScheduler(): Promise<void> {
    await this.scheduler.kill();
    this.scheduler = await spawnService(
      "scheduler-restarted",
      bundlePath("scheduler"),
      ["--port", String(this.schedulerPort), "--metrics-port", "0", ...SCHEDULER_ARGS],
      ["grpc", "metrics"],
    );
  }

  async stop(): Promise<void> {
    this.client?.close();
    for (const n of this.nodes) await n.stop();
    await this.scheduler?.stop();
    for (const e of this.engines) await e.stop();
  }
}

// --- a workloadgen run with a fault in the middle ---------------------------------------------

interface FaultRun {
  code: number | null;
  stderr: string;
  records: RequestRecord[];
  summary: Summary;
}

const readRecords = (file: string): RequestRecord[] =>
  existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .map((l) => JSON.parse(l) as RequestRecord)
    : [];

async function runWithFault(cluster: Cluster, label: string, inject: () => Promise<void>): Promise<FaultRun> {
  const out = join(dir, label);
  const child = spawn(
    process.execPath,
    [
      ...["--enable-source-maps", bundlePath("workloadgen")],
      ...["--target", `grpc://127.0.0.1:${cluster.schedulerPort}`],
      ...["--num-clients", String(CLIENTS), "--max-requests", String(MAX_REQUESTS)],
      ...["--duration", "150", "--time-scale", "20", "--seed", "7"],
      ...["--out", out, "--log-level", "warn"],
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  try {
    const file = join(out, "requests.jsonl");
    await waitFor(`${FAULT_AFTER} finished turns`, () => readRecords(file).length >= FAULT_AFTER, 60_000);
    await inject();
    const code = await Promise.race([
      exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`workloadgen did not finish:\n${stderr.slice(-2000)}`)), 150_000),
      ),
    ]);
    const run = {
      code,
      stderr,
      records: readRecords(file),
      summary: JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Summary,
    };
    // What the fault did, for whoever reads the test log.
    console.log(
      `[faults] ${label}: ${run.records.length} turns, ${run.summary.failed} failed ${JSON.stringify(run.summary.errors)}`,
    );
    return run;
  } finally {
    if (child.exitCode === null) child.kill("SIGKILL");
  }
}

/** requests.jsonl and summary.json tell the same story: counts, error codes, token totals. */
function expectRecordsMatchSummary({ records, summary }: FaultRun): void {
  const ok = records.filter((r) => !r.error);
  const failed = records.filter((r) => r.error);
  const errors: Record<string, number> = {};
  for (const r of failed) errors[r.error!.split(":")[0]!] = (errors[r.error!.split(":")[0]!] ?? 0) + 1;
  const sum = (f: (r: RequestRecord) => number) => ok.reduce((a, r) => a + f(r), 0);
  expect({
    completed: ok.length,
    failed: failed.length,
    errors,
    total_prompt_tokens: sum((r) => r.prompt_tokens),
    total_completion_tokens: sum((r) => r.completion_tokens),
    total_cached_tokens: sum((r) => r.cached_tokens),
  }).toEqual({
    completed: summary.completed,
    failed: summary.failed,
    errors: summary.errors,
    total_prompt_tokens: summary.total_prompt_tokens,
    total_completion_tokens: summary.total_completion_tokens,
    total_cached_tokens: summary.total_cached_tokens,
  });
}

/**
 * The turns that failed were in flight at the fault: at most one per session, never more than the
 * clients (closed loop: one turn in flight per client), all ending within `recoveryMs` of the
 * first; every turn sent after that window succeeded, and there were at least 10 of them.
 */
function expectFailuresBoundedByInFlight(run: FaultRun, recoveryMs: number, atLeastOne: boolean): void {
  const { records } = run;
  expect(run.code, run.stderr.slice(-2000)).toBe(0);
  expect(records.length).toBeGreaterThanOrEqual(MAX_REQUESTS);
  const failed = records.filter((r) => r.error);
  if (atLeastOne) expect(failed.length, "the fault hit no turn: it was not exercised").toBeGreaterThan(0);
  expect(failed.length, failed.map((r) => r.error).join("\n")).toBeLessThanOrEqual(CLIENTS);
  const perSession = new Map<string, number>();
  for (const r of failed) perSession.set(r.session_id, (perSession.get(r.session_id) ?? 0) + 1);
  for (const [session, n] of perSession) expect([session, n]).toEqual([session, 1]);
  const firstFailEnd = Math.min(...failed.map((r) => r.end_ms), Infinity);
  for (const r of failed) expect(r.end_ms - firstFailEnd, r.error!).toBeLessThanOrEqual(recoveryMs);
  const later = records.filter((r) => r.sent_ms > (failed.length ? firstFailEnd + recoveryMs : -1));
  expect(later.filter((r) => r.error)).toEqual([]);
  expect(later.length).toBeGreaterThanOrEqual(10);
}

// --- the faults ------------------------------------------------------------------------------

describe("the whole stack under faults (workloadgen -> scheduler -> 2 nodes -> 2 mock-vllm)", () => {
  let cluster: Cluster | undefined;
  const proxies: Server[] = [];
  afterEach(async () => {
    await cluster?.stop();
    cluster = undefined;
    for (const p of proxies.splice(0)) await new Promise((r) => p.close(r));
  });

  it("scheduler killed and restarted on its port -> nodes re-register; failures only in flight; later turns succeed", async () => {
    cluster = await Cluster.start();
    const c = cluster;
    const run = await runWithFault(c, "scheduler-restart", async () => {
      const t0 = performance.now();
      await c.restartScheduler();
      const t1 = performance.now();
      await c.waitUp(["node-1", "node-2"]);
      console.log(
        `[faults] scheduler back in ${Math.round(t1 - t0)} ms, nodes up ${Math.round(performance.now() - t1)} ms later`,
      );
    });
    // No failure at all is possible (and best): turns sent while the scheduler is away wait for it
    // (gRPC wait-for-ready), so only turns on the wire at the kill can fail.
    expectFailuresBoundedByInFlight(run, 5_000, false);
    expectRecordsMatchSummary(run);
    expect((await c.upNodes()).sort()).toEqual(["node-1", "node-2"]);
  });

  it("node-scheduler killed -> its sessions fail over; failures only in flight; later turns succeed", async () => {
    cluster = await Cluster.start();
    const c = cluster;
    const run = await runWithFault(c, "node-killed", async () => {
      await c.nodes[0]!.kill();
    });
    expectFailuresBoundedByInFlight(run, 3_000, false);
    expectRecordsMatchSummary(run);
    const after = run.records.filter((r) => !r.error).slice(-10);
    for (const r of after) expect(r.node_id).toBe("node-2");
  });

  it("engine killed behind a node -> the node leaves rotation; failures only in flight; later turns succeed", async () => {
    cluster = await Cluster.start();
    const c = cluster;
    const run = await runWithFault(c, "engine-killed", async () => {
      await c.engines[0]!.kill();
    });
    expectFailuresBoundedByInFlight(run, 3_000, false);
    expectRecordsMatchSummary(run);
    expect(await c.upNodes()).toEqual(["node-2"]);
  });

  it("engine returning garbage usage for a while -> only its turns of that window fail; the node is not wedged", async () => {
    let corrupt = false;
    let corrupted = 0;
    cluster = await Cluster.start(async (i, engine) => {
      if (i !== 0) return `http://127.0.0.1:${engine.ports.http}/v1`;
      const proxy = await garbageProxy(
        engine.ports.http!,
        () => corrupt,
        () => corrupted++,
      );
      proxies.push(proxy);
      return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}/v1`;
    });
    const c = cluster;
    const run = await runWithFault(c, "engine-garbage", async () => {
      corrupt = true;
      await waitFor("a corrupted usage report", () => corrupted > 0, 20_000);
      corrupt = false;
    });
    const failed = run.records.filter((r) => r.error);
    for (const r of failed) expect(r.error).toMatch(/completion_tokens|usage|engine/i);
    expect(failed.length).toBeLessThanOrEqual(corrupted);
    expectFailuresBoundedByInFlight(run, 5_000, true);
    expectRecordsMatchSummary(run);
    expect((await c.upNodes()).sort()).toEqual(["node-1", "node-2"]);
  });

  it("hostile RegisterNode calls claiming both nodes' ids from a dead address -> refused; no turn fails", async () => {
    cluster = await Cluster.start();
    const c = cluster;
    const refusals: (grpc.ServiceError | null)[] = [];
    const run = await runWithFault(c, "hostile-registration", async () => {
      for (const nodeId of ["node-1", "node-2"])
        refusals.push(
          await new Promise((resolve) =>
            c.client.registerNode({ nodeId, address: "127.0.0.1:1" }, (err) => resolve(err)),
          ),
        );
    });
    expect(refusals.map((e) => e?.code)).toEqual([grpc.status.ALREADY_EXISTS, grpc.status.ALREADY_EXISTS]);
    expectFailuresBoundedByInFlight(run, 0, false);
    expect(run.summary.failed).toBe(0);
    expectRecordsMatchSummary(run);
    const view = (await c.status()).nodes;
    expect(view.map((n) => [n.nodeId, n.state, n.address === "127.0.0.1:1"]).sort()).toEqual([
      ["node-1", "up", false],
      ["node-2", "up", false],
    ]);
  });

  it("oversized input from another client (1M messages, 60 MB prompt, 3 MB of hostile text) -> refused or served; no turn of the run fails", async () => {
    cluster = await Cluster.start();
    const c = cluster;
    const outcomes: string[] = [];
    const run = await runWithFault(c, "oversized", async () => {
      const big = (extra: Partial<InferenceRequest>) => submitOnce(c.client, extra);
      outcomes.push(
        await big({ messages: Array.from({ length: 1_000_000 }, () => ({ role: 2, content: "x" })) }),
        await big({ messages: [{ role: 2, content: "x".repeat(60_000_000) }] }),
        await big({
          messages: [{ role: 2, content: "∑ 𝔘nïcødé ".repeat(300_000) }],
          maxOutputTokens: 1,
        }),
      );
    });
    expect(outcomes[0]).toMatch(/^(INVALID_ARGUMENT|RESOURCE_EXHAUSTED)/);
    expect(outcomes[1]).toMatch(/^(INVALID_ARGUMENT|RESOURCE_EXHAUSTED)/);
    expect(outcomes[2]).toMatch(/^(OK|INVALID_ARGUMENT|RESOURCE_EXHAUSTED)/);
    expectFailuresBoundedByInFlight(run, 0, false);
    expect(run.summary.failed).toBe(0);
    expectRecordsMatchSummary(run);
    expect((await c.upNodes()).sort()).toEqual(["node-1", "node-2"]);
  });
});

/** One Submit to the end: "OK" or the gRPC status name and details (or the TurnError's code). */
function submitOnce(client: SchedulerServiceClient, extra: Partial<InferenceRequest>): Promise<string> {
  const req: InferenceRequest = {
    requestId: `big-${Math.random().toString(36).slice(2)}`,
    clientId: "attacker",
    sessionId: `big-${Math.random().toString(36).slice(2)}`,
    turnIndex: 0,
    messages: [],
    prompt: "",
    promptTokens: 0,
    maxOutputTokens: 4,
    stream: true,
    priority: 0,
    isLast: true,
    ignoreEos: false,
    deadlineMs: 0,
    model: "",
    parentSessionId: "",
    ...extra,
  };
  return new Promise((resolve) => {
    let outcome = "OK";
    const call = client.submit(req, { deadline: new Date(Date.now() + 60_000) });
    call.on("data", (ev: { event?: { $case: string; error?: { code: string; message: string } } }) => {
      if (ev.event?.$case === "error") outcome = `${ev.event.error!.code}: ${ev.event.error!.message}`;
    });
    call.on("error", (err: grpc.ServiceError) => resolve(`${grpc.status[err.code]}: ${err.details}`));
    call.on("end", () => resolve(outcome));
  });
}

/**
 * An HTTP proxy in front of a mock engine that, while `corrupt()` is true, turns the usage of
 * completions into garbage (`"completion_tokens":"lots"`), as a broken engine would.
 */
function garbageProxy(enginePort: number, corrupt: () => boolean, onCorrupted: () => void): Promise<Server> {
  const server = createServer((req, res) => {
    const upstream = httpRequest(
      { host: "127.0.0.1", port: enginePort, path: req.url, method: req.method, headers: req.headers },
      (up) => {
        // The body may change length: let Node frame it (chunked) instead of the engine's length.
        const headers = { ...up.headers };
        delete headers["content-length"];
        res.writeHead(up.statusCode ?? 502, headers);
        up.on("data", (chunk: Buffer) => {
          let text = chunk.toString("utf8");
          if (corrupt() && /"completion_tokens":\d+/.test(text)) {
            text = text.replace(/"completion_tokens":\d+/g, '"completion_tokens":"lots"');
            onCorrupted();
          }
          res.write(text);
        });
        up.on("end", () => res.end());
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
    res.on("close", () => upstream.destroy());
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}
