import type { IncomingHttpHeaders } from "node:http";
import { randomUUID } from "node:crypto";
import type { ServerResponse } from "node:http";
import type { Logger } from "@symphony/runtime";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import type { Registry } from "prom-client";
import type { z } from "zod";
import type { Config } from "../config";
import {
  type ChatTemplate,
  type EngineCore,
  type EngineListener,
  type FaultInjector,
  type OutputPlan,
  type OutputPlanner,
  type RequestSummary,
  type TokenCache,
} from "../domain";
import { ChatFormatError, resolveRenderOptions, type ChatRenderOptions } from "@symphony/common";
import { ApiError, errorBody } from "./api-error";
import {
  chatCompletionRequest,
  completionRequest,
  describeZodError,
  detokenizeRequest,
  messageText,
  tokenizeChatRequest,
  tokenizePromptRequest,
} from "./openai-schema";

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

/** A validated generation request, ready for the engine. */
interface Job {
  readonly kind: "chat" | "text";
  readonly id: string;
  readonly created: number;
  readonly model: string;
  readonly promptTokenIds: number[];
  readonly plan: OutputPlan;
  /** The text each output token streams (the tokenizer's incremental detokenization). */
  readonly pieces: string[];
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** Prompt tokens whose KV the node reports resident (loaded, not recomputed; --kv-connector). */
  readonly externalKvTokens: number;
  /** max_tokens as resolved (the client's, else max-model-len minus the prompt). */
  readonly maxTokens: number;
}

const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === undefined || body === null || typeof body !== "object")
    throw new ApiError(400, "request body must be a JSON object");
  const r = schema.safeParse(body);
  if (!r.success) throw new ApiError(400, describeZodError(r.error));
  return r.data;
}

/** JSON string literals of streamed pieces; pieces are mostly single tokens, so this stays small. */
const pieceJsonCache = new Map<string, string>();
function pieceJson(piece: string): string {
  let json = pieceJsonCache.get(piece);
  if (json === undefined) {
    json = JSON.stringify(piece);
    if (pieceJsonCache.size < 250_000) pieceJsonCache.set(piece, json);
  }
  return json;
}

/**
 * Writes one generation to the client as vLLM's OpenAI server would: SSE chunks (one per
 * token, strings built from precomputed templates, no per-chunk object serialisation) or one
 * JSON body at the end. It is the engine listener for that request.
 */
class CompletionResponder implements EngineListener {
  private readonly pieces: string[];
  private readonly lastIndex: number;
  /** `data: {...,"choices":[{"index":0,` shared by every chunk of this stream. */
  private readonly head: string;
  private done = false;
  private headersSent = false;
  /** Write SSE chunks straight to the socket with our own chunked framing (see `send`). */
  private rawChunked = false;

  constructor(
    private readonly job: Job,
    private readonly res: ServerResponse,
    private readonly dropAfterTokens: number,
    private readonly onAbortRequest: () => void,
    /** --enable-prompt-tokens-details: report cached tokens in usage (vLLM omits them otherwise). */
    private readonly promptTokensDetails: boolean,
  ) {
    this.pieces = job.pieces;
    this.lastIndex = job.plan.tokenIds.length - 1;
    const object = job.kind === "chat" ? "chat.completion.chunk" : "text_completion";
    this.head = `data: {"id":"${job.id}","object":"${object}","created":${job.created},"model":${JSON.stringify(job.model)},"choices":[{"index":0,`;
  }

  get finished(): boolean {
    return this.done;
  }

  /** Sends the SSE response headers at once (as Starlette's StreamingResponse does). */
  startStream(): void {
    this.res.writeHead(200, SSE_HEADERS);
    this.res.flushHeaders();
    this.headersSent = true;
    this.rawChunked = this.res.chunkedEncoding && this.res.socket !== null;
  }

  /**
   * Sends body bytes. ServerResponse.write costs a cork, three buffers, a writev and a nextTick
   * per call, which dominated CPU at tens of thousands of chunks per second; one socket.write of
   * a pre-framed HTTP/1.1 chunk is the same bytes on the wire in one syscall. Headers and the
   * terminating chunk still go through ServerResponse, so keep-alive handling is unchanged.
   */
  private send(data: string): void {
    const socket = this.res.socket;
    if (this.rawChunked && socket) {
      if (!socket.destroyed) socket.write(`${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`);
    } else {
      this.res.write(data);
    }
  }

