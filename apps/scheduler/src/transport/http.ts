import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";

export interface HttpAdminServer {
  port: number;
  close(): Promise<void>;
}

/**
 * The admin port: `GET /metrics` (Prometheus text) and `GET /status` (JSON from `status()`:
 * nodes, their state and load, sessions per node, policy).
 */
export async function startAdminServer(
  registry: Registry,
  status: () => unknown,
  host: string,
  port: number,
): Promise<HttpAdminServer> {
  const server: Server = createServer((req, res) => {
    const path = req.url?.split("?")[0];
    if (req.method === "GET" && path === "/metrics") {
      registry.metrics().then(
        (body) => {
          res.writeHead(200, { "content-type": registry.contentType });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(String(err));
        },
      );
      return;
    }
    if (req.method === "GET" && path === "/status") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(status(), null, 2));
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("not found: try GET /metrics or GET /status\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
