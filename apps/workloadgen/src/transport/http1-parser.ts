/**
 * A streaming HTTP/1.1 response parser for one keep-alive connection: status line, headers,
 * and a body framed by `transfer-encoding: chunked`, `content-length` or the connection's end.
 * Bytes are fed as they arrive, split anywhere; body bytes are handed on as views of the fed
 * buffers (no copies). Only what a client of an OpenAI-compatible server needs: no pipelining,
 * no upgrades; 1xx interim responses are skipped.
 */

/** The response does not parse as HTTP/1.1 (the connection cannot be reused). */
export class HttpParseError extends Error {
  constructor(message: string) {
    super(`invalid HTTP response: ${message}`);
    this.name = "HttpParseError";
  }
}

/** What the parser reports for one response. */
export interface ResponseSink {
  /** Status line and headers read. */
  onHead(head: ResponseHead): void;
  /** A piece of the (de-chunked) body: a view of a fed buffer, valid during the call. */
  onBody(bytes: Buffer): void;
  /** The body is complete (with `onHead`, once per response). */
  onComplete(): void;
}

export interface ResponseHead {
  status: number;
  /** The `content-type` header's value, undefined if absent. */
  contentType: string | undefined;
  /** The connection may carry another request once this response is complete. */
  keepAlive: boolean;
  /** The server's `keep-alive: timeout=N` in ms, undefined if it sent none. */
  keepAliveTimeoutMs: number | undefined;
}

/** Longest status line + headers accepted (as Node's own parser: 16 KiB by default; 64 KiB here). */
export const MAX_HEAD_BYTES = 64 << 10;
/** Longest chunk-size line (size, extensions) or trailer section accepted. */
const MAX_LINE_BYTES = 8 << 10;

const enum State {
  Head,
  ChunkSize,
  ChunkExtension,
  ChunkSizeLf,
  ChunkData,
  ChunkDataCr,
  ChunkDataLf,
  Trailers,
  Length,
  UntilClose,
  Done,
}

/** How a response's body is delimited, as its head says. */
const enum Framing {
  /** No body (204, 304, content-length 0). */
  None,
  Chunked,
  Length,
  UntilClose,
}

const CR = 0x0d;
const END_OF_HEAD = Buffer.from("\r\n\r\n");
const LF = 0x0a;

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  const lower = byte | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

export class Http1ResponseParser {
  private state = State.Head;
  /** Head bytes of an unfinished head (a head split between feeds), else undefined. */
  /** Pieces of a head that has not ended yet (copies: fed buffers are reused), and their bytes. */
  private pendingHead: Buffer[] | undefined;
  private pendingHeadBytes = 0;
  /** Chunk-size line: the size so far and its digit count; or bytes of the current trailer line. */
  private size = 0;
  private digits = 0;
  private lineBytes = 0;
  private trailerBytes = 0;
  /** Body bytes still expected in the current chunk or content-length body. */
  private remaining = 0;
  /** The response's head said keep-alive (and its framing allows reuse). */
  private keepAlive = false;
  /** Set by `halt()`: the owner gave up on this response; stop mid-buffer. */
  private halted = false;
  /** The last head parsed (a copy of its bytes), unless it had a content-length. */
  private lastHead: { bytes: Buffer; head: Readonly<ResponseHead>; framing: Framing } | undefined;

  constructor(private readonly sink: ResponseSink) {}

  /** Ready for the next response on the same connection. */
  reset(): void {
    this.state = State.Head;
    this.pendingHead = undefined;
    this.pendingHeadBytes = 0;
    this.halted = false;
  }

  /** Stops feeding the sink (called from inside a sink callback when the exchange is abandoned). */
  halt(): void {
    this.halted = true;
  }

