import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { NODE_SUBMIT_PATH } from "./raw-relay-codec";
import type { NodeSubmit, NodeSubmitListener } from "./node-submit-call";

const {
  HTTP2_HEADER_STATUS,
  NGHTTP2_CANCEL,
  NGHTTP2_ENHANCE_YOUR_CALM,
  NGHTTP2_FLAG_END_STREAM,
  NGHTTP2_INADEQUATE_SECURITY,
  NGHTTP2_REFUSED_STREAM,
} = http2.constants;

/** Largest event accepted from a node (grpc-js's receive limit on node channels). */
const MAX_EVENT_BYTES = 64 * 1024 * 1024;

/**
 * Streams opened on one connection before it is retired for a new one: HTTP/2 stream ids run out
 * at 2^31 (client ids are odd), and Node then fails every new stream on a connection it keeps open.
 */
const MAX_STREAMS_PER_CONNECTION = 2 ** 30 - 1024;

/** Connection timing; the defaults are grpc-js's on node channels (see grpcClientOptions). */
export interface NodeH2Timing {
  /** A connection not established by then is given up (grpc-js's minimum connect timeout). */
  readonly connectTimeoutMs: number;
  /** Keepalive ping period, and how long a ping may go unanswered before the connection is dropped. */
  readonly keepaliveMs: number;
  readonly keepaliveTimeoutMs: number;
}

const DEFAULT_TIMING: NodeH2Timing = {
  connectTimeoutMs: 20_000,
  keepaliveMs: 10_000,
  keepaliveTimeoutMs: 5_000,
};

/** Whether `address` is a plain `host:port` (or `[v6]:port`) this module can dial itself. */
export function isPlainHostPort(address: string): boolean {
  return /^[A-Za-z0-9.-]+:\d{1,5}$/.test(address) || /^\[[0-9A-Fa-f:.]+\]:\d{1,5}$/.test(address);
}

/**
 * One plaintext HTTP/2 connection per node address for relayed Submits, beside grpc-js's
 * channel (which keeps polls, health checks and hints). A connection that fails, closes or
 * receives GOAWAY is forgotten and the next call opens a new one; a node that is down therefore
 * fails each call at once (as `waitForReady: false` does on the channel).
 */
export class NodeH2Sessions {
  private readonly sessions = new Map<string, { session: http2.ClientHttp2Session; streams: number }>();

  constructor(
    private readonly timing: NodeH2Timing = DEFAULT_TIMING,
    private readonly maxStreamsPerConnection = MAX_STREAMS_PER_CONNECTION,
  ) {}

  /** The connection for the next stream to `address` (each call counts as one stream opened). */
  session(address: string): http2.ClientHttp2Session {
    const existing = this.sessions.get(address);
    if (existing && !existing.session.closed && !existing.session.destroyed) {
      if (existing.streams < this.maxStreamsPerConnection) {
        existing.streams++;
        return existing.session;
      }
      existing.session.close(); // its streams in flight finish; new ones go to a new connection
      this.sessions.delete(address);
    }
    const session = http2.connect(`http://${address}`, {
      settings: { enablePush: false },
      // As grpc-js's transports: Node's default 10 MB session memory cap refuses new streams
      // once that much is buffered (many long conversations in flight); headers unbounded too.
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    });
    const forget = () => {
      if (this.sessions.get(address)?.session === session) this.sessions.delete(address);
    };
    const { connectTimeoutMs, keepaliveMs, keepaliveTimeoutMs } = this.timing;
    // A peer that never answers (a host gone without a reset, a hung process) fails the
    // connection, and with it every stream on it (UNAVAILABLE), instead of leaving them hanging.
    const connectTimer = setTimeout(
      () =>
        session.destroy(new Error(`connection to ${address} not established within ${connectTimeoutMs} ms`)),
      connectTimeoutMs,
    );
    connectTimer.unref();
    let pingTimer: NodeJS.Timeout | undefined;
    session.on("error", forget); // each open stream reports it too
    session.on("goaway", forget);
    session.on("close", () => {
      forget();
      clearTimeout(connectTimer);
      clearInterval(pingTimer);
    });
    session.once("connect", () => {
      clearTimeout(connectTimer);
      pingTimer = setInterval(() => {
        let answered = false;
        let deferred = false;
        const expire = () => {
          if (answered || session.destroyed) return;
          // Timers run before the socket is read: a loop that stalled past the timeout may have the
          // ACK waiting unread. setImmediate runs after I/O polling, so look once more from there.
          if (!deferred) {
            deferred = true;
            setImmediate(expire);
            return;
          }
          session.destroy(new Error(`keepalive ping unanswered for ${keepaliveTimeoutMs} ms`));
        };
        const timeout = setTimeout(expire, keepaliveTimeoutMs);
        timeout.unref();
        try {
          session.ping(() => {
            answered = true;
            clearTimeout(timeout);
          });
        } catch {
          clearTimeout(timeout);
        }
      }, keepaliveMs);
      pingTimer.unref();
    });
    // An idle connection must not keep the process alive (grpc-js unrefs idle ones too).
    session.unref();
    this.sessions.set(address, { session, streams: 1 });
    return session;
  }

