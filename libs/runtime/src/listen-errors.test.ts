import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startGrpcServer } from "./grpc-server";
import { listenFailure } from "./listen-errors";
import { startMetricsServer } from "./metrics-server";
import { UsageError } from "@symphony/common";

describe("listenFailure", () => {
  it.each([
    [
      { code: "EADDRINUSE" },
      "--port 80: 0.0.0.0:80 is already in use (pick another port, or 0 for a free one)",
    ],
    [
      { code: "EACCES" },
      "--port 80: no permission to listen on 0.0.0.0:80 (ports below 1024 need privileges)",
    ],
    [
      { code: "EADDRNOTAVAIL" },
      "--host 0.0.0.0: not an address of this machine (cannot listen on 0.0.0.0:80 for --port)",
    ],
    [
      {
        message:
          "No address added out of total 1 resolved errors: [listen EADDRINUSE: address already in use]",
      },
      "--port 80: 0.0.0.0:80 is already in use (pick another port, or 0 for a free one)",
    ],
  ])("%j -> one-line UsageError", (err, message) => {
    const out = listenFailure(err, "0.0.0.0", 80, "--port");
    expect(out).toBeInstanceOf(UsageError);
    expect((out as Error).message).toBe(message);
  });

  it("any other error -> returned unchanged", () => {
    const err = new Error("boom");
    expect(listenFailure(err, "h", 1, "--port")).toBe(err);
  });
});

describe("servers on a port already in use", () => {
  let holder: Server;
  let port: number;
  beforeAll(async () => {
    holder = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
    port = (holder.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => holder.close(() => r())));

  it("startGrpcServer -> UsageError naming the flag and port, and grpc-js prints nothing of its own", async () => {
    const printed = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const started = startGrpcServer("127.0.0.1", port, () => {}, { portFlag: "--grpc-port" });
      await expect(started).rejects.toBeInstanceOf(UsageError);
      await expect(started).rejects.toThrow(`--grpc-port ${port}: 127.0.0.1:${port} is already in use`);
      expect(printed).not.toHaveBeenCalled();
    } finally {
      printed.mockRestore();
    }
  });

  it("startMetricsServer -> UsageError naming --metrics-port and the port", async () => {
    const started = startMetricsServer(new Registry(), "127.0.0.1", port);
    await expect(started).rejects.toThrow(`--metrics-port ${port}: 127.0.0.1:${port} is already in use`);
  });
});
