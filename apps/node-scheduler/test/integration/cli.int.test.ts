import { createServer, type AddressInfo } from "node:net";
import { bundlePath, runCli, startNode } from "@symphony/testkit";
import { describe, expect, it } from "vitest";
import { FakeEngine } from "../fake-engine";
import { chatTurn, nodeClient, submit, terminal } from "../grpc-client";

describe("node-scheduler CLI", () => {
  it("--help -> every flag listed, exit 0", async () => {
    const r = await runCli(bundlePath("node-scheduler"), ["--help"], 20_000);
    expect(r.code).toBe(0);
    for (const flag of [
      "--kv-budget-tokens",
      "--residency-policy",
      "--engine-url",
      "--scheduler",
      "--max-queue",
    ]) {
      expect(r.stdout).toContain(flag);
    }
  });

  it.each([
    [["--port", "x"], "--port"],
    [["--residency-policy", "random"], "--residency-policy"],
    [["--kv-budget-tokens", "10", "--kv-budget-bytes", "100"], "--kv-budget-bytes"],
    [["--engine-url", "localhost:8000"], "--engine-url"],
    [["--prefetch-mode", "prefetch"], "--prefetch-mode"],
    [["--kv-events-endpoint", "localhost:5557"], "--kv-events-endpoint"],
    [
      ["--kv-events-endpoint", "tcp://127.0.0.1:5557", "--prefetch-mode", "directive"],
      "--kv-events-endpoint",
    ],
  ])("bad flags %j -> one error line naming %s, exit 2", async (args, flag) => {
    const r = await runCli(bundlePath("node-scheduler"), args, 20_000);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error: /);
    expect(lines[0]).toContain(flag);
  });

  it("--kv-events-bind on an address already in use -> one error line naming the flag, exit 2", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const port = (taken.address() as AddressInfo).port;
    try {
      const r = await runCli(
        bundlePath("node-scheduler"),
        [
          "--port",
          "0",
          "--metrics-port",
          "0",
          "--kv-events-endpoint",
          `tcp://127.0.0.1:${port}`,
          "--kv-events-bind",
        ],
        20_000,
      );
      expect(r.code).toBe(2);
      const errors = r.stderr
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("error: "));
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain("--kv-events-endpoint");
    } finally {
      taken.close();
    }
  });

  it("SIGTERM with a turn in flight -> the turn finishes, process logs stopped and exits 0", async () => {
    const engine = await new FakeEngine().start();
    engine.chunkDelayMs = 20;
    const node = await startNode(engine.url, [], { name: "node-sigterm" });
    const client = nodeClient(node.ports.grpc!);
    try {
      const turn = submit(client, chatTurn({ sessionId: "drain", expectedResponse: "a b c d e f g h i j" }));
      while (engine.inFlight === 0) await new Promise((r) => setTimeout(r, 20));
      const code = await node.stop(10_000);
      expect(terminal(await turn)?.$case).toBe("finished");
      expect(code).toBe(0);
      expect(node.logs.some((l) => l.message === "stopped")).toBe(true);
    } finally {
      client.close();
      await node.stop();
      await engine.stop();
    }
  });
});