  /** The current response is complete. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /**
   * Parses `buf`; returns the bytes used: less than `buf.length` only when the response completed
   * (or the parser was halted) with bytes left over. Throws HttpParseError on a malformed response.
   */
  feed(buf: Buffer, len = buf.length): number {
    let pos = 0;
    while (pos < len && !this.halted) {
      switch (this.state) {
        case State.Head: {
          const used = this.feedHead(buf, pos, len);
          if (used < 0) return len; // head incomplete: all kept
          pos = used;
          break;
        }
        case State.ChunkData: {
          const take = Math.min(this.remaining, len - pos);
          this.remaining -= take;
          const piece = pos === 0 && take === buf.length ? buf : buf.subarray(pos, pos + take);
          pos += take;
          if (this.remaining === 0) this.state = State.ChunkDataCr;
          this.sink.onBody(piece);
          break;
        }
        case State.Length: {
          const take = Math.min(this.remaining, len - pos);
          this.remaining -= take;
          const piece = pos === 0 && take === buf.length ? buf : buf.subarray(pos, pos + take);
          pos += take;
          this.sink.onBody(piece);
          if (this.remaining === 0 && !this.halted) this.complete();
          break;
        }
        case State.UntilClose:
          this.sink.onBody(pos === 0 && len === buf.length ? buf : buf.subarray(pos, len));
          return len;
        case State.Done:
          return pos;
        default:
          pos = this.feedChunkFraming(buf, pos, len);
      }
    }
    return pos;
  }

  /** The connection ended: completes a body that runs until the close; false if the response was cut. */
  endOfInput(): boolean {
    if (this.state === State.UntilClose) {
      this.complete();
      return true;
    }
    return this.state === State.Done;
  }

  private complete(): void {
    this.state = State.Done;
    this.sink.onComplete();
  }

  /** The byte-by-byte states: chunk-size lines, the CRLF after each chunk, trailers. */
  private feedChunkFraming(buf: Buffer, start: number, len: number): number {
    let pos = start;
    while (pos < len) {
      const byte = buf[pos++]!;
      switch (this.state) {
        case State.ChunkSize: {
          const v = hexValue(byte);
          if (v >= 0) {
            if (++this.digits > 12) throw new HttpParseError("chunk size too large");
            this.size = this.size * 16 + v;
          } else if (this.digits === 0) {
            throw new HttpParseError("chunk size expected");
          } else if (byte === CR) {
            this.state = State.ChunkSizeLf;
          } else if (byte === LF) {
            return this.startChunk(pos);
          } else if (byte === 0x3b || byte === 0x20 || byte === 0x09) {
            this.state = State.ChunkExtension; // ";ext=value" (or whitespace before it): ignored
            this.lineBytes = 0;
          } else {
            throw new HttpParseError("invalid chunk size");
          }
          break;
        }
        case State.ChunkExtension:
          if (byte === LF) return this.startChunk(pos);
          if (++this.lineBytes > MAX_LINE_BYTES) throw new HttpParseError("chunk extension too long");
          break;
        case State.ChunkSizeLf:
          if (byte !== LF) throw new HttpParseError("CR without LF after the chunk size");
          return this.startChunk(pos);
        case State.ChunkDataCr:
          if (byte === CR) this.state = State.ChunkDataLf;
          else if (byte === LF) return this.nextChunk(pos);
          else throw new HttpParseError("chunk longer than its size");
          break;
        case State.ChunkDataLf:
          if (byte !== LF) throw new HttpParseError("CR without LF after a chunk");
          return this.nextChunk(pos);
        case State.Trailers:
          if (byte === LF) {
            if (this.lineBytes === 0) {
              this.complete();
              return pos;
            }
            this.lineBytes = 0;
          } else if (byte !== CR || this.lineBytes > 0) {
            // A CR alone at the start of a line is the empty line's; anything else is a trailer.
            this.lineBytes++;
            if (++this.trailerBytes > MAX_LINE_BYTES) throw new HttpParseError("trailers too long");
          }
          break;
        default:
          return pos - 1;
      }
    }
    return pos;
  }

  private nextChunk(pos: number): number {
    this.state = State.ChunkSize;
    this.size = 0;
    this.digits = 0;
    return pos;
  }

  private startChunk(pos: number): number {
    if (this.size === 0) {
      this.state = State.Trailers;
      this.lineBytes = 0;
      this.trailerBytes = 0;
    } else {
      this.state = State.ChunkData;
      this.remaining = this.size;
    }
    return pos;
  }

