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

/**
 * Writes one generation to the client as vLLM's OpenAI server would: SSE chunks (one per
 * token, strings built from precomputed templates, no per-chunk object serialisation) or one
 * JSON body at the end. It is the engine listener for that request.
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
      if (socket.writable) socket.write(`${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`);
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
    const socket = this.res.socket;
    if (this.rawChunked && socket && index !== 0 && index !== this.lastIndex) {
      // Nearly every token: the chunk is three cached strings (size line, this stream's event
      // head, the piece with the constant rest), its size known without encoding it.
      if (!socket.writable) return;
      const tail = chunkTail(this.job.kind, this.pieces[index]!);
      socket.write(chunkSizeLine(this.eventHeadBytes + tail.eventBytes) + this.eventHead + tail.text);
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
    // The last token, the usage chunk, [DONE] and the terminating chunk are due at the same
    // instant (onFinish follows at once): corked, they leave in one writev. res.end() uncorks.
    if (index === this.lastIndex && this.rawChunked && socket && socket.writable) {
      socket.cork();
      process.nextTick(uncorkIfStill, socket);
    }
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
