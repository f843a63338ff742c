import type { Socket } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { Gauge } from "prom-client";
import { ApiError, errorBody } from "./api-error";
import type { HttpServerDeps } from "./http-server-deps";
import { closeIdleConnections } from "./idle-connections";
import { registerGenerateRoutes } from "./routes/generate";
import { registerServerInfoRoutes } from "./routes/server-info";
import { registerTokenizeRoutes } from "./routes/tokenize";

export type { HttpServerDeps } from "./http-server-deps";

/**
 * The mock's HTTP API on fastify: OpenAI-compatible routes plus vLLM's extras (routes/), with
 * errors in vLLM's JSON shape. Not listening yet: the caller listens (or tests `inject()`).
 */
export async function buildHttpServer(deps: HttpServerDeps): Promise<FastifyInstance> {
  const { logger } = deps;
  const nowSeconds = deps.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024 * 1024,
    return503OnClosing: true,
  });

  // vLLM (uvicorn) closes a connection idle for VLLM_HTTP_TIMEOUT_KEEP_ALIVE seconds, unannounced;
  // so does the mock, so that clients which would trip on it against vLLM trip here too.
  closeIdleConnections(app.server, deps.config.httpTimeoutKeepAliveS * 1000);

  // Not a vLLM metric: shows that a slow reader costs the mock bounded memory (README, "API",
  // the paragraph on slow readers). Read at scrape time, so streaming pays nothing for it.
  const connections = new Set<Socket>();
  app.server.on("connection", (socket: Socket) => {
    connections.add(socket);
    socket.once("close", () => connections.delete(socket));
  });
  new Gauge({
    name: "symphony_mock_http_send_buffer_max_bytes",
    help: "Largest send buffer among open HTTP connections: bytes written but not yet taken by the kernel",
    registers: [deps.registry],
    collect() {
      let max = 0;
      for (const socket of connections) max = Math.max(max, socket.writableLength);
      this.set(max);
    },
  });

  app.setErrorHandler((err: Error & { statusCode?: number }, _req, reply) => {
    if (err instanceof ApiError) {
      return reply
        .code(err.status)
        .type("application/json")
        .send(errorBody(err.status, err.message, err.param));
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) logger.error("request failed", { error: err.message });
    return reply.code(status).type("application/json").send(errorBody(status, err.message));
  });
  app.setNotFoundHandler((req, reply) =>
    reply
      .code(404)
      .type("application/json")
      .send(JSON.stringify({ detail: "Not Found", path: req.url })),
  );

  registerGenerateRoutes(app, deps, nowSeconds);
  registerTokenizeRoutes(app, deps);
  registerServerInfoRoutes(app, deps, nowSeconds());
  return app;
}