  /**
   * Reads a whole head from `buf` at `start` (joined with a pending part); returns the position
   * after it, or -1 when the head is not complete yet (kept for the next feed).
   */
  private feedHead(buf: Buffer, start: number, len: number): number {
    let head = buf;
    let from = start;
    let offset = 0; // bytes of the pending part before buf's
    let headLen = len;
    if (this.pendingHead !== undefined) {
      const piece = buf.subarray(start, len);
      // A head arriving in many small reads is kept in pieces, each copied once, and joined only
      // when a piece may hold its end: a trickling server costs time linear in the head's size.
      if (!mayEndHead(this.pendingHead, piece)) {
        if (this.pendingHeadBytes + piece.length > MAX_HEAD_BYTES)
          throw new HttpParseError(`head longer than ${MAX_HEAD_BYTES} bytes`);
        this.pendingHead.push(Buffer.from(piece));
        this.pendingHeadBytes += piece.length;
        return -1;
      }
      offset = this.pendingHeadBytes;
      head = Buffer.concat([...this.pendingHead, piece]);
      from = 0;
      headLen = head.length;
    }
    // The head ends at the first empty line ("\r\n\r\n", or bare "\n\n" as lenient parsers accept).
    const headStart = from;
    // Usually one native search finds it; the line-by-line scan below only for bare-LF heads.
    const crlf = head.indexOf(END_OF_HEAD, from);
    let end = crlf >= 0 && crlf + 4 <= headLen ? crlf + 4 : -1;
    // A bare "\n\n" or "\n\r\n" (bare-LF lines, then an empty line either way) before it ends the
    // head first (a JS scan: cheaper than a second native search).
    for (let i = from; end > 0 && i < crlf; i++)
      if (head[i] === LF && (head[i + 1] === LF || (head[i + 1] === CR && head[i + 2] === LF))) end = -1;
    while (end < 0) {
      const nl = head.indexOf(LF, from);
      if (nl < 0 || nl >= headLen) break;
      if (nl + 1 < headLen && head[nl + 1] === LF) {
        end = nl + 2;
        break;
      }
      if (nl + 2 < headLen && head[nl + 1] === CR && head[nl + 2] === LF) {
        end = nl + 3;
        break;
      }
      from = nl + 1;
    }
    if (end < 0) {
      if (headLen - headStart > MAX_HEAD_BYTES)
        throw new HttpParseError(`head longer than ${MAX_HEAD_BYTES} bytes`);
      // Copied: the fed buffer may be reused by the caller after this call.
      this.pendingHead = [Buffer.from(head.subarray(headStart, headLen))];
      this.pendingHeadBytes = headLen - headStart;
      return -1;
    }
    if (end - headStart > MAX_HEAD_BYTES)
      throw new HttpParseError(`head longer than ${MAX_HEAD_BYTES} bytes`);
    this.pendingHead = undefined;
    this.pendingHeadBytes = 0;
    // A keep-alive connection gets the same head again and again (only `date` changes, once a
    // second): the same bytes as the last head read whole are not parsed again.
    const cached = this.lastHead;
    if (
      cached !== undefined &&
      cached.bytes.length === end - headStart &&
      head.compare(cached.bytes, 0, cached.bytes.length, headStart, end) === 0
    )
      this.applyHead(cached.head, cached.framing);
    else this.parseHead(head, headStart, end);
    // Joined with a pending part: `end` counts from that part's start.
    return head === buf ? end : start + end - offset;
  }

