import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  SchedulerServiceService,
  startGrpcServer,
  type SchedulerServiceServer,
  type StartedGrpcServer,
} from "@symphony/runtime";
import { bundlePath, runCli } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readRequestLines, readSummary } from "./run-output";

// Servers that answer a turn's first token and then go silent: the run must
// end at --duration + --grace (in-flight turns cancelled and recorded), and --idle-timeout must
// fail a silent stream, on both targets.

/** An OpenAI-compatible server whose streams send one token and then nothing. */
async function stallingHttpServer(): Promise<{ server: Server; target: string }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/v1/models") {
        res.end(JSON.stringify({ data: [{ id: "m" }] }));
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "one" } }] })}\n\n`);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, target: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1` };
}

/** A SchedulerService whose streams send Started and one token and then nothing. */
async function stallingScheduler(): Promise<StartedGrpcServer> {
  const impl: Partial<SchedulerServiceServer> = {
    submit: (call) => {
      call.write({ event: { $case: "started", value: { nodeId: "n", queueTimeUs: 0, kvTier: "new" } } });
      call.write({ event: { $case: "token", value: { text: "one", tokenCount: 1, reasoning: false } } });
    },
    advise: (_call, cb) => cb(null, { accepted: true, nodeId: "n" }),
    closeSession: (_call, cb) => cb(null, { released: true, releasedKvTokens: 0 }),
  };
  return startGrpcServer("127.0.0.1", 0, (s) =>
    s.addService(SchedulerServiceService, impl as SchedulerServiceServer),
  );
}

interface Line {
  error: string | null;
  end_ms: number;
}

describe("workloadgen against servers that stall mid-stream", () => {
  let http: { server: Server; target: string };
  let grpc: StartedGrpcServer;
  let dir: string;
  const targets = () => ({ http: http.target, grpc: `grpc://127.0.0.1:${grpc.port}` });

  beforeAll(async () => {
    http = await stallingHttpServer();
    grpc = await stallingScheduler();
    dir = mkdtempSync(join(tmpdir(), "wg-stalls-"));
  });
  afterAll(async () => {
    http?.server.closeAllConnections();
    http?.server.close();
    await grpc?.stop(100);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const common = ["--num-clients", "3", "--time-scale", "1000", "--max-output-tokens", "8"];

  it.each(["http", "grpc"] as const)(
    "%s: --duration 2 --grace 1, streams stalled -> the run ends at about 3 s, every turn recorded CANCELLED",
    async (kind) => {
      const out = join(dir, `hard-end-${kind}`);
      const t0 = performance.now();
      const r = await runCli(
        bundlePath("workloadgen"),
        [
          "--target",
          targets()[kind],
          ...common,
          "--duration",
          "2",
          "--grace",
          "1",
          "--idle-timeout",
          "0",
          "--out",
          out,
        ],
        60_000,
      );
      const wallS = (performance.now() - t0) / 1000;
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      expect(wallS).toBeLessThan(15); // before: the run waited out --request-timeout (600 s)
      const lines = readRequestLines<Line>(out);
      expect(lines.length).toBe(3);
      for (const l of lines) {
        expect(l.error).toBe("CANCELLED: hard end: 2 s duration + 1 s grace passed with the turn in flight");
        expect(l.end_ms).toBeGreaterThanOrEqual(2900);
        expect(l.end_ms).toBeLessThan(6000);
      }
      const summary = readSummary(out);
      expect({ completed: summary.completed, failed: summary.failed }).toEqual({ completed: 0, failed: 3 });
    },
  );

  it.each(["http", "grpc"] as const)(
    "%s: --idle-timeout 1, streams stalled -> each turn fails IDLE_TIMEOUT after about 1 s",
    async (kind) => {
      const out = join(dir, `idle-${kind}`);
      const r = await runCli(
        bundlePath("workloadgen"),
        [
          "--target",
          targets()[kind],
          ...common,
          "--max-requests",
          "3",
          "--duration",
          "0",
          "--idle-timeout",
          "1",
          "--out",
          out,
        ],
        60_000,
      );
      expect(r.code, r.stderr.slice(-2000)).toBe(0);
      const lines = readRequestLines<Line>(out);
      expect(lines.length).toBe(3);
      for (const l of lines)
        expect(l.error).toMatch(/^IDLE_TIMEOUT: no (byte|event) from the (server|scheduler) for 1 s/);
      expect(readSummary(out).failed).toBe(3);
    },
  );
});
