import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { EngineHealthMonitor, probeEngineHealth, type EngineHealthChange } from "./engine-health";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("EngineHealthMonitor", () => {
  it("3 failures in a row -> unhealthy once, with the last reason; one success -> healthy again", async () => {
    const answers = ["", "refused", "refused", "", "refused", "refused", "refused", "refused", ""];
    const changes: EngineHealthChange[] = [];
    let probes = 0;
    const m = new EngineHealthMonitor({
      url: "http://engine/health",
      intervalMs: 5,
      timeoutMs: 100,
      failuresToUnhealthy: 3,
      onChange: (c) => changes.push(c),
      probe: async () => answers[Math.min(probes++, answers.length - 1)]!,
    });
    m.start();
    while (probes < answers.length) await sleep(5);
    await sleep(20);
    m.stop();
    expect(changes).toEqual([
      { healthy: false, reason: "3 health checks failed in a row, last: refused" },
      { healthy: true, reason: "" },
    ]);
    expect(m.healthy).toBe(true);
  });

  it("probeEngineHealth -> '' for 200 and 404, the status for 5xx, the cause for a refused connection", async () => {
    const server = createServer((req, res) => {
      res.statusCode = req.url === "/health" ? 200 : req.url === "/dead/health" ? 500 : 404;
      res.end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(await probeEngineHealth(`${base}/health`, 1000)).toBe("");
      expect(await probeEngineHealth(`${base}/other/health`, 1000)).toBe("");
      expect(await probeEngineHealth(`${base}/dead/health`, 1000)).toBe(`GET ${base}/dead/health: HTTP 500`);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
    // A port nobody listens on any more.
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(0, "127.0.0.1", r));
    const goneUrl = `http://127.0.0.1:${(gone.address() as AddressInfo).port}/health`;
    await new Promise<void>((r) => gone.close(() => r()));
    expect(await probeEngineHealth(goneUrl, 1000)).toBe(`GET ${goneUrl}: ECONNREFUSED`);
  });
});
