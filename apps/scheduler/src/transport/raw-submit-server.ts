import type * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { InferenceEvent, InferenceRequest, type Logger } from "@symphony/runtime";
import { SUBMIT_PATH, type RelayedEvent } from "./raw-relay-codec";

/**
 * The client side of a Submit as the relay uses it: grpc-js's ServerWritableStream, or a
 * RawSubmitCall serving the same call on the bare HTTP/2 stream.
 */
export interface SubmitCall {
  readonly request: InferenceRequest;
  /** The request as the client sent it, where the call has it at hand (else see requestBytes()). */
  readonly requestBytes?: Buffer;
  /** The request's metadata (build cost per access on a RawSubmitCall: read it only when needed). */
  readonly metadata: grpc.Metadata;
  /** The client went away (or the call's own deadline passed): nothing more reaches it. */
  readonly cancelled: boolean;
  /** The call's status has been sent or is on its way. */
  readonly writableEnded: boolean;
  /** The client's deadline (grpc-timeout), absolute ms since the epoch; Infinity without one. */
  getDeadline(): grpc.Deadline;
  /** Sends one event; false when the client's buffer is full (then wait for "drain"). */
  write(ev: RelayedEvent): boolean;
  /** Ends the call with status OK. */
  end(): void;
  on(event: "cancelled", listener: () => void): unknown;
  once(event: "drain", listener: () => void): unknown;
  /** Ends the call with this status (grpc-js's way of failing a server stream). */
  emit(event: "error", status: Partial<grpc.ServiceError>): unknown;
}

const DEADLINE_REGEX = /(\d{1,8})\s*([HMSmun])/;
const DEADLINE_UNITS_MS: Record<string, number> = { H: 36e5, M: 6e4, S: 1e3, m: 1, u: 1e-3, n: 1e-6 };

/** Headers of a response, as grpc-js's server sends them. */
const RESPONSE_HEADERS: http2.OutgoingHttpHeaders = {
  ":status": 200,
  "content-type": "application/grpc+proto",
  "grpc-accept-encoding": "identity,deflate,gzip",
  "grpc-encoding": "identity",
};
const RESPOND_WITH_TRAILERS = { waitForTrailers: true } as const;
const RESPOND_AND_END = { endStream: true } as const;

/** Request headers that are transport, not metadata (grpc-js removes the same). */
const NOT_METADATA = [
  "grpc-timeout",
  "grpc-encoding",
  "grpc-accept-encoding",
  "accept-encoding",
  "te",
  "content-type",
];

/**
 * One Submit served on the bare HTTP/2 stream, with grpc-js's server semantics: headers sent
 * with the first event, each event one length-prefixed message, the status in trailers (or a
 * trailers-only response when nothing was sent), the client's grpc-timeout enforced as
 * DEADLINE_EXCEEDED, a stream closed before the status reported as "cancelled". grpc-js's
 * server call wraps each call in an intercepting call, an object-mode Writable, metadata
 * objects and promise hops for decompression: a visible share of the relay's CPU per turn.
 */
