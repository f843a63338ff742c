import { notAnEventStream, streamPieces, type OpenAiStreamChunk } from "@symphony/common";
import { Pool } from "undici";
import {
  EngineError,
  type EngineAdapter,
  type EngineLoad,
  type EngineRequest,
  type EngineResult,
  type EngineSink,
  type EngineUsageReport,
  type SessionContext,
  type WarmupResult,
} from "./engine-adapter";
import { classifyHttpStatus, toEngineError } from "./error-mapping";
import { engineLoadFromMetrics } from "./prometheus-text";
import { SseParser } from "./sse";
import { usageFromEngine } from "./usage-validation";

export interface OpenAiHttpAdapterOptions {
  /** Base URL of the OpenAI API, e.g. http://127.0.0.1:8000/v1. `/metrics` is read at its origin. */
  engineUrl: string;
  /** Model to request; "" = the first id of `GET /v1/models` (looked up once, retried on failure). */
  model: string;
  /** Keep-alive connections to the engine (streams hold one each for their whole duration). */
  connections: number;
  connectTimeoutMs: number;
  /** Send `expected_response` in the body when the request has one (mock-vllm replays it). */
  forwardExpectedResponse: boolean;
}

type StreamChunk = OpenAiStreamChunk;

/** Below vLLM's VLLM_HTTP_TIMEOUT_KEEP_ALIVE default (5 s). */
const ENGINE_IDLE_CONNECTION_MS = 4000;

/**
 * vLLM / mock-vllm over the OpenAI HTTP API. Always streams (`stream: true` with
 * `stream_options.include_usage`) so tokens reach the client as generated and the final chunk
 * carries usage including `prompt_tokens_details.cached_tokens` (prefix-cache hits).
 */
export class OpenAiHttpAdapter implements EngineAdapter {
  private readonly pool: Pool;
  private readonly pathPrefix: string;
  private modelPromise?: Promise<string>;

  constructor(private readonly options: OpenAiHttpAdapterOptions) {
    const url = new URL(options.engineUrl);
    this.pathPrefix = url.pathname.replace(/\/+$/, "");
    this.pool = new Pool(url.origin, {
      connections: options.connections,
      connectTimeout: options.connectTimeoutMs,
      // vLLM (uvicorn) closes connections idle for 5 s and says nothing about it: drop ours first, or
      // a request can go out on a connection the engine is closing (undici honours a Keep-Alive hint).
      keepAliveTimeout: ENGINE_IDLE_CONNECTION_MS,
      // Streams may pause between tokens while the engine is busy; never cut them off.
      bodyTimeout: 0,
      headersTimeout: 0,
    });
  }

  get engineUrl(): string {
    return this.options.engineUrl;
  }

  /** The model requests go to: configured, or the engine's first listed model. */
  resolveModel(): Promise<string> {
    if (this.options.model) return Promise.resolve(this.options.model);
    if (!this.modelPromise) {
      // Shared by concurrent callers, so no caller's abort signal is attached to it.
      const p = this.listModels().then((models) => {
        if (models.length === 0) {
          throw new EngineError("FAILED_PRECONDITION", `engine ${this.engineUrl} lists no models`, false);
        }
        return models[0]!;
      });
      this.modelPromise = p;
      p.catch(() => {
        if (this.modelPromise === p) this.modelPromise = undefined; // look again next time
      });
    }
    return this.modelPromise;
  }

  async listModels(signal?: AbortSignal): Promise<string[]> {
    const body = await this.requestJson("GET", `${this.pathPrefix}/models`, { signal });
    const data = (body as { data?: { id?: unknown }[] }).data;
    if (!Array.isArray(data)) {
      throw new EngineError("INTERNAL", `engine ${this.engineUrl}/models returned no "data" list`, false);
    }
    return data.map((m) => m.id).filter((id): id is string => typeof id === "string");
  }

  async readLoad(signal?: AbortSignal): Promise<EngineLoad | undefined> {
    try {
      const res = await this.pool.request({ method: "GET", path: "/metrics", signal });
      const text = await res.body.text();
      if (res.statusCode !== 200) return undefined;
      return engineLoadFromMetrics(text);
    } catch {
      return undefined;
    }
  }

