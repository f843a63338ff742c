import { isIP, connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { Http1ResponseParser, HttpParseError, type ResponseHead, type ResponseSink } from "./http1-parser";

/**
 * What one exchange hears back. After `onComplete` or `onError` nothing more is called; after
 * the caller's `abort()`, nothing at all.
 */
export interface Http1Exchange {
  onHead(status: number, contentType: string | undefined): void;
  /** De-chunked body bytes as they arrive: a view valid during the call only. */
  onBody(bytes: Buffer): void;
  onComplete(): void;
  /**
   * The exchange failed: `IDLE_TIMEOUT` (no byte for the request's idle timeout),
   * `UND_ERR_CONNECT_TIMEOUT` (no connection within the connect timeout),
   * `UND_ERR_SOCKET` (the server closed the connection; undici's code, kept so records read the
   * same with either client), `BAD_RESPONSE` (not HTTP/1.1), or Node's socket error codes
   * (`ECONNREFUSED`, `ECONNRESET`, `EPIPE`, ...).
   */
  onError(code: string, message: string): void;
}

export interface Http1PoolOptions {
  /** At most this many connections (one request in flight on each). */
  connections: number;
  /** An idle connection older than this is not reused, unless the server's `keep-alive: timeout` says less. */
  keepAliveMs: number;
  /** A connection (with its TLS handshake) not up within this fails UND_ERR_CONNECT_TIMEOUT (default 10 s, as undici; 0 = none). */
  connectTimeoutMs?: number;
  /** `https://` origins: extra certificate authorities (tests); default: Node's. */
  ca?: string | Buffer;
}

/** A request in the pool: queued, then written on one connection. */
class PoolRequest {
  connection: Connection | undefined;
  aborted = false;
  finished = false;

  constructor(
    /** Head and body, written in one call. */
    readonly payload: string,
    readonly exchange: Http1Exchange,
    readonly idleTimeoutMs: number,
  ) {}

  /** Gives up on the request: a connection it is on is closed (the server stops generating). */
  abort(): void {
    if (this.finished || this.aborted) return;
    this.aborted = true;
    // A queued request is skipped when its turn comes.
    this.connection?.destroy();
  }
}

/**
 * An idle connection reused after this long is written to only once the event loop has polled
 * it (see `Connection.sendAfterPoll`). Servers close idle keep-alive connections after seconds
 * (uvicorn, vLLM's server: 5 s); a close sooner than this is not a stale keep-alive.
 */
const VALIDATE_IDLE_AFTER_MS = 1000;

/** The server closed the connection mid-exchange (undici's words and code). */
const SOCKET_CLOSED = { code: "UND_ERR_SOCKET", message: "other side closed" };

/** One keep-alive connection and its response parser. */
class Connection implements ResponseSink {
  readonly parser = new Http1ResponseParser(this);
  request: PoolRequest | undefined;
  /** A request that picked this idle connection, not written yet (see `sendAfterPoll`). */
  unsent: PoolRequest | undefined;
  destroyed = false;
  idleSinceMs = 0;
  keepAliveMs: number;
  private keepAliveAfter = false;
  /**
   * The socket's idle timeout now (0 = none). Left armed between exchanges (Node re-arms it on
   * each write and read; a timeout with no exchange is ignored), so a request with the same idle
   * timeout as the last costs no timer of its own.
   */
  private socketTimeoutMs = 0;

  constructor(
    private readonly pool: Http1Pool,
    readonly socket: Socket,
  ) {
    this.keepAliveMs = pool.options.keepAliveMs;
    // TLS sockets have no `onread`: their reads come as 'data' events.
    if (pool.tls) socket.on("data", (buf: Buffer) => this.onData(buf, buf.length));
    socket.on("end", () => this.onSocketEnd());
    socket.on("error", (err: NodeJS.ErrnoException) => this.fail(err.code ?? "NETWORK", err.message));
    socket.on("close", () => this.onSocketClose());
    socket.on("timeout", () => {
      if (this.request) this.fail("IDLE_TIMEOUT", "no byte from the server");
    });
  }

  /**
   * Sends `request` on this idle keep-alive connection once the event loop has polled its socket
   * (undici's idle-socket validation): a close or stray bytes the server sent while it sat idle,
   * perhaps while the loop was busy, are seen first, and the request goes to another connection
   * without ever having been written. Once a request is written, a close before any byte of an
   * answer is not taken as proof the server did not take it (it may have read the request and
   * died working on it, whenever the loop gets to see the close): the exchange fails and is not
   * sent again, as with undici, which resends no POST.
   */
  sendAfterPoll(request: PoolRequest): void {
    this.unsent = request;
    request.connection = this;
    this.socket.ref();
    setImmediate(() => {
      if (this.unsent !== request) return; // the connection closed meanwhile, or the request was aborted
      this.unsent = undefined;
      this.send(request);
    });
  }

  send(request: PoolRequest): void {
    this.request = request;
    request.connection = this;
    this.parser.reset();
    if (request.idleTimeoutMs !== this.socketTimeoutMs) {
      this.socket.setTimeout(request.idleTimeoutMs);
      this.socketTimeoutMs = request.idleTimeoutMs;
    }
    this.socket.ref();
    this.socket.write(request.payload);
  }

  onHead(head: ResponseHead): void {
    this.keepAliveAfter = head.keepAlive;
    if (head.keepAliveTimeoutMs !== undefined)
      // Reuse a connection only well before the server's own idle timeout closes it.
      this.keepAliveMs = Math.min(this.pool.options.keepAliveMs, Math.max(0, head.keepAliveTimeoutMs - 1000));
    this.request!.exchange.onHead(head.status, head.contentType);
  }

  onBody(bytes: Buffer): void {
    this.request!.exchange.onBody(bytes);
  }

  onComplete(): void {
    // Acted on once the fed buffer is done with (onData / onSocketEnd): see finish().
  }

  /** The response is complete: free the connection (or close it), then tell the exchange. */
  private finish(reusable: boolean): void {
    const request = this.request!;
    this.request = undefined;
    request.connection = undefined;
    request.finished = true;
    // Free the connection first: the exchange's end may send the next request at once.
    if (reusable && this.keepAliveAfter && !this.pool.closing) {
      this.pool.release(this);
    } else this.destroy();
    request.exchange.onComplete();
  }

  /** `len` bytes read into `buf` (the pool's shared read buffer, or a TLS socket's chunk). */
  onData(buf: Buffer, len: number): void {
    if (!this.request) {
      // Bytes nobody asked for: the connection is out of step.
      this.fail("BAD_RESPONSE", "bytes on an idle connection");
      return;
    }
    let used: number;
    try {
      used = this.parser.feed(buf, len);
    } catch (err) {
      if (err instanceof HttpParseError) return this.fail("BAD_RESPONSE", err.message);
      throw err;
    }
    // Left-over bytes after a complete response (no pipelining here): do not reuse the connection.
    if (this.request && this.parser.done) this.finish(used === len);
  }

  private onSocketEnd(): void {
    if (this.request && this.parser.endOfInput()) return this.finish(false); // a body that ran to the close
    this.fail(SOCKET_CLOSED.code, SOCKET_CLOSED.message);
  }

  private onSocketClose(): void {
    this.fail(SOCKET_CLOSED.code, SOCKET_CLOSED.message);
    this.destroyed = true;
    this.pool.forget(this);
  }

  failConnect(message: string): void {
    this.fail("UND_ERR_CONNECT_TIMEOUT", message);
  }

  /** Ends the current exchange with an error and closes the connection; an unsent request goes elsewhere. */
  private fail(code: string, message: string): void {
    const request = this.request;
    const unsent = this.unsent;
    this.unsent = undefined;
    if (unsent) {
      unsent.connection = undefined;
      // Never written: nothing the server could have taken. Dispatched before this connection
      // is forgotten, so it goes ahead of requests queued after it, not behind them.
      this.pool.redispatch(unsent);
    }
    this.destroy();
    if (!request) return;
    request.connection = undefined;
    request.finished = true;
    request.exchange.onError(code, message);
  }

  destroy(): void {
    this.parser.halt();
    this.request = undefined;
    this.unsent = undefined;
    if (this.destroyed) return;
    this.destroyed = true;
    this.socket.destroy();
    this.pool.forget(this);
  }
}

/**
 * HTTP/1.1 keep-alive connections to one origin, one request in flight on each (as undici's
 * Pool with `pipelining: 1`): a request takes the most recently freed connection, else opens a
 * new one while under `connections`, else waits in a FIFO queue. Each request is written with
 * one `write` (head and body in one string); responses are parsed as they arrive and their
 * body bytes handed on without copies.
 */
export class Http1Pool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly queue: PoolRequest[] = [];
  private queueHead = 0;
  closing = false;
  private closed: (() => void) | undefined;
  private readonly host: string;
  private readonly port: number;
  readonly tls: boolean;
  /**
   * Every plain connection reads into this one buffer (net's `onread`): no Buffer per read and
   * no stream machinery. Safe to share: a read is parsed synchronously, and body views are
   * valid only during the exchange's callback (documented in Http1Exchange).
   */
  private readonly readBuffer = Buffer.allocUnsafe(64 << 10);

  constructor(
    origin: URL,
    readonly options: Http1PoolOptions,
  ) {
    this.tls = origin.protocol === "https:";
    this.host = origin.hostname.replace(/^\[(.*)\]$/, "$1");
    this.port = Number(origin.port) || (this.tls ? 443 : 80);
  }

  /** Connections open now (idle or busy). */
  get size(): number {
    return this.all.size;
  }

  /** Sends `payload` (a whole request: head and body) and reports to `exchange`. */
  request(payload: string, exchange: Http1Exchange, idleTimeoutMs = 0): { abort(): void } {
    const request = new PoolRequest(payload, exchange, idleTimeoutMs);
    if (this.closing) {
      request.finished = true;
      queueMicrotask(() => exchange.onError("UND_ERR_CLOSED", "the connection pool is closed"));
      return request;
    }
    this.dispatch(request);
    return request;
  }

  private dispatch(request: PoolRequest, first = false): void {
    const now = performance.now();
    let connection: Connection | undefined;
    while ((connection = this.idle.pop()) !== undefined) {
      const idleMs = now - connection.idleSinceMs;
      if (idleMs < connection.keepAliveMs) {
        // Only a connection idle a while can have been closed by the server's idle timeout;
        // one freed moments ago is written to at once (no event-loop turn added to the
        // request's measured latency under load).
        if (idleMs >= VALIDATE_IDLE_AFTER_MS) connection.sendAfterPoll(request);
        else connection.send(request);
        return;
      }
      connection.destroy(); // past its keep-alive time: the server may have closed it
    }
    if (this.all.size < this.options.connections) {
      this.open().send(request); // written once connected
      return;
    }
    if (!first) this.queue.push(request);
    else if (this.queueHead > 0) this.queue[--this.queueHead] = request;
    else this.queue.unshift(request);
  }

  private open(): Connection {
    const socket = this.tls
      ? tlsConnect({
          host: this.host,
          port: this.port,
          servername: isIP(this.host) ? undefined : this.host,
          ALPNProtocols: ["http/1.1"],
          ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
        })
      : netConnect({
          host: this.host,
          port: this.port,
          noDelay: true,
          onread: {
            buffer: this.readBuffer,
            callback: (n: number, buf: Uint8Array) => {
              // Runs only after connect, once `connection` below is set.
              connection.onData(buf as Buffer, n);
              return true;
            },
          },
        });
    const connection = new Connection(this, socket);
    this.all.add(connection);
    // As undici: a connection (and TLS handshake) not up within the connect timeout fails.
    const connectTimeoutMs = this.options.connectTimeoutMs ?? 10_000;
    if (connectTimeoutMs > 0) {
      const timer = setTimeout(
        () => connection.failConnect(`connect timeout after ${connectTimeoutMs} ms`),
        connectTimeoutMs,
      );
      timer.unref();
      socket.once(this.tls ? "secureConnect" : "connect", () => clearTimeout(timer));
      socket.once("close", () => clearTimeout(timer));
    }
    return connection;
  }

  /** A connection finished its exchange and may carry another. */
  release(connection: Connection): void {
    const next = this.nextQueued();
    if (next) {
      connection.send(next);
      return;
    }
    connection.idleSinceMs = performance.now();
    // Idle connections do not keep the process alive.
    connection.socket.unref();
    this.idle.push(connection);
  }

  /**
   * A request that picked an idle connection the server had closed, before it was written: it
   * was dispatched before anything queued now, so it waits at the head of the queue.
   */
  redispatch(request: PoolRequest): void {
    if (request.aborted) return;
    if (this.closing) {
      request.finished = true;
      request.exchange.onError("UND_ERR_CLOSED", "the connection pool is closed");
      return;
    }
    this.dispatch(request, true);
  }

  private nextQueued(): PoolRequest | undefined {
    while (this.queueHead < this.queue.length) {
      const request = this.queue[this.queueHead]!;
      this.queue[this.queueHead++] = undefined as unknown as PoolRequest;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      if (!request.aborted) return request;
    }
    return undefined;
  }

  /** A connection closed: it leaves the pool; a queued request may open a new one. */
  forget(connection: Connection): void {
    if (!this.all.delete(connection)) return;
    const i = this.idle.lastIndexOf(connection);
    if (i >= 0) this.idle.splice(i, 1);
    if (this.closing) {
      if (this.all.size === 0) this.closed?.();
      return;
    }
    const next = this.nextQueued();
    if (next) this.open().send(next);
  }

  /** Closes idle connections now and busy ones when their exchange ends; resolves when all are gone. */
  close(): Promise<void> {
    this.closing = true;
    for (const request of this.queue.splice(0))
      if (request && !request.aborted && !request.finished) {
        request.finished = true;
        request.exchange.onError("UND_ERR_CLOSED", "the connection pool is closed");
      }
    this.queueHead = 0;
    for (const connection of this.idle.splice(0)) connection.destroy();
    if (this.all.size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.closed = resolve));
  }

  /** Closes every connection now, in flight or not. */
  destroy(): void {
    this.closing = true;
    for (const connection of [...this.all]) connection.destroy();
  }
}
