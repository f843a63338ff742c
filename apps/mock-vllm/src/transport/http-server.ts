import type { Logger } from "@symphony/runtime";
import Fastify, { type FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import type { Config } from "../config";
import type { ChatTemplate, EngineCore, FaultInjector, OutputPlanner, TokenCache } from "../domain";
import { ApiError, errorBody } from "./api-error";
import { registerGenerateRoutes } from "./routes/generate";
import { registerServerInfoRoutes } from "./routes/server-info";
import { registerTokenizeRoutes } from "./routes/tokenize";

export interface HttpServerDeps {
  readonly config: Config;
  readonly engine: EngineCore;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly tokens: TokenCache;
  readonly template: ChatTemplate;
  readonly planner: OutputPlanner;
  readonly faults: FaultInjector;
  /** Wall-clock seconds for `created` fields (injectable for tests). */
  readonly nowSeconds?: () => number;
}

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
    keepAliveTimeout: 75_000,
    return503OnClosing: true,
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