  async generate(req: EngineRequest, sink: EngineSink, signal: AbortSignal): Promise<EngineResult> {
    const model = req.model || (await this.resolveModel());
    const chat = req.messages !== undefined;
    const body: Record<string, unknown> = {
      model,
      max_tokens: req.maxTokens,
      ignore_eos: req.ignoreEos,
      stream: true,
      stream_options: { include_usage: true },
    };
    if (chat) body.messages = req.messages;
    else body.prompt = req.prompt ?? "";
    if (this.options.forwardExpectedResponse && req.expectedResponse !== undefined) {
      body.expected_response = req.expectedResponse;
    }

    const t0 = performance.now();
    let res: Awaited<ReturnType<Pool["request"]>>;
    try {
      res = await this.pool.request({
        method: "POST",
        path: `${this.pathPrefix}${chat ? "/chat/completions" : "/completions"}`,
        headers: {
          "content-type": "application/json",
          accept: "text/event-stream",
          "x-request-id": req.requestId,
          "x-symphony-session-id": req.sessionId,
          ...(req.kvTier ? { "x-symphony-kv-tier": req.kvTier } : {}),
          ...(req.residentKvTokens ? { "x-symphony-resident-tokens": String(req.residentKvTokens) } : {}),
        },
        body: JSON.stringify(body),
        signal,
      });
    } catch (err) {
      throw toEngineError(err, this.engineUrl, false);
    }
    if (res.statusCode >= 400) {
      const text = await res.body.text().catch(() => "");
      const { code, retryable } = classifyHttpStatus(res.statusCode);
      throw new EngineError(
        code,
        `engine returned HTTP ${res.statusCode}: ${errorMessageOf(text)}`,
        retryable,
      );
    }
    // A 200 that is not an event stream (a proxy's page, a non-streaming server) would otherwise
    // read as a stream closed early and be retried: fail it precisely instead.
    const notSse = notAnEventStream(res.headers["content-type"], "engine", res.statusCode);
    if (notSse) {
      res.body.destroy();
      throw new EngineError("INTERNAL", notSse, false);
    }

    const parser = new SseParser();
    const decoder = new TextDecoder();
    let tokenEvents = 0;
    let ttftUs = 0;
    let finishReason = "";
    let usage: EngineUsageReport | undefined;
    let done = false;
    const handle = (data: string) => {
      if (data === "[DONE]") {
        done = true;
        return;
      }
      let chunk: StreamChunk;
      try {
        chunk = JSON.parse(data) as StreamChunk;
      } catch {
        throw new EngineError(
          "INTERNAL",
          `engine sent malformed stream data: ${data.slice(0, 80)}`,
          false,
          tokenEvents > 0,
        );
      }
      if (chunk.error) {
        const status = typeof chunk.error.code === "number" ? chunk.error.code : 500;
        const { code, retryable } = classifyHttpStatus(status);
        throw new EngineError(
          code,
          `engine error mid-stream: ${chunk.error.message ?? "unknown"}`,
          retryable,
          tokenEvents > 0,
        );
      }
      const choice = chunk.choices?.[0];
      if (choice) {
        // vLLM with a reasoning parser streams thinking as reasoning_content (newer: reasoning).
        for (const piece of streamPieces(choice, chat)) {
          if (tokenEvents === 0) ttftUs = Math.round((performance.now() - t0) * 1000);
          tokenEvents++;
          sink.onToken(piece.text, 1, piece.reasoning);
        }
        if (choice.finish_reason) finishReason = choice.finish_reason;
      }
      // Every number is checked before it reaches the node's accounting (usage-validation.ts).
      if (chunk.usage) usage = usageFromEngine(chunk.usage, tokenEvents > 0);
    };
    try {
      for await (const piece of res.body) {
        for (const data of parser.push(decoder.decode(piece as Buffer, { stream: true }))) handle(data);
        const full = sink.drained?.();
        if (full) await full;
      }
      for (const data of parser.end()) handle(data);
    } catch (err) {
      res.body.destroy();
      throw toEngineError(err, this.engineUrl, tokenEvents > 0);
    }
    if (!done && !finishReason && !usage) {
      throw new EngineError(
        "UNAVAILABLE",
        `engine ${this.engineUrl} closed the stream before finishing`,
        tokenEvents === 0,
        tokenEvents > 0,
      );
    }
    const e2eUs = Math.round((performance.now() - t0) * 1000);
    return { usage, finishReason, ttftUs: tokenEvents > 0 ? ttftUs : e2eUs, e2eUs, tokenEvents };
  }