export class RawSubmitCall implements SubmitCall {
  cancelled = false;
  writableEnded = false;
  private headersSent = false;
  private statusSent = false;
  private cancelListeners: (() => void)[] | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private metadataCache: grpc.Metadata | undefined;
  /** Writes of one tick are corked and go out together (one write to the session, not one each). */
  private corked = false;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    readonly request: InferenceRequest,
    readonly requestBytes: Buffer,
    private readonly deadline: number,
  ) {
    if (Number.isFinite(deadline)) {
      this.deadlineTimer = setTimeout(() => {
        this.sendStatus(grpc.status.DEADLINE_EXCEEDED, "Deadline exceeded");
        this.notifyCancelled();
      }, deadline - Date.now());
    }
    stream.once("close", () => {
      clearTimeout(this.deadlineTimer);
      if (!this.statusSent) this.notifyCancelled();
    });
  }

  get metadata(): grpc.Metadata {
    if (!this.metadataCache) {
      const md = grpc.Metadata.fromHttp2Headers(this.headers);
      for (const key of NOT_METADATA) md.remove(key);
      this.metadataCache = md;
    }
    return this.metadataCache;
  }

  getDeadline(): grpc.Deadline {
    return this.deadline;
  }

  write(ev: RelayedEvent): boolean {
    if (this.statusSent || this.cancelled) return false;
    const bytes = Buffer.isBuffer(ev) ? ev : Buffer.from(InferenceEvent.encode(ev).finish());
    if (!this.headersSent) {
      this.headersSent = true;
      this.stream.respond(RESPONSE_HEADERS, RESPOND_WITH_TRAILERS);
    }
    const framed = Buffer.allocUnsafe(5 + bytes.length);
    framed[0] = 0;
    framed.writeUInt32BE(bytes.length, 1);
    bytes.copy(framed, 5);
    if (!this.corked) {
      this.corked = true;
      this.stream.cork();
      process.nextTick(uncork, this);
    }
    return this.stream.write(framed);
  }

  /** The end of the tick's writes (end() flushes corked writes itself). */
  uncorkWrites(): void {
    this.corked = false;
    if (!this.stream.destroyed) this.stream.uncork();
  }

  end(): void {
    this.sendStatus(grpc.status.OK, "OK");
  }

  on(event: "cancelled", listener: () => void): this {
    void event;
    (this.cancelListeners ??= []).push(listener);
    return this;
  }

  once(event: "drain", listener: () => void): this {
    this.stream.once(event, listener);
    return this;
  }

  emit(event: "error", status: Partial<grpc.ServiceError>): boolean {
    void event;
    // As grpc-js's serverErrorToStatus: an integer code with its details, else UNKNOWN.
    if (typeof status.code === "number" && Number.isInteger(status.code))
      this.sendStatus(
        status.code,
        typeof status.details === "string" ? status.details : (status.message ?? ""),
      );
    else this.sendStatus(grpc.status.UNKNOWN, status.message ?? "Unknown Error");
    return true;
  }

  /** Sends the status: in trailers after the events, or as a trailers-only response. */
  sendStatus(code: grpc.status, details: string): void {
    if (this.statusSent || this.cancelled) return;
    this.statusSent = true;
    this.writableEnded = true;
    clearTimeout(this.deadlineTimer);
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    const trailers = { "grpc-status": String(code), "grpc-message": encodeURI(details) };
    if (this.headersSent) {
      stream.once("wantTrailers", () => stream.sendTrailers(trailers));
      stream.end();
    } else stream.respond({ ...RESPONSE_HEADERS_NO_ENCODING, ...trailers }, RESPOND_AND_END);
  }

  private notifyCancelled(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.writableEnded = true;
    const listeners = this.cancelListeners;
    if (listeners) process.nextTick(() => listeners.forEach((l) => l()));
  }
}

const uncork = (call: RawSubmitCall) => call.uncorkWrites();

/** A trailers-only response's headers (grpc-js sends no encoding headers on one). */
const RESPONSE_HEADERS_NO_ENCODING: http2.OutgoingHttpHeaders = {
  ":status": 200,
  "content-type": "application/grpc+proto",
};

/** Sends a status on a stream no call was made for (bad request before the handler). */
function respondStatus(stream: http2.ServerHttp2Stream, code: grpc.status, details: string): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond(
    { ...RESPONSE_HEADERS_NO_ENCODING, "grpc-status": String(code), "grpc-message": encodeURI(details) },
    RESPOND_AND_END,
  );
}

/** The client's deadline from grpc-timeout: epoch ms, Infinity without one, undefined if malformed. */
export function deadlineFromHeader(value: string | string[] | undefined, nowMs: number): number | undefined {
  if (value === undefined) return Infinity;
  const match = DEADLINE_REGEX.exec(String(value));
  if (!match) return undefined;
  return nowMs + ((Number(match[1]) * DEADLINE_UNITS_MS[match[2]!]!) | 0);
}

type StreamListener = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  flags: number,
  rawHeaders: string[],
) => void;

/** The parts of grpc-js's Server this reaches into (grpc-js 1.14; checked at run time). */
interface GrpcServerInternals {
  http2Servers?: Map<http2.Http2Server | http2.Http2SecureServer, unknown>;
  onStreamOpened?: (stream: http2.ServerHttp2Stream) => void;
}

/**
 * Serves Submit on `server`'s HTTP/2 streams directly (RawSubmitCall), ahead of grpc-js's own
 * stream handler, which keeps every other method and any Submit this does not take: one whose
 * content type is not gRPC's or whose request is compressed. Sessions (keepalive, connection
 * limits, shutdown) stay grpc-js's. Returns false, changing nothing, when the grpc-js server does
 * not look as expected (another version): Submit then stays on grpc-js.
 */
