import * as grpc from "@grpc/grpc-js";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { grpcClientOptions, type InferenceEvent, SchedulerServiceClient } from "@symphony/runtime";
import { bundlePath, runCli, spawnService, startLocalStack, type LocalStack } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

interface RequestRecord {
  session_id: string;
  turn_index: number;
  node_id?: string;
  error?: string | null;
  completion_tokens?: number;
  token_count?: number;
}

describe("the whole stack on loopback (mock-vllm x2, node-scheduler x2, scheduler, workloadgen)", () => {
  let stack: LocalStack;
  const dir = mkdtempSync(join(tmpdir(), "symphony-e2e-"));

  beforeAll(async () => {
    stack = await startLocalStack({ nodes: 2, timeScale: 20 });
  });
  afterAll(async () => {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("workloadgen with 4 clients: every turn completes, sessions stay on one node, token counts match usage", async () => {
    const out = join(dir, "run");
    const [host, port] = stack.schedulerAddress.split(":") as [string, string];
    const result = await runCli(bundlePath("workloadgen"), [
      "--scheduler-ip",
      host,
      "--scheduler-port",
      port,
      "--num-clients",
      "4",
      "--max-requests",
      "16",
      "--duration",
      "60",
      "--time-scale",
      "50",
      "--out",
      out,
    ]);
    expect(result.code, result.stderr.slice(-3000)).toBe(0);

    const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Record<string, unknown>;
    const records = readFileSync(join(out, "requests.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as RequestRecord);
    expect(summary.completed).toBe(records.length);
    expect(summary.failed).toBe(0);
    expect(records.length).toBeGreaterThanOrEqual(16);
    expect(records.filter((r) => r.error)).toEqual([]);

    // Sticky routing: every turn of a session ran on the same node, and both nodes got sessions.
    const nodeBySession = new Map<string, Set<string>>();
    for (const r of records) {
      expect(r.node_id, `request of ${r.session_id} has no node_id`).toBeTruthy();
      const set = nodeBySession.get(r.session_id) ?? new Set<string>();
      set.add(r.node_id!);
      nodeBySession.set(r.session_id, set);
    }
    for (const [session, nodes] of nodeBySession)
      expect([session, [...nodes]]).toEqual([session, [...nodes].slice(0, 1)]);
    expect(new Set(records.map((r) => r.node_id)).size).toBe(2);
    // Multi-turn sessions happened (a later turn of some session).
    expect(records.some((r) => r.turn_index > 0)).toBe(true);

    // Tokens streamed to the client equal the engine's usage count.
    for (const r of records) expect(r.token_count).toBe(r.completion_tokens);
  });

  it("a malformed dataset -> one line naming the file, exit code 2", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, '[{"conversations": [ {"from": "human", "value": 42} ]');
    const result = await runCli(bundlePath("workloadgen"), [
      "--dataset",
      bad,
      "--scheduler-port",
      "1",
      "--max-requests",
      "1",
    ]);
    expect(result.code).toBe(2);
    const lines = result.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(bad);
  });
});

describe("scheduler with no reachable node", () => {
  it("answers UNAVAILABLE with a message instead of hanging", async () => {
    // Port 1 on loopback: nothing listens there, so the only node is unreachable.
    const scheduler = await spawnService(
      "scheduler",
      bundlePath("scheduler"),
      ["--host", "127.0.0.1", "--port", "0", "--metrics-port", "0", "--nodes", "127.0.0.1:1"],
      ["grpc"],
    );
    const client = new SchedulerServiceClient(
      `127.0.0.1:${scheduler.ports.grpc}`,
      grpc.credentials.createInsecure(),
      grpcClientOptions,
    );
    try {
      const outcome = await new Promise<{ code: string; message: string }>((resolve, reject) => {
        const call = client.submit(
          {
            requestId: "r1",
            clientId: "c1",
            sessionId: "s1",
            turnIndex: 0,
            messages: [{ role: 2, content: "hello" }],
            prompt: "",
            promptTokens: 0,
            maxOutputTokens: 8,
            stream: true,
            priority: 0,
            isLast: true,
            ignoreEos: false,
            deadlineMs: 0,
            model: "",
            parentSessionId: "",
          },
          { deadline: Date.now() + 15_000 },
        );
        call.on("data", (ev: InferenceEvent) => {
          if (ev.event?.$case === "error")
            resolve({ code: ev.event.value.code, message: ev.event.value.message });
        });
        call.on("error", (err: grpc.ServiceError) =>
          resolve({ code: grpc.status[err.code] ?? String(err.code), message: err.details }),
        );
        call.on("end", () => reject(new Error("stream ended without an error")));
      });
      expect(outcome.code).toBe("UNAVAILABLE");
      expect(outcome.message.length).toBeGreaterThan(10);
    } finally {
      client.close();
      await scheduler.stop();
    }
  });
});
