import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { listenFailure } from "./listen-errors";

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Extra `GET` routes answering JSON, e.g. `{ "/status": () => clusterStatus() }`. */
export type JsonRoutes = Readonly<Record<string, () => unknown>>;

/**
 * Serves `GET /metrics` (Prometheus text) from `registry` on its own port, for services whose
 * main protocol is gRPC, plus any JSON admin routes. Port 0 picks a free port; a port that cannot
 * be bound is a UsageError naming `flag` (see listenFailure).
 */
export async function startMetricsServer(
  registry: Registry,
  host: string,
  port: number,
  jsonRoutes: JsonRoutes = {},
  flag = "--metrics-port",
): Promise<MetricsServer> {
  const known = ["/metrics", ...Object.keys(jsonRoutes)].map((p) => `GET ${p}`).join(" or ");
  const server: Server = createServer((req, res) => {
    const path = req.url?.split("?")[0] ?? "";
    const json = req.method === "GET" ? jsonRoutes[path] : undefined;
    if (json) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(json(), null, 2));
      return;
    }
    if (req.method === "GET" && path === "/metrics") {
      registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { "content-type": registry.contentType });
          res.end(body);
        })
        .catch((err: unknown) => {
          res.writeHead(500, { "content-type": "text/plain" });
          res.end(String(err));
        });
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end(`not found: try ${known}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err) => reject(listenFailure(err, host, port, flag)));
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