export function serveSubmitOnHttp2(
  server: grpc.Server,
  handler: (call: SubmitCall) => void,
  maxReceiveMessageBytes: number,
  logger: Logger,
): boolean {
  const internals = server as unknown as GrpcServerInternals;
  const servers = internals.http2Servers;
  if (!(servers instanceof Map) || servers.size === 0) return false;
  const originals = new Map<unknown, StreamListener>();
  for (const h2 of servers.keys()) {
    const listeners = h2.listeners("stream");
    if (listeners.length !== 1) return false;
    originals.set(h2, listeners[0] as StreamListener);
  }
  const onStreamOpened = internals.onStreamOpened?.bind(server);
  for (const [h2, original] of originals) {
    const h2Server = h2 as http2.Http2Server;
    h2Server.removeListener("stream", original);
    h2Server.on("stream", (stream, headers, flags, rawHeaders) => {
      const contentType = headers["content-type"];
      const encoding = headers["grpc-encoding"];
      if (
        headers[":path"] !== SUBMIT_PATH ||
        typeof contentType !== "string" ||
        !contentType.startsWith("application/grpc") ||
        (encoding !== undefined && encoding !== "identity")
      ) {
        original.call(h2Server, stream, headers, flags, rawHeaders);
        return;
      }
      stream.on("error", () => {}); // reported by "close"; must not crash the process
      onStreamOpened?.(stream);
      const deadline = deadlineFromHeader(headers["grpc-timeout"], Date.now());
      if (deadline === undefined) {
        respondStatus(
          stream,
          grpc.status.INTERNAL,
          `Invalid grpc-timeout value "${String(headers["grpc-timeout"])}"`,
        );
        return;
      }
      readRequest(stream, maxReceiveMessageBytes, (body) => {
        let req: InferenceRequest;
        try {
          req = InferenceRequest.decode(body);
        } catch {
          respondStatus(stream, grpc.status.INTERNAL, "Error deserializing request");
          return;
        }
        const call = new RawSubmitCall(stream, headers, req, body, deadline);
        try {
          handler(call);
        } catch (err) {
          logger.error("Submit handler threw", { error: String(err) });
          call.sendStatus(grpc.status.UNKNOWN, "Unknown error");
        }
      });
    });
  }
  return true;
}

/**
 * Reads a server-streaming call's one request message, then hands its bytes to `onRequest`; a
 * request over `maxBytes`, none or two get grpc-js's statuses. A stream closed before its end
 * is dropped.
 */
function readRequest(
  stream: http2.ServerHttp2Stream,
  maxBytes: number,
  onRequest: (body: Buffer) => void,
): void {
  const chunks: Buffer[] = [];
  let received = 0;
  let lengthChecked = false;
  let failed = false;
  stream.on("data", (chunk: Buffer) => {
    if (failed) return;
    chunks.push(chunk);
    received += chunk.length;
    // The message's length is known once its 5-byte prefix is in: refuse an oversized one
    // before buffering it (the bytes are joined once, at the end).
    if (!lengthChecked && received >= 5) {
      lengthChecked = true;
      const head = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
      const length = head.readUInt32BE(1);
      if (maxBytes !== -1 && length > maxBytes) {
        failed = true;
        chunks.length = 0;
        respondStatus(
          stream,
          grpc.status.RESOURCE_EXHAUSTED,
          `Received message larger than max (${length} vs. ${maxBytes})`,
        );
      }
    }
  });
  stream.once("end", () => {
    if (failed || stream.destroyed) return;
    const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
    const length = all.length >= 5 ? all.readUInt32BE(1) : -1;
    if (length < 0 || all.length < 5 + length) {
      respondStatus(
        stream,
        grpc.status.UNIMPLEMENTED,
        `Received no request message for server streaming method ${SUBMIT_PATH}`,
      );
      return;
    }
    const rest = all.length - 5 - length;
    if (rest >= 5 && rest >= 5 + all.readUInt32BE(5 + length + 1)) {
      respondStatus(
        stream,
        grpc.status.UNIMPLEMENTED,
        `Received a second request message for server streaming method ${SUBMIT_PATH}`,
      );
      return;
    }
    onRequest(all.subarray(5, 5 + length));
  });
}
