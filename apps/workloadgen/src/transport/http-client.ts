import { Pool } from "undici";
import { Http1Pool, type Http1Exchange } from "./http1-pool";

/** Which HTTP/1.1 client the OpenAI target uses (`--http-client`). */
export type HttpClientKind = "native" | "undici";

/** One request's answer as it arrives; see Http1Exchange (either client reports the same way). */
export type HttpExchange = Http1Exchange;

/**
 * The HTTP side of the OpenAI target: POSTs of JSON bodies to one path with fixed headers, and
 * GETs for the model list. Both clients keep `connections` keep-alive connections to one origin.
 */
export interface HttpClient {
  /**
   * POSTs `body` to the completions path, with `sessionId` in the session header when one is
   * configured. `idleTimeoutMs` > 0: fail with IDLE_TIMEOUT after that long without a byte.
   */
  post(body: string, sessionId: string, idleTimeoutMs: number, exchange: HttpExchange): { abort(): void };
  /** GET `path`, the whole body as text. */
  get(path: string, timeoutMs: number): Promise<{ status: number; text: string }>;
  close(): Promise<void>;
}

export interface HttpClientOptions {
  origin: URL;
  /** The POST path, e.g. `/v1/chat/completions`. */
  postPath: string;
  /** Headers of every request (lower-case names), beside host, content-type and content-length. */
  headers: Readonly<Record<string, string>>;
  sessionIdHeader: string | undefined;
  connections: number;
  keepAliveMs: number;
}

export function makeHttpClient(kind: HttpClientKind, options: HttpClientOptions): HttpClient {
  return kind === "undici" ? new UndiciClient(options) : new NativeHttpClient(options);
}

const FORBIDDEN_IN_HEADER = /[\r\n\0]/;

function checkHeader(name: string, value: string): void {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name))
    throw new Error(`invalid HTTP header name ${JSON.stringify(name)}`);
  if (FORBIDDEN_IN_HEADER.test(value))
    throw new Error(`invalid value for HTTP header ${name}: contains CR, LF or NUL`);
}

/**
 * Our own HTTP/1.1 client (Http1Pool): each POST is one string (a head built once per target,
 * the session header and content-length, then the body) written in one call.
 */
export class NativeHttpClient implements HttpClient {
  private readonly pool: Http1Pool;
  private readonly postHead: string;
  private readonly getHeaders: string;

  constructor(private readonly options: HttpClientOptions) {
    this.pool = new Http1Pool(options.origin, {
      connections: options.connections,
      keepAliveMs: options.keepAliveMs,
    });
    const given = Object.entries(options.headers).filter(
      // Framing is ours to write; the body is always JSON.
      ([name]) => !["content-type", "content-length", "transfer-encoding"].includes(name.toLowerCase()),
    );
    let fixed = given.some(([name]) => name.toLowerCase() === "host")
      ? ""
      : `host: ${options.origin.host}\r\n`;
    for (const [name, value] of given) {
      checkHeader(name, value);
      fixed += `${name}: ${value}\r\n`;
    }
    if (options.sessionIdHeader !== undefined) checkHeader(options.sessionIdHeader, "");
    this.postHead = `POST ${options.postPath} HTTP/1.1\r\n${fixed}content-type: application/json\r\n`;
    this.getHeaders = fixed;
  }

  post(body: string, sessionId: string, idleTimeoutMs: number, exchange: HttpExchange): { abort(): void } {
    let head = this.postHead;
    const sessionHeader = this.options.sessionIdHeader;
    if (sessionHeader !== undefined) {
      if (FORBIDDEN_IN_HEADER.test(sessionId)) {
        queueMicrotask(() => exchange.onError("BAD_REQUEST", "session id contains CR, LF or NUL"));
        return { abort() {} };
      }
      head += `${sessionHeader}: ${sessionId}\r\n`;
    }
    return this.pool.request(
      `${head}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      exchange,
      idleTimeoutMs,
    );
  }

  get(path: string, timeoutMs: number): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      let status = 0;
      const parts: Buffer[] = [];
      this.pool.request(
        `GET ${path} HTTP/1.1\r\n${this.getHeaders}\r\n`,
        {
          onHead: (s) => (status = s),
          // Copied: the views are only valid during the call.
          onBody: (bytes) => parts.push(Buffer.from(bytes)),
          onComplete: () => resolve({ status, text: Buffer.concat(parts).toString("utf8") }),
          onError: (code, message) =>
            reject(
              Object.assign(
                new Error(
                  code === "IDLE_TIMEOUT" ? `GET ${path}: no answer within ${timeoutMs} ms` : message,
                ),
                { code },
              ),
            ),
        },
        timeoutMs,
      );
    });
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}

/** undici's Pool through its `dispatch` API (no stream, promise or AbortSignal per request). */
export class UndiciClient implements HttpClient {
  private readonly pool: Pool;
  private readonly postHeaders: Readonly<Record<string, string>>;

  constructor(private readonly options: HttpClientOptions) {
    this.pool = new Pool(options.origin.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: options.keepAliveMs,
    });
    this.postHeaders = { ...options.headers, "content-type": "application/json" };
  }

  post(body: string, sessionId: string, idleTimeoutMs: number, exchange: HttpExchange): { abort(): void } {
    const sessionHeader = this.options.sessionIdHeader;
    const headers = sessionHeader ? { ...this.postHeaders, [sessionHeader]: sessionId } : this.postHeaders;
    let controller: { abort(reason: Error): void } | undefined;
    let aborted = false;
    this.pool.dispatch(
      {
        path: this.options.postPath,
        method: "POST",
        headers,
        body,
        // Silence: the headers and every gap between body bytes (0 = none).
        headersTimeout: idleTimeoutMs,
        bodyTimeout: idleTimeoutMs,
      },
      {
        onRequestStart: (c) => {
          controller = c;
          if (aborted) c.abort(new Error("cancelled by the client"));
        },
        onResponseStart: (_c, statusCode, headers) => {
          if (aborted) return;
          const type = headers["content-type"];
          exchange.onHead(statusCode, Array.isArray(type) ? type[0] : type);
        },
        onResponseData: (_c, bytes) => {
          if (!aborted) exchange.onBody(bytes);
        },
        onResponseEnd: () => {
          if (!aborted) exchange.onComplete();
        },
        onResponseError: (_c, err: Error & { code?: string }) => {
          if (aborted) return;
          if (err.code === "UND_ERR_HEADERS_TIMEOUT" || err.code === "UND_ERR_BODY_TIMEOUT")
            exchange.onError("IDLE_TIMEOUT", err.message);
          else exchange.onError(err.code ?? err.name ?? "NETWORK", err.message);
        },
      },
    );
    return {
      abort: () => {
        aborted = true;
        controller?.abort(new Error("cancelled by the client"));
      },
    };
  }

  async get(path: string, timeoutMs: number): Promise<{ status: number; text: string }> {
    const res = await this.pool.request({
      path,
      method: "GET",
      headers: this.options.headers,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    return { status: res.statusCode, text: await res.body.text() };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