  onToken(index: number): void {
    if (!this.job.stream || this.done) return;
    if (index === this.dropAfterTokens) {
      // Fault injection: the connection dies mid-stream.
      this.done = true;
      this.res.destroy();
      this.onAbortRequest();
      return;
    }
    const piece = pieceJson(this.pieces[index]!);
    const chat = this.job.kind === "chat";
    let out = "";
    // vLLM sends the role delta together with the first output.
    if (index === 0 && chat)
      out = `${this.head}"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`;
    const finish = index === this.lastIndex ? `"${this.job.plan.finishReason}"` : "null";
    out += chat
      ? `${this.head}"delta":{"content":${piece}},"logprobs":null,"finish_reason":${finish}${finish === "null" ? "" : ',"stop_reason":null'}}]}\n\n`
      : `${this.head}"text":${piece},"logprobs":null,"finish_reason":${finish},"stop_reason":null}]}\n\n`;
    this.send(out);
  }

  onFinish(s: RequestSummary): void {
    if (this.done) return;
    this.done = true;
    if (s.finishReason === "abort") {
      // Client gone or server draining: end whatever was started.
      if (!this.res.destroyed) {
        if (this.headersSent) this.res.end();
        else
          this.res
            .writeHead(503, { "content-type": "application/json" })
            .end(errorBody(503, "request aborted"));
      }
      return;
    }
    // vLLM fills prompt_tokens_details only with --enable-prompt-tokens-details and a non-zero
    // count; streamed usage drops the unset field (exclude_none), the JSON body shows null.
    const details =
      this.promptTokensDetails && s.cachedTokens > 0 ? `{"cached_tokens":${s.cachedTokens}}` : null;
    const counts = `"prompt_tokens":${s.promptTokens},"total_tokens":${s.promptTokens + s.completionTokens},"completion_tokens":${s.completionTokens}`;
    if (this.job.stream) {
      const usage = details ? `{${counts},"prompt_tokens_details":${details}}` : `{${counts}}`;
      let tail = "";
      if (this.job.includeUsage) {
        const object = this.job.kind === "chat" ? "chat.completion.chunk" : "text_completion";
        tail += `data: {"id":"${this.job.id}","object":"${object}","created":${this.job.created},"model":${JSON.stringify(this.job.model)},"choices":[],"usage":${usage}}\n\n`;
      }
      this.send(`${tail}data: [DONE]\n\n`);
      this.res.end();
      return;
    }
    const usage = `{${counts},"prompt_tokens_details":${details ?? "null"}}`;
    const text = JSON.stringify(this.pieces.slice(0, s.completionTokens).join(""));
    const reason = this.job.plan.finishReason;
    const choice =
      this.job.kind === "chat"
        ? `{"index":0,"message":{"role":"assistant","content":${text},"refusal":null,"tool_calls":[],"reasoning_content":null},"logprobs":null,"finish_reason":"${reason}","stop_reason":null}`
        : `{"index":0,"text":${text},"logprobs":null,"finish_reason":"${reason}","stop_reason":null,"prompt_logprobs":null}`;
    const object = this.job.kind === "chat" ? "chat.completion" : "text_completion";
    const body = `{"id":"${this.job.id}","object":"${object}","created":${this.job.created},"model":${JSON.stringify(this.job.model)},"choices":[${choice}],"usage":${usage},"system_fingerprint":null,"prompt_logprobs":null,"kv_transfer_params":null}`;
    this.res.writeHead(200, { "content-type": "application/json" }).end(body);
  }
}

