import type { ServerResponse } from "node:http";
import { Socket } from "node:net";
import type { EngineListener, OutputPlan, RequestSummary } from "../domain";
import { errorBody } from "./api-error";

/** A validated generation request, ready for the engine. */
export interface Job {
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

/**
 * Caches keyed by streamed pieces (mostly single tokens; the text is the client's when it sends
 * `expected_response`): only short pieces, and at most this many, so a long-running mock's memory
 * stays bounded whatever it is asked to say.
 */
const PIECE_CACHE_MAX_ENTRIES = 100_000;
const PIECE_CACHE_MAX_CHARS = 64;

/** JSON string literals of streamed pieces. */
const pieceJsonCache = new Map<string, string>();
function pieceJson(piece: string): string {
  let json = pieceJsonCache.get(piece);
  if (json === undefined) {
    json = JSON.stringify(piece);
    if (piece.length <= PIECE_CACHE_MAX_CHARS && pieceJsonCache.size < PIECE_CACHE_MAX_ENTRIES)
      pieceJsonCache.set(piece, json);
  }
  return json;
}

/**
 * What follows the piece in a chunk that is neither a stream's first nor its last, per kind:
 * the same for every request, so it is cached with the piece.
 */
const MID_CHUNK_END = {
  chat: '},"logprobs":null,"finish_reason":null}]}\n\n',
  text: ',"logprobs":null,"finish_reason":null,"stop_reason":null}]}\n\n',
} as const;

/** A piece's JSON literal + the rest of its SSE event + the chunk's closing CRLF, and the event bytes. */
interface ChunkTail {
  readonly text: string;
  readonly eventBytes: number;
}
const chunkTailCache = { chat: new Map<string, ChunkTail>(), text: new Map<string, ChunkTail>() };
function chunkTail(kind: Job["kind"], piece: string): ChunkTail {
  const cache = chunkTailCache[kind];
  let tail = cache.get(piece);
  if (tail === undefined) {
    const event = pieceJson(piece) + MID_CHUNK_END[kind];
    tail = { text: `${event}\r\n`, eventBytes: Buffer.byteLength(event) };
    if (piece.length <= PIECE_CACHE_MAX_CHARS && cache.size < PIECE_CACHE_MAX_ENTRIES) cache.set(piece, tail);
  }
  return tail;
}

/** HTTP/1.1 chunk-size lines (`<hex>\r\n`) by size; SSE events are a few hundred bytes. */
const chunkSizeLines: string[] = [];
function chunkSizeLine(bytes: number): string {
  if (bytes >= 4096) return `${bytes.toString(16)}\r\n`;
  return (chunkSizeLines[bytes] ??= `${bytes.toString(16)}\r\n`);
}

/** Backstop for the last token's cork when no onFinish followed (res.end() uncorks fully). */
function uncorkIfStill(socket: Socket): void {
  if (socket.writableCorked > 0) socket.uncork();
}

function usageCounts(s: RequestSummary): string {
  return `"prompt_tokens":${s.promptTokens},"total_tokens":${s.promptTokens + s.completionTokens},"completion_tokens":${s.completionTokens}`;
}

/**
 * Writes one generation to the client as vLLM's OpenAI server would: SSE chunks (one per
 * token, strings built from precomputed templates, no per-chunk object serialisation; to a
 * client reading slower than that, several tokens per chunk, see `awaitDrain`) or one JSON body
 * at the end. It is the engine listener for that request.
 */
export class CompletionResponder implements EngineListener {
  private readonly pieces: string[];
  private readonly lastIndex: number;
  /** `data: {...,"choices":[{"index":0,` shared by every chunk of this stream. */
  private readonly head: string;
  /** `head` + `"delta":{"content":` (chat) or `"text":`: a mid-stream event up to its piece. */
  private readonly eventHead: string;
  private readonly eventHeadBytes: number;
  private done = false;
  private headersSent = false;
  /** Write SSE chunks straight to the socket with our own chunked framing (see `send`). */
  private rawChunked = false;
  /** A write found the socket's buffer full: tokens are held until it drains (see `awaitDrain`). */
  private draining = false;
  /** The output tokens held meanwhile: first and last index, or -1. */
  private heldFrom = -1;
  private heldTo = -1;
  /** The engine's summary when it finished while tokens were held: the stream ends after them. */
  private heldSummary: RequestSummary | null = null;

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
    this.eventHead = this.head + (job.kind === "chat" ? '"delta":{"content":' : '"text":');
    this.eventHeadBytes = Buffer.byteLength(this.eventHead);
  }

  get finished(): boolean {
    return this.done;
  }