  /** Status line and headers: `head[start, end)`, up to and including the empty line. */
  private parseHead(bytes: Buffer, start: number, end: number): void {
    const text = bytes.toString("latin1", start, end);
    let lineEnd = text.indexOf("\n");
    const statusLine = stripCr(text.slice(0, lineEnd));
    // "HTTP/1.x SSS[ reason]"
    if (
      !statusLine.startsWith("HTTP/1.") ||
      (statusLine.charCodeAt(7) !== 0x30 && statusLine.charCodeAt(7) !== 0x31) ||
      statusLine.charCodeAt(8) !== 0x20 ||
      !isDigits(statusLine, 9, 12) ||
      (statusLine.length > 12 && statusLine.charCodeAt(12) !== 0x20)
    )
      throw new HttpParseError(`bad status line ${JSON.stringify(statusLine.slice(0, 80))}`);
    const http10 = statusLine.charCodeAt(7) === 0x30;
    const status = Number(statusLine.slice(9, 12));
    let contentType: string | undefined;
    let contentLength = -1;
    let chunked = false;
    let otherEncoding = false;
    let connectionClose = false;
    let connectionKeepAlive = false;
    let keepAliveTimeoutMs: number | undefined;
    let lineStart = lineEnd + 1;
    while (lineStart < text.length) {
      lineEnd = text.indexOf("\n", lineStart);
      if (lineEnd < 0) lineEnd = text.length;
      let stop = lineEnd;
      if (stop > lineStart && text.charCodeAt(stop - 1) === CR) stop--;
      const from = lineStart;
      lineStart = lineEnd + 1;
      if (stop === from) continue;
      const colon = text.indexOf(":", from);
      if (colon <= from || colon >= stop)
        throw new HttpParseError(
          `bad header line ${JSON.stringify(text.slice(from, Math.min(stop, from + 80)))}`,
        );
      const nameLength = colon - from;
      // Only these names matter; the others are not even lower-cased.
      if (nameLength !== 10 && nameLength !== 12 && nameLength !== 14 && nameLength !== 17) continue;
      const name = text.slice(from, colon).toLowerCase();
      const value = text.slice(colon + 1, stop).trim();
      switch (name) {
        case "content-type":
          contentType = value;
          break;
        case "content-length": {
          if (!/^\d{1,15}$/.test(value))
            throw new HttpParseError(`bad content-length ${JSON.stringify(value)}`);
          const n = Number(value);
          if (contentLength >= 0 && n !== contentLength)
            throw new HttpParseError("conflicting content-length headers");
          contentLength = n;
          break;
        }
        case "transfer-encoding": {
          // The last coding decides: chunked is the framing; anything after it is not.
          const codings = value.toLowerCase().split(",");
          chunked = codings[codings.length - 1]!.trim() === "chunked";
          otherEncoding = !chunked;
          break;
        }
        case "connection": {
          const tokens = value
            .toLowerCase()
            .split(",")
            .map((c) => c.trim());
          if (tokens.includes("close")) connectionClose = true;
          if (tokens.includes("keep-alive")) connectionKeepAlive = true;
          break;
        }
        case "keep-alive": {
          const t = /timeout=(\d+)/i.exec(value);
          if (t) keepAliveTimeoutMs = Number(t[1]) * 1000;
          break;
        }
      }
    }
    if (status >= 100 && status < 200) {
      if (status === 101) throw new HttpParseError("unexpected 101 Switching Protocols");
      return; // interim response (100 Continue, 103 Early Hints): the real one follows
    }
    const framing: Framing =
      status === 204 || status === 304
        ? Framing.None
        : chunked
          ? Framing.Chunked
          : otherEncoding || contentLength < 0
            ? Framing.UntilClose
            : contentLength === 0
              ? Framing.None
              : Framing.Length;
    const keepAlive = !connectionClose && (!http10 || connectionKeepAlive) && framing !== Framing.UntilClose;
    const parsed: ResponseHead = { status, contentType, keepAlive, keepAliveTimeoutMs };
    // Not cached: a content-length head (the next body's length differs anyway).
    if (framing !== Framing.Length)
      this.lastHead = { bytes: Buffer.from(text, "latin1"), head: parsed, framing };
    this.remaining = contentLength;
    this.applyHead(parsed, framing);
  }

  /** Enters the body's state for a parsed head and reports it. `remaining` is set for Length. */
  private applyHead(head: ResponseHead, framing: Framing): void {
    this.keepAlive = head.keepAlive;
    if (framing === Framing.None) this.state = State.Done;
    else if (framing === Framing.Chunked) this.nextChunk(0);
    else if (framing === Framing.Length) this.state = State.Length;
    else this.state = State.UntilClose;
    this.sink.onHead(head);
    if (this.state === State.Done && !this.halted) this.sink.onComplete();
  }
}

function isDigits(text: string, from: number, to: number): boolean {
  if (text.length < to) return false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function stripCr(line: string): string {
  return line.length > 0 && line.charCodeAt(line.length - 1) === CR ? line.slice(0, -1) : line;
}

/**
 * Whether `piece`, after the `pending` pieces, may complete a head's empty line: it has an LF that
 * ends "\n\n" or "\n\r\n" (the tail of "\r\n\r\n" too), looking back into `pending` as needed.
 */
function mayEndHead(pending: readonly Buffer[], piece: Buffer): boolean {
  /** The byte `back` positions before piece[at], possibly in the pending pieces; -1 before all. */
  const before = (back: number, at: number): number => {
    let k = at - back;
    if (k >= 0) return piece[k]!;
    for (let p = pending.length - 1; p >= 0; p--) {
      const part = pending[p]!;
      k += part.length;
      if (k >= 0) return part[k]!;
    }
    return -1;
  };
  for (let at = piece.indexOf(LF); at >= 0; at = piece.indexOf(LF, at + 1)) {
    const prev = before(1, at);
    if (prev === LF || (prev === CR && before(2, at) === LF)) return true;
  }
  return false;
}