  async warmup(context: SessionContext, requestId: string, signal?: AbortSignal): Promise<WarmupResult> {
    const model = await this.resolveModel();
    const chat = context.messages !== undefined;
    // No generation prompt: the prompt ends where the session's context ends, so its blocks are
    // exactly the leading blocks of the next turn's prompt.
    const body = chat
      ? { model, messages: context.messages, add_generation_prompt: false, max_tokens: 1, stream: false }
      : { model, prompt: context.prompt ?? "", max_tokens: 1, stream: false };
    const res = await this.requestJson(
      "POST",
      `${this.pathPrefix}${chat ? "/chat/completions" : "/completions"}`,
      {
        body,
        signal,
        requestId,
      },
    );
    const usage = (
      res as { usage?: { prompt_tokens?: unknown; prompt_tokens_details?: { cached_tokens?: unknown } } }
    ).usage;
    return {
      promptTokens: countField(usage?.prompt_tokens, "usage.prompt_tokens"),
      cachedTokens:
        usage?.prompt_tokens_details?.cached_tokens === undefined ||
        usage.prompt_tokens_details.cached_tokens === null
          ? 0
          : countField(
              usage.prompt_tokens_details.cached_tokens,
              "usage.prompt_tokens_details.cached_tokens",
            ),
    };
  }

  async tokenize(context: SessionContext, signal?: AbortSignal): Promise<number[]> {
    const model = await this.resolveModel();
    // vLLM serves /tokenize at the server root, beside /v1.
    const body =
      context.messages !== undefined
        ? { model, messages: context.messages, add_generation_prompt: false }
        : { model, prompt: context.prompt ?? "", add_special_tokens: true };
    const res = (await this.requestJson("POST", "/tokenize", { body, signal })) as { tokens?: unknown };
    if (!Array.isArray(res.tokens) || !res.tokens.every((t) => Number.isInteger(t) && (t as number) >= 0)) {
      throw new EngineError(
        "INTERNAL",
        `engine ${this.engineUrl} /tokenize returned no list of token ids`,
        false,
      );
    }
    return res.tokens as number[];
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /** A JSON call to the engine: one EngineError (classified like a turn's) for anything but a JSON 2xx. */
  private async requestJson(
    method: "GET" | "POST",
    path: string,
    opts: { body?: unknown; signal?: AbortSignal; requestId?: string } = {},
  ): Promise<unknown> {
    let res: Awaited<ReturnType<Pool["request"]>>;
    try {
      res = await this.pool.request({
        method,
        path,
        headers: {
          ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
          ...(opts.requestId ? { "x-request-id": opts.requestId } : {}),
        },
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
        signal: opts.signal,
      });
    } catch (err) {
      throw toEngineError(err, this.engineUrl, false);
    }
    const text = await res.body.text();
    if (res.statusCode >= 400) {
      const { code, retryable } = classifyHttpStatus(res.statusCode);
      throw new EngineError(
        code,
        `engine ${method} ${path}: HTTP ${res.statusCode}: ${errorMessageOf(text)}`,
        retryable,
      );
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new EngineError("INTERNAL", `engine ${method} ${path} returned invalid JSON`, false);
    }
  }
}

/** A token count from the engine: a non-negative integer, else the call fails naming the field. */
function countField(value: unknown, field: string): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return value;
  throw new EngineError(
    "INTERNAL",
    `engine sent ${field} = ${JSON.stringify(value)}, expected a non-negative integer`,
    false,
  );
}

/** The `error.message` (OpenAI / vLLM error body) or the start of the raw text. */
function errorMessageOf(text: string): string {
  try {
    const body = JSON.parse(text) as {
      error?: { message?: string } | string;
      message?: string;
      detail?: string;
    };
    if (typeof body.error === "string") return body.error;
    return body.error?.message ?? body.message ?? body.detail ?? text.slice(0, 200);
  } catch {
    return text.slice(0, 200) || "(empty body)";
  }
}
