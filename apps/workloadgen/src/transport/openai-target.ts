import {
  LineSplitter,
  notAnEventStream,
  streamPieces,
  type OpenAiStreamChunk,
  type OpenAiUsage,
  type Tokenizer,
} from "@symphony/common";
import { type Logger } from "@symphony/runtime";
import type { SessionHint, Target, TurnHandlers, TurnRequest } from "../domain";
import type { AdviceCounters } from "./grpc-target";
import { makeHttpClient, type HttpClient, type HttpClientKind, type HttpExchange } from "./http-client";

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
  /** `native` (default): our HTTP/1.1 client; `undici`: undici's Pool (--http-client). */
  httpClient?: HttpClientKind;
}

type StreamChunk = OpenAiStreamChunk;
type Usage = OpenAiUsage;

/** Largest non-streamed body (error pages, `stream: false` answers) kept in memory. */
export const MAX_WHOLE_BODY_CHARS = 64 << 20;

/**
 * Any OpenAI-compatible server as a Target: chat completions (or completions) with streaming and
 * `stream_options.include_usage`, over HTTP/1.1 keep-alive connections (our own client, or
 * undici's with `httpClient: "undici"`). TTFT is the first chunk with non-empty content (vLLM's
 * first chunk carries only the assistant role). Token counts come from the server's `usage`;
 * without it the client counts with --tokenizer and flags the record (`usage_source: "client"`).
 * `Advise`/`CloseSession` have no HTTP equivalent: no-ops, counted as `hintsUnsupported`.
 */
export class OpenAiHttpTarget implements Target {
  private readonly client: HttpClient;
  private readonly pathPrefix: string;
  private model: string | undefined;
  readonly counters: AdviceCounters = {
    hintsAccepted: 0,
    hintsRejected: 0,
    hintErrors: 0,
    closeErrors: 0,
    hintsUnsupported: 0,
  };

  constructor(
    readonly options: OpenAiTargetOptions,
    private readonly logger: Logger,
  ) {
    const url = new URL(options.baseUrl);
    this.pathPrefix = url.pathname.replace(/\/+$/, "");
    this.model = options.model;
    this.client = makeHttpClient(options.httpClient ?? "native", {
      origin: url,
      postPath: `${this.pathPrefix}/${options.endpoint === "chat" ? "chat/completions" : "completions"}`,
      headers: {
        ...options.headers,
        ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
      },
      sessionIdHeader: options.sessionIdHeader,
      connections: options.connections,
      // vLLM (uvicorn) closes connections idle for 5 s without saying so in a Keep-Alive header;
      // closing ours first spares a request the connection the server is about to close.
      keepAliveMs: 4_000,
    });
  }

  /** The model requests name (after `waitForReady`). */
  get modelName(): string {
    return this.model ?? "";
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
        const res = await this.client.get(`${this.pathPrefix}/models`, this.options.requestTimeoutMs);
        if (res.status === 200) {
          if (this.model === undefined) {
            const ids = ((JSON.parse(res.text) as { data?: { id?: string }[] }).data ?? []).map((m) => m.id);
            if (!ids[0]) throw new Error("GET /models listed no model: pass --model");
            this.model = ids[0];
          }
          await this.openConnections(Math.min(this.options.connections, 64));
          return;
        }
        lastError = `GET ${this.pathPrefix}/models: HTTP ${res.status}: ${res.text.slice(0, 200)}`;
        if (res.status === 401 || res.status === 403 || res.status === 404) break;
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
      Array.from({ length: n }, () =>
        this.client.get(`${this.pathPrefix}/models`, this.options.requestTimeoutMs),
      ),
    );
  }

  /**
   * The request body: the JSON of `{model, stream, messages | prompt, max_completion_tokens |
   * max_tokens, stream_options?, ignore_eos?, expected_response?}` in that order, written as a
   * string (no object per request; a test checks it equals JSON.stringify of that object).
   */
  body(turn: TurnRequest): string {
    const chat = this.options.endpoint === "chat";
    let json = this.model === undefined ? "{" : `{"model":${JSON.stringify(this.model)},`;
    json += turn.stream ? `"stream":true,` : `"stream":false,`;
    if (chat) {
      json += `"messages":${JSON.stringify(turn.messages ?? [{ role: "user", content: turn.prompt ?? "" }])},`;
      json += `"max_completion_tokens":${JSON.stringify(turn.maxOutputTokens)}`;
    } else {
      // Completions take one string: a conversation is flattened, one message per line.
      const prompt = turn.prompt ?? (turn.messages ?? []).map((m) => `${m.role}: ${m.content}`).join("\n");
      json += `"prompt":${JSON.stringify(prompt)},"max_tokens":${JSON.stringify(turn.maxOutputTokens)}`;
    }
    if (turn.stream) json += `,"stream_options":{"include_usage":true}`;
    if (turn.ignoreEos) json += `,"ignore_eos":true`;
    if (this.options.sendExpectedResponse && turn.expectedResponse !== undefined)
      json += `,"expected_response":${JSON.stringify(turn.expectedResponse)}`;
    return json + "}";
  }

  submit(turn: TurnRequest, handlers: TurnHandlers): { cancel(): void } {
    const exchange = new HttpTurn(this.options, turn, handlers);
    // Silence: a stream's headers and every gap between its bytes are bounded by the idle
    // timeout; a whole (non-streamed) answer only by the turn's deadline.
    exchange.request = this.client.post(
      this.body(turn),
      turn.sessionId,
      turn.stream ? (this.options.idleTimeoutMs ?? 0) : 0,
      exchange,
    );
    return exchange;
  }

  advise(_hint: SessionHint): void {
    // HTTP has no Advise: counted so the summary can say hints were not delivered.
    this.counters.hintsUnsupported = (this.counters.hintsUnsupported ?? 0) + 1;
  }

  closeSession(): void {
    // Nothing to close on a stateless HTTP server.
  }

  async close(): Promise<void> {
    await this.client.close().catch((err: Error) => this.logger.debug("pool close", { error: err.message }));
  }
}