/** The mock's HTTP API on fastify: OpenAI-compatible routes plus vLLM's extras. */
export async function buildHttpServer(deps: HttpServerDeps): Promise<FastifyInstance> {
  const { config, engine, registry, logger, tokens, template, planner, faults } = deps;
  const nowSeconds = deps.nowSeconds ?? (() => Math.floor(Date.now() / 1000));
  const startedAt = nowSeconds();
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

  const checkModel = (model: string | null | undefined): string => {
    if (model == null || model === "") return config.servedModelNames[0]!;
    if (!config.servedModelNames.includes(model))
      throw new ApiError(404, `The model \`${model}\` does not exist.`, "model");
    return model;
  };

  /** vLLM's length checks and max_tokens default (max-model-len minus the prompt). */
  const resolveMaxTokens = (promptLen: number, requested: number | null | undefined): number => {
    const maxLen = config.maxModelLen;
    if (requested != null) {
      if (promptLen + requested > maxLen)
        throw new ApiError(
          400,
          `'max_tokens' or 'max_completion_tokens' is too large: ${requested}. This model's maximum context ` +
            `length is ${maxLen} tokens and your request has ${promptLen} input tokens ` +
            `(${requested} > ${maxLen} - ${promptLen}).`,
          "max_tokens",
        );
      return requested;
    }
    if (promptLen >= maxLen)
      throw new ApiError(
        400,
        `This model's maximum context length is ${maxLen} tokens. However, your request has ${promptLen} ` +
          `input tokens. Please reduce the length of the input messages.`,
        "messages",
      );
    return maxLen - promptLen;
  };

  const run = (job: Job, reply: FastifyReply, decision: ReturnType<FaultInjector["decide"]>) => {
    reply.hijack();
    const res = reply.raw;
    let submitted = false;
    let spikeTimer: NodeJS.Timeout | undefined;
    const responder = new CompletionResponder(
      job,
      res,
      job.stream ? decision.dropAfterTokens : -1,
      () => engine.abort(job.id),
      config.enablePromptTokensDetails,
    );
    res.on("close", () => {
      if (responder.finished) return;
      if (spikeTimer) clearTimeout(spikeTimer);
      if (submitted) engine.abort(job.id);
    });
    if (job.stream) responder.startStream();
    const submit = () => {
      spikeTimer = undefined;
      if (res.destroyed) return;
      submitted = true;
      try {
        engine.submit(
          {
            id: job.id,
            promptTokenIds: job.promptTokenIds,
            outputTokenIds: job.plan.tokenIds,
            finishReason: job.plan.finishReason,
            externalKvTokens: job.externalKvTokens,
            maxTokens: job.maxTokens,
          },
          responder,
        );
      } catch (err) {
        // Only reachable when the engine is closed (shutdown) or a limit check above was missed.
        const msg = err instanceof Error ? err.message : String(err);
        if (res.headersSent) res.end();
        else res.writeHead(503, { "content-type": "application/json" }).end(errorBody(503, msg));
      }
    };
    if (decision.extraDelayMs > 0) spikeTimer = setTimeout(submit, decision.extraDelayMs / config.timeScale);
    else submit();
  };

  const prepare = (
    kind: Job["kind"],
    idPrefix: string,
    body: {
      model?: string | null;
      stream?: boolean | null;
      stream_options?: { include_usage?: boolean | null } | null;
      min_tokens?: number | null;
      ignore_eos?: boolean | null;
      n?: number | null;
      expected_response?: string | null;
    },
    promptTokenIds: number[],
    requestedMaxTokens: number | null | undefined,
    headers: IncomingHttpHeaders,
  ): { job: Job; decision: ReturnType<FaultInjector["decide"]> } => {
    const headerExpected = expectedFromHeader(headers["x-expected-response"]);
    const model = checkModel(body.model);
    if (body.n != null && body.n !== 1)
      throw new ApiError(400, `n must be 1: the mock serves one choice per request, got n=${body.n}`, "n");
    // vLLM's input check, e.g. an empty completion prompt without BOS.
    if (promptTokenIds.length === 0) throw new ApiError(400, "The decoder prompt cannot be empty");
    const maxTokens = resolveMaxTokens(promptTokenIds.length, requestedMaxTokens);
    const minTokens = body.min_tokens ?? 0;
    if (minTokens > maxTokens)
      throw new ApiError(
        400,
        `min_tokens must be less than or equal to max_tokens=${maxTokens}, got ${minTokens}.`,
        "min_tokens",
      );
    const plan = planner.plan({
      promptTokenIds,
      expectedResponse: body.expected_response ?? headerExpected,
      maxTokens,
      minTokens,
      ignoreEos: body.ignore_eos ?? false,
    });
    const decision = faults.decide(plan.tokenIds.length);
    if (decision.errorStatus)
      throw new ApiError(
        decision.errorStatus,
        `injected fault: HTTP ${decision.errorStatus} (--fault-error-rate)`,
      );
    const job: Job = {
      kind,
      id: `${idPrefix}-${randomUUID().replaceAll("-", "")}`,
      created: nowSeconds(),
      model,
      promptTokenIds,
      plan,
      pieces: tokens.streamPieces(plan.tokenIds),
      stream: body.stream ?? false,
      includeUsage: body.stream_options?.include_usage ?? false,
      externalKvTokens: config.kvConnector ? residentTokens(headers["x-symphony-resident-tokens"]) : 0,
      maxTokens,
    };
    return { job, decision };
  };

  /** `x-symphony-resident-tokens`: a non-negative integer, or 0 when absent or malformed. */
  const residentTokens = (value: string | string[] | undefined): number => {
    const n = typeof value === "string" ? Number(value) : 0;
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  };

  /** The expected response may also come as a header (percent-encoded UTF-8). */
  const expectedFromHeader = (value: string | string[] | undefined): string | undefined => {
    if (typeof value !== "string") return undefined;
    try {
      return decodeURIComponent(value);
    } catch {
      throw new ApiError(400, "x-expected-response header must be percent-encoded UTF-8");
    }
  };

  /**
   * The chat prompt as vLLM renders it: the model's template with add_generation_prompt /
   * continue_final_message, plus BOS when add_special_tokens asks for it (vLLM default false).
   */
  const chatPrompt = (body: {
    messages: readonly { role: string; content?: Parameters<typeof messageText>[0] }[];
    add_generation_prompt?: boolean | null;
    continue_final_message?: boolean | null;
    add_special_tokens?: boolean | null;
  }): number[] => {
    try {
      const options: ChatRenderOptions = resolveRenderOptions(
        body.add_generation_prompt,
        body.continue_final_message,
      );
      const messages = body.messages.map((m) => ({ role: m.role, content: messageText(m.content) }));
      const ids = template.apply(messages, options);
      return body.add_special_tokens ? [template.format.bosId, ...ids] : ids;
    } catch (err) {
      if (err instanceof ChatFormatError) throw new ApiError(400, err.message);
      throw err;
    }
  };

  app.post("/v1/chat/completions", async (req, reply) => {
    const body = parseBody(chatCompletionRequest, req.body);
    const prompt = chatPrompt(body);
    const { job, decision } = prepare(
      "chat",
      "chatcmpl",
      body,
      prompt,
      body.max_completion_tokens ?? body.max_tokens,
      req.headers,
    );
    run(job, reply, decision);
  });

  app.post("/v1/completions", async (req, reply) => {
    const body = parseBody(completionRequest, req.body);
    const p = body.prompt;
    let prompt: number[];
    const bos = body.add_special_tokens ?? true;
    if (typeof p === "string") prompt = template.completionPrompt(p, bos);
    else if (p.length !== 1 && (typeof p[0] === "string" || Array.isArray(p[0])))
      throw new ApiError(400, `one prompt per request is supported, got ${p.length}`, "prompt");
    else if (typeof p[0] === "string") prompt = template.completionPrompt(p[0], bos);
    else if (Array.isArray(p[0])) prompt = [...p[0]];
    else prompt = [...(p as number[])];
    const { job, decision } = prepare("text", "cmpl", body, prompt, body.max_tokens, req.headers);
    run(job, reply, decision);
  });

  app.post("/tokenize", async (req, reply) => {
    let ids: number[];
    if (req.body && typeof req.body === "object" && "messages" in req.body) {
      const body = parseBody(tokenizeChatRequest, req.body);
      checkModel(body.model);
      ids = chatPrompt(body);
    } else {
      const body = parseBody(tokenizePromptRequest, req.body);
      checkModel(body.model);
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
    checkModel(body.model);
    const known = (t: number) => t < tokens.tokenizer.vocabSize || template.format.specialIds.includes(t);
    const unknown = body.tokens.find((t) => !known(t));
    if (unknown !== undefined) throw new ApiError(400, `Token id ${unknown} is out of vocabulary`, "tokens");
    // As vLLM: the tokenizer's decode, special tokens included.
    return reply.send({ prompt: tokens.tokenizer.decode(body.tokens, { skipSpecialTokens: false }) });
  });

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

  return app;
}