  /** Sends the SSE response headers at once (as Starlette's StreamingResponse does). */
  startStream(): void {
    this.res.writeHead(200, SSE_HEADERS);
    this.res.flushHeaders();
    this.headersSent = true;
    // Only on a real socket: an in-process request (fastify inject()) reads what goes through `res`.
    this.rawChunked = this.res.chunkedEncoding && this.res.socket instanceof Socket;
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
      // Not writable: the client went away (or half-closed, and Node ended the socket).
      if (socket.writable && !socket.write(`${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`))
        this.awaitDrain(socket);
    } else if (!this.res.write(data)) this.awaitDrain(this.res);
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
    if (this.draining) {
      if (this.heldFrom < 0) this.heldFrom = index;
      this.heldTo = index;
      return;
    }
    const socket = this.res.socket;
    if (this.rawChunked && socket && index !== 0 && index !== this.lastIndex) {
      // Nearly every token: the chunk is three cached strings (size line, this stream's event
      // head, the piece with the constant rest), its size known without encoding it.
      if (!socket.writable) return;
      const tail = chunkTail(this.job.kind, this.pieces[index]!);
      if (!socket.write(chunkSizeLine(this.eventHeadBytes + tail.eventBytes) + this.eventHead + tail.text))
        this.awaitDrain(socket);
      return;
    }
    // The last token, the usage chunk, [DONE] and the terminating chunk are due at the same
    // instant (onFinish follows at once): corked, they leave in one writev. res.end() uncorks.
    if (index === this.lastIndex) this.corkUntilEnd();
    this.send(this.tokenEvents(index, index));
  }

  /**
   * A write left the socket's buffer over its high-water mark: the client reads slower than
   * tokens come. As in vLLM, where uvicorn's flow control then pauses the stream's generator and
   * the request's RequestOutputCollector merges the DELTA outputs produced meanwhile, tokens are
   * held (as a range of indices) until the socket drains and then leave as one event: the buffer
   * stays bounded and no token is lost.
   */
  private awaitDrain(sink: Socket | ServerResponse): void {
    if (this.draining) return;
    this.draining = true;
    sink.once("drain", this.flushHeld);
  }

  private readonly flushHeld = (): void => {
    this.draining = false;
    if (this.heldFrom < 0) return; // nothing came meanwhile, or the stream was aborted
    const events = this.tokenEvents(this.heldFrom, this.heldTo);
    this.heldFrom = this.heldTo = -1;
    const summary = this.heldSummary;
    if (summary === null) return this.send(events);
    this.heldSummary = null;
    this.corkUntilEnd();
    this.send(events);
    this.endStream(summary);
  };

  private corkUntilEnd(): void {
    const socket = this.res.socket;
    if (this.rawChunked && socket && socket.writable) {
      socket.cork();
      process.nextTick(uncorkIfStill, socket);
    }
  }

  /**
   * The SSE events for output tokens `from..to` as one delta (text concatenated, as vLLM's
   * RequestOutput.add merges them), preceded on a chat stream's first output by the role delta
   * and carrying the finish reason when it includes the last token.
   */
  private tokenEvents(from: number, to: number): string {
    let text = this.pieces[from]!;
    for (let i = from + 1; i <= to; i++) text += this.pieces[i]!;
    const piece = from === to ? pieceJson(text) : JSON.stringify(text);
    const chat = this.job.kind === "chat";
    let out = "";
    // vLLM sends the role delta together with the first output.
    if (from === 0 && chat)
      out = `${this.head}"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}\n\n`;
    const finish = to === this.lastIndex ? `"${this.job.plan.finishReason}"` : "null";
    out += chat
      ? `${this.head}"delta":{"content":${piece}},"logprobs":null,"finish_reason":${finish}${finish === "null" ? "" : ',"stop_reason":null'}}]}\n\n`
      : `${this.head}"text":${piece},"logprobs":null,"finish_reason":${finish},"stop_reason":null}]}\n\n`;
    return out;
  }

  /**
   * vLLM fills prompt_tokens_details only with --enable-prompt-tokens-details and a non-zero
   * count; streamed usage drops the unset field (exclude_none), the JSON body shows null.
   */
  private cachedTokensDetails(s: RequestSummary): string | null {
    return this.promptTokensDetails && s.cachedTokens > 0 ? `{"cached_tokens":${s.cachedTokens}}` : null;
  }

  /** The usage event (with include_usage), [DONE] and the end of the body. */
  private endStream(s: RequestSummary): void {
    const details = this.cachedTokensDetails(s);
    const usage = details ? `{${usageCounts(s)},"prompt_tokens_details":${details}}` : `{${usageCounts(s)}}`;
    let tail = "";
    if (this.job.includeUsage) {
      const object = this.job.kind === "chat" ? "chat.completion.chunk" : "text_completion";
      tail += `data: {"id":"${this.job.id}","object":"${object}","created":${this.job.created},"model":${JSON.stringify(this.job.model)},"choices":[],"usage":${usage}}\n\n`;
    }
    this.send(`${tail}data: [DONE]\n\n`);
    this.res.end();
  }

  onFinish(s: RequestSummary): void {
    if (this.done) return;
    this.done = true;
    if (s.finishReason === "abort") {
      this.heldFrom = this.heldTo = -1; // as vLLM, an aborted stream's pending output is dropped
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
    if (this.job.stream) {
      // Held tokens go first; the end follows them when the socket drains.
      if (this.draining && this.heldFrom >= 0) this.heldSummary = s;
      else this.endStream(s);
      return;
    }
    const usage = `{${usageCounts(s)},"prompt_tokens_details":${this.cachedTokensDetails(s) ?? "null"}}`;
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