/**
 * One turn's exchange: reads the response as it arrives (SSE parsed line by line; a non-200 or
 * non-streamed body kept whole) and reports tokens, then finished or failed, to the runner. One
 * object per turn, its methods the callbacks (no closures per request or per chunk).
 */
class HttpTurn implements HttpExchange {
  request: { abort(): void } | undefined;
  private settled = false;
  private status = 0;
  private readonly chat: boolean;
  /** Created on the first chunk that needs it (see onBody): most never do. */
  private decoder: TextDecoder | undefined;
  private firstChunk = true;
  /**
   * Non-200 and non-streaming bodies are kept whole; SSE is parsed line by line as it arrives,
   * in linear time and with a cap on the line length (LineSplitter).
   */
  private whole = "";
  private readonly lines: LineSplitter | undefined;
  private sawDone = false;
  private response = "";
  private usage: Usage | null | undefined;
  private finishReason = "";
  private deadline: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: OpenAiTargetOptions,
    private readonly turn: TurnRequest,
    private readonly handlers: TurnHandlers,
  ) {
    this.chat = options.endpoint === "chat";
    this.lines = turn.stream ? new LineSplitter() : undefined;
    const { requestTimeoutMs } = options;
    if (requestTimeoutMs > 0) {
      this.deadline = setTimeout(
        () =>
          this.fail(
            "DEADLINE_EXCEEDED",
            `turn not finished within ${requestTimeoutMs / 1000} s (--request-timeout)`,
          ),
        requestTimeoutMs,
      );
      this.deadline.unref();
    }
  }

  /** The runner gives up on the turn (hard end, second Ctrl-C): reported at once. */
  cancel(): void {
    this.fail("CANCELLED", "cancelled by the client");
  }

  private fail(code: string, message: string): void {
    if (this.settled) return;
    this.settled = true;
    if (this.deadline) clearTimeout(this.deadline);
    // Free the connection and stop the server's generation: nobody reads the rest.
    this.request?.abort();
    this.handlers.failed({ code, message });
  }

  onHead(status: number, contentType: string | undefined): void {
    this.status = status;
    // A 200 that is no event stream would otherwise end as "stream ended without [DONE]".
    const notSse = status === 200 && this.turn.stream && notAnEventStream(contentType, "server");
    if (notSse) this.fail("BAD_RESPONSE", notSse);
  }

  onBody(bytes: Buffer): void {
    if (this.settled) return;
    // A chunk ending in an ASCII byte ends on a character boundary, so it decodes alone
    // (Buffer's decoder replaces bad bytes as TextDecoder does); a stream that once split
    // a character, or opens with a byte-order mark (which TextDecoder drops), keeps a
    // streaming TextDecoder from then on.
    const fast =
      this.decoder === undefined &&
      bytes[bytes.length - 1]! < 0x80 &&
      !(this.firstChunk && bytes[0] === 0xef);
    this.firstChunk = false;
    const text = fast
      ? bytes.toString("utf8")
      : (this.decoder ??= new TextDecoder()).decode(bytes, { stream: true });
    if (this.status !== 200 || !this.lines) {
      this.whole += text;
      if (this.whole.length > MAX_WHOLE_BODY_CHARS)
        this.fail("BAD_RESPONSE", `response body longer than ${MAX_WHOLE_BODY_CHARS} characters`);
      return;
    }
    try {
      this.lines.push(text, this.onLine);
    } catch (err) {
      this.fail("BAD_RESPONSE", (err as Error).message);
    }
  }

  onComplete(): void {
    try {
      this.complete();
    } catch (err) {
      this.fail("BAD_RESPONSE", (err as Error).message);
    }
  }

  onError(code: string, message: string): void {
    if (code === "IDLE_TIMEOUT")
      return this.fail(
        "IDLE_TIMEOUT",
        `no byte from the server for ${(this.options.idleTimeoutMs ?? 0) / 1000} s on a streamed turn (--idle-timeout)`,
      );
    this.fail(code, message);
  }

  /** One SSE line (as split: onLine trims what it reads). An arrow: passed to LineSplitter as is. */
  private readonly onLine = (line: string): void => {
    if (this.settled || line.length === 0 || !line.startsWith("data:")) return;
    // The payload as sent: JSON.parse skips the spaces around it itself, so a chunk's line is
    // not copied trimmed first; other lines ("[DONE]", odd whitespace) go the trimmed way.
    const raw = line.slice(5);
    let chunk: StreamChunk;
    if (line.charCodeAt(line.length - 1) === 0x7d /* } */ && line.charCodeAt(5) === 0x20) {
      try {
        chunk = JSON.parse(raw) as StreamChunk;
      } catch {
        chunk = JSON.parse(raw.trim()) as StreamChunk;
      }
    } else {
      const data = raw.trim();
      if (data === "[DONE]") {
        this.sawDone = true;
        return;
      }
      chunk = JSON.parse(data) as StreamChunk;
    }
    if (chunk.error) return this.fail("STREAM_ERROR", chunk.error.message ?? raw.trim().slice(0, 300));
    const choice = chunk.choices?.[0];
    if (choice) {
      // One SSE chunk is one token for vLLM; usage corrects the total at the end. Reasoning
      // tokens count for TTFT and ITL like content (as in vLLM's benchmark), flagged apart.
      const delta = choice.delta;
      if (this.chat && delta?.content && !delta.reasoning_content && !delta.reasoning) {
        // Hot path (one call per token): plain content, no piece objects.
        this.response += delta.content;
        this.handlers.token(delta.content, 1, false);
      } else {
        for (const piece of streamPieces(choice, this.chat)) {
          if (!piece.reasoning) this.response += piece.text;
          this.handlers.token(piece.text, 1, piece.reasoning);
        }
      }
      if (choice.finish_reason) this.finishReason = choice.finish_reason;
    }
    if (chunk.usage) this.usage = chunk.usage;
  };

  private complete(): void {
    if (this.settled) return;
    const { turn } = this;
    if (this.status !== 200) {
      let message = this.whole.slice(0, 300);
      try {
        const parsed = JSON.parse(this.whole) as { error?: { message?: string }; message?: string };
        message = parsed.error?.message ?? parsed.message ?? message;
      } catch {
        // not JSON: keep the raw text
      }
      return this.fail(`HTTP_${this.status}`, message);
    }
    if (!turn.stream) {
      const json = JSON.parse(this.whole) as {
        choices?: { message?: { content?: string | null }; text?: string | null; finish_reason?: string }[];
        usage?: Usage;
      };
      const choice = json.choices?.[0];
      this.response = (this.chat ? choice?.message?.content : choice?.text) ?? "";
      this.usage = json.usage;
      this.finishReason = choice?.finish_reason ?? "";
      if (this.response)
        this.handlers.token(
          this.response,
          this.usage?.completion_tokens ?? this.options.tokenizer.countTokens(this.response),
        );
    } else if (!this.sawDone) {
      return this.fail("STREAM_TRUNCATED", "stream ended without [DONE]");
    }
    if (this.settled) return;
    this.settled = true;
    if (this.deadline) clearTimeout(this.deadline);
    const usage = this.usage;
    const fromServer = usage?.completion_tokens !== undefined;
    this.handlers.finished({
      nodeId: "",
      promptTokens: usage?.prompt_tokens ?? turn.promptTokens,
      completionTokens: fromServer
        ? usage!.completion_tokens!
        : this.options.tokenizer.countTokens(this.response),
      cachedTokens: usage?.prompt_tokens_details?.cached_tokens ?? 0,
      finishReason: this.finishReason,
      usageSource: fromServer ? "server" : "client",
    });
  }
}
