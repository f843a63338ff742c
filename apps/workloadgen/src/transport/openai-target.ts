import {
  LineSplitter,
  notAnEventStream,
  streamPieces,
  type OpenAiStreamChunk,
  type OpenAiUsage,
  type Tokenizer,
} from "@symphony/common";
import { type Logger } from "@symphony/runtime";
import { Pool } from "undici";
import type { SessionHint, Target, TurnHandlers, TurnRequest } from "../domain";
import type { AdviceCounters } from "./grpc-target";

/** How to talk to an OpenAI-compatible server (vLLM, mock-vllm, ...). */
export interface OpenAiTargetOptions {
  /** Base URL including the API prefix, e.g. `http://127.0.0.1:8000/v1`. */
  baseUrl: string;
  /** `chat`: /chat/completions with `messages`; `completions`: /completions with `prompt`. */
  endpoint: "chat" | "completions";
  /** Model name; undefined = the first of GET /models (resolved by `waitForReady`). */
  model: string | undefined;
  apiKey: string | undefined;
  /** Extra headers sent with every request. */
  headers: Readonly<Record<string, string>>;
  /** If set, every request carries the session id in this header (for session-affine routers). */
  sessionIdHeader: string | undefined;
  /** Send mock-vllm's `expected_response` body field (real vLLM ignores unknown fields, with a warning). */
  sendExpectedResponse: boolean;
  /** Keep-alive connections in the pool (HTTP/1.1: one request in flight per connection). */
  connections: number;
  /** Whole-turn deadline in ms (0 = none). */
  requestTimeoutMs: number;
  /** A streamed turn fails (IDLE_TIMEOUT) after this long without a byte, ms (0 = off; default off). */
  idleTimeoutMs?: number;
  /** Counts completion tokens when the server sends no usage (--tokenizer, the served model's). */
  tokenizer: Tokenizer;
}

type StreamChunk = OpenAiStreamChunk;
type Usage = OpenAiUsage;

/** Largest non-streamed body (error pages, `stream: false` answers) kept in memory. */
export const MAX_WHOLE_BODY_CHARS = 64 << 20;

/**
 * Any OpenAI-compatible server as a Target: chat completions (or completions) with streaming and
 * `stream_options.include_usage`, over an undici keep-alive Pool. TTFT is the first chunk with
 * non-empty content (vLLM's first chunk carries only the assistant role). Token counts come from
 * the server's `usage`; without it the client counts with --tokenizer and flags the
 * record (`usage_source: "client"`). `Advise`/`CloseSession` have no HTTP equivalent: no-ops,
 * counted as `hintsUnsupported`.
 */
export class OpenAiHttpTarget implements Target {
  private readonly pool: Pool;
  private readonly pathPrefix: string;
  /** POST path and headers, built once: every request sends the same ones (plus the session header). */
  private readonly postPath: string;
  private readonly postHeaders: Readonly<Record<string, string>>;
  private model: string | undefined;
  readonly counters: AdviceCounters = {
    hintsAccepted: 0,
    hintsRejected: 0,
    hintErrors: 0,
    closeErrors: 0,
    hintsUnsupported: 0,
  };

