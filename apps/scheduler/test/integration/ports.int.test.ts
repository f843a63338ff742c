import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { bundlePath, runCli } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// A port already in use: every app prints one line naming the flag and the
// port and exits 2 (before: a stack trace and exit 1). The test holds the port itself.

type App = "scheduler" | "node-scheduler" | "mock-vllm" | "workloadgen";

describe("the four apps on a port already in use", () => {
  let holder: Server;
  let port: number;
  let openAi: HttpServer;
  let openAiUrl: string;

  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
    port = (holder.address() as AddressInfo).port;
    // workloadgen binds --metrics-port once its target answers: a minimal OpenAI server.
    openAi = createHttpServer((_req, res) => res.end(JSON.stringify({ data: [{ id: "m" }] })));
    await new Promise<void>((r) => openAi.listen(0, "127.0.0.1", r));
    openAiUrl = `http://127.0.0.1:${(openAi.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => holder.close(() => r()));
    openAi.closeAllConnections();
    await new Promise<void>((r) => openAi.close(() => r()));
  });

  const cases: [App, string, (p: number) => string[]][] = [
    ["scheduler", "--port", (p) => ["--port", String(p), "--metrics-port", "0"]],
    ["scheduler", "--metrics-port", (p) => ["--port", "0", "--metrics-port", String(p)]],
    ["node-scheduler", "--port", (p) => ["--port", String(p), "--metrics-port", "0"]],
    ["node-scheduler", "--metrics-port", (p) => ["--port", "0", "--metrics-port", String(p)]],
    ["mock-vllm", "--port", (p) => ["--port", String(p)]],
    [
      "workloadgen",
      "--metrics-port",
      (p) => ["--target", openAiUrl, "--metrics-port", String(p), "--max-requests", "1", "--duration", "5"],
    ],
  ];

  it.each(cases)("%s %s in use -> one line naming the flag and port, exit 2", async (app, flag, args) => {
    const r = await runCli(bundlePath(app), args(port), 60_000);
    expect(r.code, r.stderr.slice(-2000)).toBe(2);
    const errors = r.stderr.split("\n").filter((l) => l !== "" && !l.startsWith("{"));
    expect(errors).toEqual([
      `error: ${flag} ${port}: 127.0.0.1:${port} is already in use (pick another port, or 0 for a free one)`,
    ]);
  });
});
