import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { forwardingLogger, type LogEntry } from "@symphony/runtime";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import type { RegimePointJob } from "./point-runner";
import { WorkerPool } from "./worker-pool";

// A stand-in point worker speaking the pool's protocol: `sessions` picks what the point does.
const dir = mkdtempSync(join(tmpdir(), "worker-pool-test-"));
const script = join(dir, "worker.cjs");
writeFileSync(
  script,
  `const { parentPort, threadId } = require("node:worker_threads");
parentPort.on("message", ({ id, job, logLevel }) => {
  parentPort.postMessage({ id, type: "log", entry: { level: "warn", message: "running", sessions: job.sessions, logLevel } });
  if (job.sessions === -1) parentPort.postMessage({ id, type: "error", message: "no such profile" });
  else if (job.sessions === -2) process.exit(3);
  else setTimeout(() => parentPort.postMessage({ id, type: "result", result: { sessions: job.sessions, threadId } }), 20);
});
`,
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const job = (sessions: number) => ({ kind: "regime-point", sessions }) as unknown as RegimePointJob;
const entries: LogEntry[] = [];
const logger = forwardingLogger("info", (e) => entries.push(e));
let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.close();
  entries.length = 0;
});

describe("WorkerPool", () => {
  it("5 points on 2 workers -> each result to its own promise, in the order asked, on 2 threads", async () => {
    pool = new WorkerPool(2, script);
    const results = (await Promise.all([1, 2, 3, 4, 5].map((n) => pool!.run(job(n), logger)))) as unknown as {
      sessions: number;
      threadId: number;
    }[];
    expect(results.map((r) => r.sessions)).toEqual([1, 2, 3, 4, 5]);
    expect(new Set(results.map((r) => r.threadId)).size).toBe(2);
  });

  it("a point's log lines -> its own logger, with the logger's level sent along", async () => {
    pool = new WorkerPool(1, script);
    await pool.run(job(7), logger);
    expect(entries).toEqual([{ level: "warn", message: "running", sessions: 7, logLevel: "info" }]);
  });

  it("a point that throws -> that point's promise fails with its message; the others still finish", async () => {
    pool = new WorkerPool(2, script);
    const [bad, good] = await Promise.allSettled([pool.run(job(-1), logger), pool.run(job(4), logger)]);
    expect(bad).toMatchObject({ status: "rejected", reason: { message: "no such profile" } });
    expect(good).toMatchObject({ status: "fulfilled", value: { sessions: 4 } });
  });

  it("a worker that dies -> its point fails; a new worker takes the next one", async () => {
    pool = new WorkerPool(1, script);
    await expect(pool.run(job(-2), logger)).rejects.toThrow("point worker exited with code 3");
    await expect(pool.run(job(5), logger)).resolves.toMatchObject({ sessions: 5 });
  });

  it("a lower priority number -> runs before points queued earlier", async () => {
    pool = new WorkerPool(1, script);
    const done: number[] = [];
    const track = (n: number, priority: number) =>
      pool!.run(job(n), logger, priority).then(() => done.push(n));
    await Promise.all([track(1, 1), track(2, 1), track(3, 0)]);
    // 1 was running already; 3 jumps the queue ahead of 2.
    expect(done).toEqual([1, 3, 2]);
  });

  it("close -> queued points fail, later ones are refused", async () => {
    pool = new WorkerPool(1, script);
    const running = expect(pool.run(job(1), logger)).rejects.toThrow("closed");
    const queued = expect(pool.run(job(2), logger)).rejects.toThrow("closed");
    await pool.close();
    await running;
    await queued;
    await expect(pool.run(job(3), logger)).rejects.toThrow("closed");
  });
});