  constructor(
    private readonly options: OpenAiTargetOptions,
    private readonly logger: Logger,
  ) {
    const url = new URL(options.baseUrl);
    this.pathPrefix = url.pathname.replace(/\/+$/, "");
    this.postPath = `${this.pathPrefix}/${options.endpoint === "chat" ? "chat/completions" : "completions"}`;
    this.postHeaders = this.headers({ "content-type": "application/json" });
    this.model = options.model;
    this.pool = new Pool(url.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      // Set per request in submit() (a streamed turn's headers come at once, a whole answer's
      // only when it is done); these apply to GET /models.
      headersTimeout: options.requestTimeoutMs,
      bodyTimeout: options.requestTimeoutMs,
    });
  }

  /** The model requests name (after `waitForReady`). */
  get modelName(): string {
    return this.model ?? "";
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...this.options.headers,
      ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
      ...extra,
    };
  }

  /**
   * Polls GET /models until the server answers (or `timeoutMs` passes) and picks the model if
   * none was given. Rejects with a message naming the problem.
   */
  async waitForReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastError: string;
    for (;;) {
      try {
        const res = await this.pool.request({
          path: `${this.pathPrefix}/models`,
          method: "GET",
          headers: this.headers(),
        });
        const text = await res.body.text();
        if (res.statusCode === 200) {
          if (this.model === undefined) {
            const ids = ((JSON.parse(text) as { data?: { id?: string }[] }).data ?? []).map((m) => m.id);
            if (!ids[0]) throw new Error("GET /models listed no model: pass --model");
            this.model = ids[0];
          }
          await this.openConnections(Math.min(this.options.connections, 64));
          return;
        }
        lastError = `GET ${this.pathPrefix}/models: HTTP ${res.statusCode}: ${text.slice(0, 200)}`;
        if (res.statusCode === 401 || res.statusCode === 403 || res.statusCode === 404) break;
      } catch (err) {
        lastError = (err as Error).message;
        if (lastError.includes("listed no model")) break;
      }
      if (Date.now() >= deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(lastError);
  }

  /** Opens `n` keep-alive connections up front, so the first burst of sends does not pay for them. */
  private async openConnections(n: number): Promise<void> {
    await Promise.all(
      Array.from({ length: n }, async () => {
        const res = await this.pool.request({
          path: `${this.pathPrefix}/models`,
          method: "GET",
          headers: this.headers(),
        });
        await res.body.dump();
      }),
    );
  }

  private body(turn: TurnRequest): string {
    const chat = this.options.endpoint === "chat";
    const body: Record<string, unknown> = { model: this.model, stream: turn.stream };
    if (chat) {
      body.messages = turn.messages ?? [{ role: "user", content: turn.prompt ?? "" }];
      body.max_completion_tokens = turn.maxOutputTokens;
    } else {
      // Completions take one string: a conversation is flattened, one message per line.
      body.prompt = turn.prompt ?? (turn.messages ?? []).map((m) => `${m.role}: ${m.content}`).join("\n");
      body.max_tokens = turn.maxOutputTokens;
    }
    if (turn.stream) body.stream_options = { include_usage: true };
    if (turn.ignoreEos) body.ignore_eos = true;
    if (this.options.sendExpectedResponse && turn.expectedResponse !== undefined)
      body.expected_response = turn.expectedResponse;
    return JSON.stringify(body);
  }

  submit(turn: TurnRequest, handlers: TurnHandlers): { cancel(): void } {
    const chat = this.options.endpoint === "chat";
    const sessionHeader = this.options.sessionIdHeader;
    const headers = sessionHeader
      ? { ...this.postHeaders, [sessionHeader]: turn.sessionId }
      : this.postHeaders;
    let settled = false;
    let controller: { abort(reason: Error): void } | undefined;
    let deadline: NodeJS.Timeout | undefined;
    const fail = (code: string, message: string) => {
      if (settled) return;
      settled = true;
      if (deadline) clearTimeout(deadline);
      // Free the connection and stop the server's generation: nobody reads the rest.
      controller?.abort(new Error(code));
      handlers.failed({ code, message });
    };
    let status = 0;
    let cancelled = false;
    // Created on the first chunk that needs it (see onResponseData): most never do.
    let decoder: TextDecoder | undefined;
    let firstChunk = true;
    // Non-200 and non-streaming bodies are kept whole; SSE is parsed line by line as it arrives,
    // in linear time and with a cap on the line length (LineSplitter).
    let whole = "";
    const lines = turn.stream ? new LineSplitter() : undefined;
    let sawDone = false;
    let response = "";
    let usage: Usage | null | undefined;
    let finishReason = "";

    const onLine = (line: string): void => {
      if (line.length === 0 || !line.startsWith("data:")) return;
      const data = line.slice(5).trim();
      if (data === "[DONE]") {
        sawDone = true;
        return;
      }
      const chunk = JSON.parse(data) as StreamChunk;
      if (chunk.error) return fail("STREAM_ERROR", chunk.error.message ?? data.slice(0, 300));
      const choice = chunk.choices?.[0];
      if (choice) {
        // One SSE chunk is one token for vLLM; usage corrects the total at the end. Reasoning
        // tokens count for TTFT and ITL like content (as in vLLM's benchmark), flagged apart.
        const delta = choice.delta;
        if (chat && delta?.content && !delta.reasoning_content && !delta.reasoning) {
          // Hot path (one call per token): plain content, no piece objects.
          response += delta.content;
          handlers.token(delta.content, 1, false);
        } else {
          for (const piece of streamPieces(choice, chat)) {
            if (!piece.reasoning) response += piece.text;
            handlers.token(piece.text, 1, piece.reasoning);
          }
        }
        if (choice.finish_reason) finishReason = choice.finish_reason;
      }
      if (chunk.usage) usage = chunk.usage;
    };

    // onLine trims what it reads (data after "data:"), so lines are passed as split.
    const onLineUnlessSettled = (line: string): void => {
      if (!settled) onLine(line);
    };

    const complete = (): void => {
      if (settled) return;
      if (status !== 200) {
        let message = whole.slice(0, 300);
        try {
          const parsed = JSON.parse(whole) as { error?: { message?: string }; message?: string };
          message = parsed.error?.message ?? parsed.message ?? message;
        } catch {
          // not JSON: keep the raw text
        }
        return fail(`HTTP_${status}`, message);
      }
      if (!turn.stream) {
        const json = JSON.parse(whole) as {
          choices?: { message?: { content?: string | null }; text?: string | null; finish_reason?: string }[];
          usage?: Usage;
        };
        const choice = json.choices?.[0];
        response = (chat ? choice?.message?.content : choice?.text) ?? "";
        usage = json.usage;
        finishReason = choice?.finish_reason ?? "";
        if (response)
          handlers.token(response, usage?.completion_tokens ?? this.options.tokenizer.countTokens(response));
      } else if (!sawDone) {
        return fail("STREAM_TRUNCATED", "stream ended without [DONE]");
      }
      if (settled) return;
      settled = true;
      if (deadline) clearTimeout(deadline);
      const fromServer = usage?.completion_tokens !== undefined;
      handlers.finished({
        nodeId: "",
        promptTokens: usage?.prompt_tokens ?? turn.promptTokens,
        completionTokens: fromServer
          ? usage!.completion_tokens!
          : this.options.tokenizer.countTokens(response),
        cachedTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
        finishReason,
        usageSource: fromServer ? "server" : "client",
      });
    };

    const { requestTimeoutMs } = this.options;
    const idleTimeoutMs = this.options.idleTimeoutMs ?? 0;
    if (requestTimeoutMs > 0) {
      deadline = setTimeout(
        () =>
          fail(
            "DEADLINE_EXCEEDED",
            `turn not finished within ${requestTimeoutMs / 1000} s (--request-timeout)`,
          ),
        requestTimeoutMs,
      );
      deadline.unref();
    }
    // undici's dispatch API: no AbortSignal, stream or promise per request (those cost more
    // CPU than the rest of a request at thousands per second).
    this.pool.dispatch(
      {
        path: this.postPath,
        method: "POST",
        headers,
        body: this.body(turn),
        // Silence: a stream's headers and every gap between its bytes are bounded by the idle
        // timeout; a whole (non-streamed) answer only by the turn's deadline above.
        headersTimeout: turn.stream ? idleTimeoutMs : 0,
        bodyTimeout: turn.stream ? idleTimeoutMs : 0,
      },
      {
        onRequestStart: (c) => {
          controller = c;
          // Cancelled, timed out or failed before the request started: do not send it.
          if (cancelled || settled) c.abort(new Error("cancelled by the client"));
        },
        onResponseStart: (_c, statusCode, headers) => {
          status = statusCode;
          // A 200 that is no event stream would otherwise end as "stream ended without [DONE]".
          const notSse =
            statusCode === 200 && turn.stream && notAnEventStream(headers["content-type"], "server");
          if (notSse) fail("BAD_RESPONSE", notSse);
        },
        onResponseData: (_c, bytes) => {
          if (settled) return;
          // A chunk ending in an ASCII byte ends on a character boundary, so it decodes alone
          // (Buffer's decoder replaces bad bytes as TextDecoder does); a stream that once split
          // a character, or opens with a byte-order mark (which TextDecoder drops), keeps a
          // streaming TextDecoder from then on.
          const fast =
            decoder === undefined && bytes[bytes.length - 1]! < 0x80 && !(firstChunk && bytes[0] === 0xef);
          firstChunk = false;
          const text = fast
            ? bytes.toString("utf8")
            : (decoder ??= new TextDecoder()).decode(bytes, { stream: true });
          if (status !== 200 || !lines) {
            whole += text;
            if (whole.length > MAX_WHOLE_BODY_CHARS)
              fail("BAD_RESPONSE", `response body longer than ${MAX_WHOLE_BODY_CHARS} characters`);
            return;
          }
          try {
            lines.push(text, onLineUnlessSettled);
          } catch (err) {
            fail("BAD_RESPONSE", (err as Error).message);
          }
        },
        onResponseEnd: () => {
          try {
            complete();
          } catch (err) {
            fail("BAD_RESPONSE", (err as Error).message);
          }
        },
        onResponseError: (_c, err: Error & { code?: string }) => {
          if (cancelled) return fail("CANCELLED", "cancelled by the client");
          if (err.code === "UND_ERR_HEADERS_TIMEOUT" || err.code === "UND_ERR_BODY_TIMEOUT")
            return fail(
              "IDLE_TIMEOUT",
              `no byte from the server for ${idleTimeoutMs / 1000} s on a streamed turn (--idle-timeout)`,
            );
          fail(err.code ?? err.name ?? "NETWORK", err.message);
        },
      },
    );
    return {
      cancel: () => {
        cancelled = true;
        controller?.abort(new Error("cancelled by the client"));
      },
    };
  }

  advise(_hint: SessionHint): void {
    // HTTP has no Advise: counted so the summary can say hints were not delivered.
    this.counters.hintsUnsupported = (this.counters.hintsUnsupported ?? 0) + 1;
  }

  closeSession(): void {
    // Nothing to close on a stateless HTTP server.
  }

  async close(): Promise<void> {
    await this.pool.close().catch((err: Error) => this.logger.debug("pool close", { error: err.message }));
  }
}
