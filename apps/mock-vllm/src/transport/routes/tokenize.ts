import type { FastifyInstance } from "fastify";
import type { HttpServerDeps } from "../http-server-deps";
import { detokenizeRequest, tokenizeChatRequest, tokenizePromptRequest } from "../openai-schema";
import { chatPromptIds, checkModel, checkTokenIds, parseBody } from "../request-checks";

/** vLLM's POST /tokenize (a prompt or a chat, rendered as generation would) and POST /detokenize. */
export function registerTokenizeRoutes(app: FastifyInstance, deps: HttpServerDeps): void {
  const { config, tokens, template } = deps;

  app.post("/tokenize", async (req, reply) => {
    let ids: number[];
    if (req.body && typeof req.body === "object" && "messages" in req.body) {
      const body = parseBody(tokenizeChatRequest, req.body);
      checkModel(config, body.model);
      ids = chatPromptIds(template, body);
    } else {
      const body = parseBody(tokenizePromptRequest, req.body);
      checkModel(config, body.model);
      ids = template.completionPrompt(body.prompt, body.add_special_tokens ?? true);
    }
    return reply.send({
      count: ids.length,
      max_model_len: config.maxModelLen,
      tokens: ids,
      token_strs: null,
    });
  });

  app.post("/detokenize", async (req, reply) => {
    const body = parseBody(detokenizeRequest, req.body);
    checkModel(config, body.model);
    checkTokenIds(body.tokens, tokens, template, "tokens");
    // As vLLM: the tokenizer's decode, special tokens included.
    return reply.send({ prompt: tokens.tokenizer.decode(body.tokens, { skipSpecialTokens: false }) });
  });
}
