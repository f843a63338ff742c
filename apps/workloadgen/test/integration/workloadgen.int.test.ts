import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { countTokens, loadTokenizer } from "@symphony/common";
import { bundlePath, runCli } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAILING_SESSION, reply, startFakeScheduler, type FakeScheduler } from "./fake-scheduler";

describe("workloadgen bundle against a fake scheduler", () => {
  let fake: FakeScheduler;
  let dir: string;
  let run: { code: number | null; stdout: string; stderr: string };
  const maxRequests = 14;
  const timeScale = 1000;

  beforeAll(async () => {
    fake = await startFakeScheduler();
    dir = mkdtempSync(join(tmpdir(), "wg-int-"));
    run = await runCli(bundlePath("workloadgen"), [
      "--target",
      `grpc://127.0.0.1:${fake.server.port}`,
      "--num-clients",
      "3",
      "--max-requests",
      String(maxRequests),
      "--duration",
      "60",
      "--time-scale",
      String(timeScale),
      "--out",
      dir,
      "--metrics-port",
      "0",
    ]);
  });
  afterAll(async () => {
    await fake?.server.stop(100);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("run, max-requests reached -> exit 0 and a results table on stdout", () => {
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Successful requests:\s+\d+/);
    expect(run.stdout).toMatch(/Mean TTFT \(ms\):/);
    expect(fake.submits).toHaveLength(maxRequests);
    const listening = run.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.message === "listening");
    expect(listening).toMatchObject({ kind: "metrics", host: "127.0.0.1" });
    expect(listening!.port).toBeGreaterThan(0);
  });

  it("summary.json, completed + failed -> every request sent, with percentile objects", () => {
    const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"));
    const failed = fake.submits.filter((r) => r.sessionId === FAILING_SESSION).length;
    expect(failed).toBeGreaterThan(0);
    expect(summary.failed).toBe(failed);
    expect(summary.completed).toBe(maxRequests - failed);
    for (const key of ["ttft_ms", "e2el_ms", "tpot_ms", "itl_ms"]) {
      for (const stat of ["mean", "p50", "p90", "p99"]) expect(typeof summary[key][stat]).toBe("number");
    }
    expect(summary.e2el_ms.p50).toBeGreaterThanOrEqual(summary.ttft_ms.p50);
    expect(summary.request_throughput).toBeGreaterThan(0);
    expect(summary.config.numClients).toBe(3);
  });

  it("requests.jsonl, one line per request -> ids, node and token counts from the stream", () => {
    const lines = readFileSync(join(dir, "requests.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(maxRequests);
    expect(new Set(lines.map((l) => l.request_id)).size).toBe(maxRequests);
    for (const l of lines) {
      const sent = fake.submits.find((r) => r.requestId === l.request_id)!;
      expect(l.session_id).toBe(sent.sessionId);
      if (l.error) {
        expect(l.error).toMatch(/^UNAVAILABLE/);
        continue;
      }
      expect(l.node_id).toBe("fake-node");
      expect(l.token_count).toBe(countTokens(reply(sent))); // the fake scheduler counts with cl100k
      expect(l.cached_tokens).toBe(40);
      expect(l.sent_ms).toBeGreaterThanOrEqual(l.scheduled_ms);
      expect(l.end_ms).toBeGreaterThanOrEqual(l.first_token_ms);
      expect(l.ttft_ms).toBeLessThanOrEqual(l.e2el_ms);
    }
  });

  it("later turns -> whole history with the responses actually received", () => {
    const later = fake.submits.filter((r) => r.turnIndex > 0);
    expect(later.length).toBeGreaterThan(0);
    for (const req of later) {
      const earlier = fake.submits.filter(
        (r) => r.sessionId === req.sessionId && r.turnIndex < req.turnIndex,
      );
      expect(req.messages).toHaveLength(2 * req.turnIndex + 1);
      for (const prev of earlier) expect(req.messages[2 * prev.turnIndex + 1]!.content).toBe(reply(prev));
      // workloadgen counts the dataset's replies with its default --tokenizer, llama3.
      expect(req.maxOutputTokens).toBe(
        Math.max(1, loadTokenizer("llama3").countTokens(req.expectedResponse!)),
      );
    }
  });

  it("hints -> one Advise per next turn with the scaled think time", () => {
    for (const req of fake.submits.filter((r) => r.turnIndex > 0)) {
      const prev = fake.submits.find(
        (r) => r.sessionId === req.sessionId && r.turnIndex === req.turnIndex - 1,
      )!;
      const hint = fake.hints.find(
        (h) => h.sessionId === req.sessionId && h.nextTurnIndex === req.turnIndex,
      )!;
      const prompt = req.messages[req.messages.length - 1]!.content;
      const thinkMs = (reply(prev).length / 25 + prompt.length / 6) * 1000;
      expect(hint.expectedArrivalMs).toBe(Math.round(thinkMs / timeScale));
    }
  });

  it("finished sessions -> CloseSession, including the failed one", () => {
    const closed = new Set(fake.closes.map((c) => c.sessionId));
    expect(closed.has(FAILING_SESSION)).toBe(true);
    for (const req of fake.submits.filter((r) => r.isLast)) expect(closed.has(req.sessionId)).toBe(true);
  });
});

describe("workloadgen bundle, bad input", () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "wg-bad-"))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const conv = {
    conversations: [
      { from: "human", value: "hi" },
      { from: "gpt", value: "hello" },
    ],
  };
  it.each([
    [
      "wrong value type",
      JSON.stringify([
        conv,
        conv,
        conv,
        {
          conversations: [
            { from: "human", value: "x" },
            { from: "gpt", value: 7 },
          ],
        },
      ]),
      /bad\.json: \[3\]\.conversations\[1\]\.value: .*expected string/,
    ],
    ["invalid JSON", "[{", /bad\.json: invalid JSON/],
    [
      "no usable conversations",
      JSON.stringify([{ conversations: [{ from: "human", value: "x" }] }]),
      /bad\.json: no usable conversations.*fewer than 2 messages/,
    ],
  ])("dataset with %s -> one line naming the file, exit 2", async (_name, content, pattern) => {
    const path = join(dir, "bad.json");
    writeFileSync(path, content);
    const r = await runCli(bundlePath("workloadgen"), ["--dataset", path, "--dry-run"]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
  });

  it("missing dataset file -> exit 2 naming it", async () => {
    const r = await runCli(bundlePath("workloadgen"), ["--dataset", join(dir, "nope.json"), "--dry-run"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/nope\.json: cannot read dataset: no such file/);
  });
});