  closeAll(): void {
    for (const s of this.sessions.values()) s.session.destroy();
    this.sessions.clear();
  }
}

/** grpc-timeout header value for `ms` (at most 8 digits, per the gRPC HTTP/2 spec). */
function grpcTimeout(ms: number): string {
  if (ms < 1e8) return `${ms}m`;
  if (ms < 1e11) return `${Math.ceil(ms / 1000)}S`;
  return `${Math.min(99_999_999, Math.ceil(ms / 3_600_000))}H`;
}

/**
 * One Submit to a node as a bare HTTP/2 stream: gRPC's wire format (length-prefixed messages,
 * status in trailers) spoken directly, without grpc-js's client call stack (resolving, retrying
 * and load-balancing call layers, filter stack, metadata objects), which cost a visible share of
 * the relay's CPU per turn. Same contract as NodeSubmitCall: events as the node's bytes, one per
 * `readNext()` (the stream is paused meanwhile, so HTTP/2 flow control holds the node back), then
 * exactly one status; statuses follow grpc-js's mapping of stream resets and dropped connections.
 */
export class NodeH2Submit implements NodeSubmit {
  private stream: http2.ClientHttp2Stream | undefined;
  private ended = false;
  private readPending = true;
  private delivering = false;
  /** Received bytes not yet cut into messages, and how many bytes the next cut needs. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private bytesForNextMessage = 5;
  private readonly messages: Buffer[] = [];
  /** An OK status waits until every message before it was read (trailers overtake paused data). */
  private okStatusReceived = false;
  /** The response body has been read to its end. */
  private dataEnded = false;
  private httpStatus = 0;
  private streamError: Error | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;

