import type { FastifyInstance } from "fastify";
import type { HttpServerDeps } from "../http-server-deps";

/**
 * GET /v1/models, /health, /ping, /version, /metrics, and POST /reset_prefix_cache when
 * --server-dev-mode is set. `startedAt`: wall-clock seconds of the server's start.
 */
export function registerServerInfoRoutes(
  app: FastifyInstance,
  deps: HttpServerDeps,
  startedAt: number,
): void {
  const { config, engine, registry } = deps;

  app.get("/v1/models", async (_req, reply) =>
    reply.send({
      object: "list",
      data: config.servedModelNames.map((name) => ({
        id: name,
        object: "model",
        created: startedAt,
        owned_by: "vllm",
        root: config.model,
        parent: null,
        max_model_len: config.maxModelLen,
        permission: [
          {
            id: `modelperm-${name.length.toString(16)}${startedAt.toString(16)}`,
            object: "model_permission",
            created: startedAt,
            allow_create_engine: false,
            allow_sampling: true,
            allow_logprobs: true,
            allow_search_indices: false,
            allow_view: true,
            allow_fine_tuning: false,
            organization: "*",
            group: null,
            is_blocking: false,
          },
        ],
      })),
    }),
  );

  app.get("/health", async (_req, reply) => reply.code(200).send(""));
  app.get("/ping", async (_req, reply) => reply.code(200).send(""));
  app.get("/version", async (_req, reply) => reply.send({ version: "mock-vllm-0.1.0" }));
  // A dev endpoint: vLLM serves it only with VLLM_SERVER_DEV_MODE=1 (else 404).
  if (config.serverDevMode)
    app.post("/reset_prefix_cache", async (_req, reply) => {
      engine.resetPrefixCache();
      return reply.code(200).send("");
    });
  app.get("/metrics", async (_req, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
}