  constructor(
    sessions: NodeH2Sessions,
    address: string,
    request: Buffer,
    deadlineEpochMs: number,
    private readonly listener: NodeSubmitListener,
  ) {
    const timeoutMs = Math.ceil(deadlineEpochMs - Date.now());
    if (timeoutMs <= 0) {
      process.nextTick(() => this.finish(grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded"));
      return;
    }
    let stream: http2.ClientHttp2Stream;
    let session: http2.ClientHttp2Session;
    try {
      session = sessions.session(address);
      stream = session.request(
        {
          ":method": "POST",
          ":path": NODE_SUBMIT_PATH,
          ":authority": address,
          ":scheme": "http",
          "content-type": "application/grpc",
          te: "trailers",
          "grpc-accept-encoding": "identity",
          "grpc-timeout": grpcTimeout(timeoutMs),
        },
        { endStream: false },
      );
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      process.nextTick(() => this.finish(grpc.status.UNAVAILABLE, message));
      return;
    }
    this.stream = stream;
    this.deadlineTimer = setTimeout(() => {
      if (this.ended) return;
      this.finish(grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded");
      stream.close(NGHTTP2_CANCEL);
    }, timeoutMs);
    stream.on("response", (headers, flags) => {
      this.httpStatus = Number(headers[HTTP2_HEADER_STATUS]);
      // Trailers-only response: the status comes with the headers.
      if (flags & NGHTTP2_FLAG_END_STREAM) this.onTrailers(headers);
    });
    stream.on("trailers", (headers) => this.onTrailers(headers));
    stream.on("data", (chunk: Buffer) => this.onData(chunk));
    stream.on("end", () => {
      this.dataEnded = true;
      if (this.pendingBytes > 0) {
        this.fail(
          grpc.status.INTERNAL,
          `node's stream ended inside a message (${this.pendingBytes} bytes of it)`,
        );
        return;
      }
      this.deliver();
    });
    stream.on("error", (err: Error & { code?: string }) => {
      // Errors built from a RST_STREAM are reported by "close" with the reset's code.
      if (err.code !== "ERR_HTTP2_STREAM_ERROR") this.streamError = err;
    });
    stream.on("close", () => process.nextTick(() => this.onClose(stream, session)));
    const framed = Buffer.allocUnsafe(5 + request.length);
    framed[0] = 0;
    framed.writeUInt32BE(request.length, 1);
    request.copy(framed, 5);
    stream.end(framed);
  }

  readNext(): void {
    if (this.ended) return;
    this.readPending = true;
    this.deliver();
  }

  cancel(details: string): void {
    void details;
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.deadlineTimer);
    this.stream?.close(NGHTTP2_CANCEL);
  }

  private onData(chunk: Buffer): void {
    if (this.ended) return;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // Bytes are joined once a whole message (or header) is in: a large event arriving in many
    // DATA frames is copied once, not once per frame.
    if (this.pendingBytes < this.bytesForNextMessage) return;
    let buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    this.bytesForNextMessage = 5;
    while (buf.length >= 5) {
      if (buf[0] !== 0) {
        this.fail(grpc.status.INTERNAL, "node sent a compressed message without grpc-encoding");
        return;
      }
      const length = buf.readUInt32BE(1);
      if (length > MAX_EVENT_BYTES) {
        this.fail(
          grpc.status.RESOURCE_EXHAUSTED,
          `Received message larger than max (${length} vs. ${MAX_EVENT_BYTES})`,
        );
        return;
      }
      if (buf.length < 5 + length) {
        this.bytesForNextMessage = 5 + length;
        break;
      }
      this.messages.push(buf.subarray(5, 5 + length));
      buf = buf.subarray(5 + length);
    }
    if (buf.length > 0) {
      this.pending.push(buf);
      this.pendingBytes = buf.length;
    }
    this.deliver();
  }

  /** Hands queued messages to the listener, one per readNext(); then a held OK status. */
  private deliver(): void {
    if (this.delivering) return; // readNext() from inside onEvent: the loop below continues
    this.delivering = true;
    while (!this.ended && this.readPending && this.messages.length > 0) {
      this.readPending = false;
      this.listener.onEvent(this.messages.shift()!);
    }
    this.delivering = false;
    if (this.ended) return;
    if (this.messages.length === 0) {
      if (this.okStatusReceived && this.dataEnded) this.finish(grpc.status.OK, "");
      else if (this.stream?.isPaused()) this.stream.resume();
    } else if (!this.readPending) this.stream?.pause();
  }

  private onTrailers(headers: http2.IncomingHttpHeaders): void {
    if (this.ended) return;
    const statusHeader = headers["grpc-status"];
    if (statusHeader === undefined) {
      const http = this.httpStatus;
      this.fail(
        http && http !== 200 ? httpToGrpcStatus(http) : grpc.status.UNKNOWN,
        http && http !== 200 ? `Received HTTP status code ${http}` : "No status information received",
      );
      return;
    }
    // Anything but a known code (0-16) is UNKNOWN: the relay reports codes by name.
    const parsed =
      typeof statusHeader === "string" && /^\d{1,2}$/.test(statusHeader) ? Number(statusHeader) : -1;
    const code = parsed >= 0 && parsed <= 16 ? (parsed as grpc.status) : grpc.status.UNKNOWN;
    const message = headers["grpc-message"];
    let details = typeof message === "string" ? message : "";
    try {
      details = decodeURI(details);
    } catch {
      // kept as received
    }
    if (code === grpc.status.OK) {
      this.okStatusReceived = true;
      this.deliver();
    } else this.fail(code, details);
  }

  private onClose(stream: http2.ClientHttp2Stream, session: http2.ClientHttp2Session): void {
    if (this.ended || this.okStatusReceived) return;
    // A connection that failed or dropped: UNAVAILABLE, as grpc-js reports it.
    if (this.streamError || session.destroyed || session.closed) {
      const why = this.streamError?.message ?? "Connection dropped";
      this.fail(grpc.status.UNAVAILABLE, why);
      return;
    }
    switch (stream.rstCode) {
      case NGHTTP2_REFUSED_STREAM:
        this.fail(grpc.status.UNAVAILABLE, "Stream refused by server");
        return;
      case NGHTTP2_CANCEL:
        this.fail(grpc.status.CANCELLED, "Call cancelled");
        return;
      case NGHTTP2_ENHANCE_YOUR_CALM:
        this.fail(grpc.status.RESOURCE_EXHAUSTED, "Bandwidth exhausted or memory limit exceeded");
        return;
      case NGHTTP2_INADEQUATE_SECURITY:
        this.fail(grpc.status.PERMISSION_DENIED, "Protocol not secure enough");
        return;
      default:
        this.fail(
          this.httpStatus && this.httpStatus !== 200
            ? httpToGrpcStatus(this.httpStatus)
            : grpc.status.INTERNAL,
          `Received RST_STREAM with code ${stream.rstCode} (Call ended without gRPC status)`,
        );
    }
  }

  /** Ends with an error status and resets the stream. */
  private fail(code: grpc.status, details: string): void {
    if (this.ended) return;
    this.finish(code, details);
    if (this.stream && !this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
  }

  private finish(code: grpc.status, details: string): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.deadlineTimer);
    this.listener.onStatus(code, details);
  }
}

/** gRPC's mapping of an HTTP status without a gRPC status (grpc-js's, for the same reports). */
function httpToGrpcStatus(http: number): grpc.status {
  switch (http) {
    case 400:
      return grpc.status.INTERNAL;
    case 401:
      return grpc.status.UNAUTHENTICATED;
    case 403:
      return grpc.status.PERMISSION_DENIED;
    case 404:
      return grpc.status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return grpc.status.UNAVAILABLE;
    default:
      return grpc.status.UNKNOWN;
  }
}
