import * as http2 from "node:http2";
import * as net from "node:net";
import type { AddressInfo } from "node:net";
import * as grpc from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { isPlainHostPort, NodeH2Sessions, NodeH2Submit } from "./node-h2-submit";
import { NODE_SUBMIT_PATH } from "./raw-relay-codec";

/** A gRPC message frame: not compressed, 4-byte big-endian length, payload. */
function frame(payload: Buffer): Buffer {
  const out = Buffer.alloc(5 + payload.length);
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, 5);
  return out;
}

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, body: Buffer) => void;

/** A bare HTTP/2 server standing in for a node: `handler` gets each request once its body is in. */
async function startH2Node(
  handler: Handler,
): Promise<{ address: string; connections(): number; close(): Promise<void> }> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  let connections = 0;
  server.on("session", (s) => {
    connections++;
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.on("stream", (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on("error", () => undefined); // resets the tests provoke
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => handler(stream, headers, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    address: `127.0.0.1:${port}`,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface Outcome {
  events: string[];
  code: grpc.status;
  details: string;
}

/** Runs one call, reading every event at once; resolves with the events (as text) and the status. */
function runCall(
  sessions: NodeH2Sessions,
  address: string,
  request: string,
  deadlineMs = 5000,
): Promise<Outcome> {
  return new Promise((resolve) => {
    const events: string[] = [];
    const call: NodeH2Submit = new NodeH2Submit(
      sessions,
      address,
      Buffer.from(request),
      Date.now() + deadlineMs,
      {
        onEvent: (bytes) => {
          events.push(bytes.toString());
          call.readNext();
        },
        onStatus: (code, details) => resolve({ events, code, details }),
      },
    );
  });
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(handler: Handler) {
  const node = await startH2Node(handler);
  const sessions = new NodeH2Sessions();
  cleanups.push(
    () => node.close(),
    () => sessions.closeAll(),
  );
  return { node, sessions };
}

const okTrailers = { "grpc-status": "0" };

describe("NodeH2Submit", () => {
  it("sends the request as one gRPC frame with gRPC's headers, then relays events in order and OK", async () => {
    let seen: { headers: http2.IncomingHttpHeaders; body: Buffer } | undefined;
    const { node, sessions } = await setup((stream, headers, body) => {
      seen = { headers, body };
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers(okTrailers));
      // Two messages in one chunk, one split across two chunks.
      stream.write(Buffer.concat([frame(Buffer.from("started")), frame(Buffer.from("token"))]));
      const last = frame(Buffer.from("finished"));
      stream.write(last.subarray(0, 3));
      setTimeout(() => stream.end(last.subarray(3)), 10);
    });
    const out = await runCall(sessions, node.address, "the request");
    expect(out).toEqual({ events: ["started", "token", "finished"], code: grpc.status.OK, details: "" });
    expect(seen!.headers[":path"]).toBe(NODE_SUBMIT_PATH);
    expect(seen!.headers["content-type"]).toBe("application/grpc");
    expect(seen!.headers.te).toBe("trailers");
    expect(seen!.headers["grpc-timeout"]).toMatch(/^\d{1,8}m$/);
    expect(seen!.body).toEqual(frame(Buffer.from("the request")));
  });

  it("an event spanning many DATA frames arrives whole", async () => {
    const big = Buffer.alloc(200_000, "x");
    const { node, sessions } = await setup((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers(okTrailers));
      stream.end(frame(big));
    });
    const out = await runCall(sessions, node.address, "r");
    expect(out.code).toBe(grpc.status.OK);
    expect(out.events).toEqual([big.toString()]);
  });

  it("holds the OK status until every event before it was read, one event per readNext()", async () => {
    const { node, sessions } = await setup((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers(okTrailers));
      // Separate DATA frames: while the call is paused, later ones wait in the stream and the
      // trailers overtake them.
      stream.write(frame(Buffer.from("a")));
      setTimeout(() => stream.write(frame(Buffer.from("b"))), 20);
      setTimeout(() => stream.end(frame(Buffer.from("c"))), 40);
    });
    const events: string[] = [];
    let status: grpc.status | undefined;
    const call = new NodeH2Submit(sessions, node.address, Buffer.from("r"), Date.now() + 5000, {
      onEvent: (bytes) => events.push(bytes.toString()),
      onStatus: (code) => (status = code),
    });
    await new Promise((r) => setTimeout(r, 200)); // the whole response has arrived by now
    expect(events).toEqual(["a"]);
    expect(status).toBeUndefined();
    call.readNext();
    expect(events).toEqual(["a", "b"]);
    expect(status).toBeUndefined();
    call.readNext();
    await new Promise((r) => setTimeout(r, 50)); // "c" was still in the paused stream
    // The status follows the last event at once (as grpc-js delivers it).
    expect(events).toEqual(["a", "b", "c"]);
    expect(status).toBe(grpc.status.OK);
  });

  it("an error status in trailers ends the call with its code and decoded message", async () => {
    const { node, sessions } = await setup((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () =>
        stream.sendTrailers({ "grpc-status": "14", "grpc-message": encodeURI("engine gone: 100% down") }),
      );
      stream.end(frame(Buffer.from("started")));
    });
    const out = await runCall(sessions, node.address, "r");
    expect(out).toEqual({
      events: ["started"],
      code: grpc.status.UNAVAILABLE,
      details: "engine gone: 100% down",
    });
  });

  it("a trailers-only response (status with the headers) ends the call with that status", async () => {
    const { node, sessions } = await setup((stream) =>
      stream.respond(
        { ":status": 200, "content-type": "application/grpc", "grpc-status": "12", "grpc-message": "nope" },
        { endStream: true },
      ),
    );
    expect(await runCall(sessions, node.address, "r")).toEqual({
      events: [],
      code: grpc.status.UNIMPLEMENTED,
      details: "nope",
    });
  });

  it("an HTTP error without a gRPC status is mapped as gRPC maps it (503 -> UNAVAILABLE)", async () => {
    const { node, sessions } = await setup((stream) =>
      stream.respond({ ":status": 503 }, { endStream: true }),
    );
    const out = await runCall(sessions, node.address, "r");
    expect(out.code).toBe(grpc.status.UNAVAILABLE);
  });

  it("a node that resets the stream -> CANCELLED; that refuses it -> UNAVAILABLE", async () => {
    const { node, sessions } = await setup((stream, headers, body) =>
      stream.close(
        body.includes("refuse") ? http2.constants.NGHTTP2_REFUSED_STREAM : http2.constants.NGHTTP2_CANCEL,
      ),
    );
    expect((await runCall(sessions, node.address, "cancel")).code).toBe(grpc.status.CANCELLED);
    expect((await runCall(sessions, node.address, "refuse")).code).toBe(grpc.status.UNAVAILABLE);
  });

  it("nothing listening -> UNAVAILABLE at once; the next call dials again", async () => {
    const { node, sessions } = await setup((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers(okTrailers));
      stream.end(frame(Buffer.from("ok")));
    });
    const dead = await startH2Node(() => undefined);
    await dead.close();
    const t0 = Date.now();
    const out = await runCall(sessions, dead.address, "r");
    expect(out.code).toBe(grpc.status.UNAVAILABLE);
    expect(out.details).toMatch(/ECONNREFUSED/);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((await runCall(sessions, node.address, "r")).code).toBe(grpc.status.OK);
  });

  it("the node's connection drops mid-stream -> UNAVAILABLE after the events already received", async () => {
    const { node, sessions } = await setup((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      stream.write(frame(Buffer.from("started")));
      setTimeout(() => stream.session?.destroy(), 50);
    });
    const out = await runCall(sessions, node.address, "r");
    expect(out.events).toEqual(["started"]);
    expect(out.code).toBe(grpc.status.UNAVAILABLE);
  });

  it("a peer that accepts the connection but never speaks HTTP/2 -> UNAVAILABLE once keepalive gives up", async () => {
    const silent = net.createServer(() => undefined); // accepts, never answers
    const sockets = new Set<net.Socket>();
    silent.on("connection", (s) => sockets.add(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          silent.close(() => resolve());
        }),
    );
    const sessions = new NodeH2Sessions({
      connectTimeoutMs: 5000,
      keepaliveMs: 100,
      keepaliveTimeoutMs: 100,
    });
    cleanups.push(() => sessions.closeAll());
    const t0 = Date.now();
    const out = await runCall(sessions, `127.0.0.1:${(silent.address() as AddressInfo).port}`, "r", 10_000);
    expect(out.code).toBe(grpc.status.UNAVAILABLE);
    expect(out.details).toMatch(/keepalive/);
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it("deadline passes before the node answers -> DEADLINE_EXCEEDED and the node's stream is reset", async () => {
    let reset: Promise<number> | undefined;
    const { node, sessions } = await setup((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      reset = new Promise((resolve) => stream.on("close", () => resolve(stream.rstCode)));
    });
    const out = await runCall(sessions, node.address, "r", 150);
    expect(out.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(await reset).toBe(http2.constants.NGHTTP2_CANCEL);
  });

  it("cancel() resets the node's stream and reports nothing afterwards", async () => {
    let reset: Promise<number> | undefined;
    const { node, sessions } = await setup((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      stream.write(frame(Buffer.from("started")));
      reset = new Promise((resolve) => stream.on("close", () => resolve(stream.rstCode)));
    });
    const reports: string[] = [];
    const call: NodeH2Submit = new NodeH2Submit(sessions, node.address, Buffer.from("r"), Date.now() + 5000, {
      onEvent: () => {
        reports.push("event");
        call.cancel("client cancelled");
      },
      onStatus: (code) => reports.push(`status ${code}`),
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(await reset).toBe(http2.constants.NGHTTP2_CANCEL);
    await new Promise((r) => setTimeout(r, 50));
    expect(reports).toEqual(["event"]);
  });

  it("a compressed frame ends the call with an error instead of being relayed", async () => {
    const { node, sessions } = await setup((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      const f = frame(Buffer.from("zipped"));
      f[0] = 1;
      stream.write(f);
    });
    const out = await runCall(sessions, node.address, "r");
    expect(out.events).toEqual([]);
    expect(out.code).toBe(grpc.status.INTERNAL);
  });

  it("a frame announcing more than 64 MiB -> RESOURCE_EXHAUSTED before its body arrives", async () => {
    const { node, sessions } = await setup((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" });
      const head = Buffer.alloc(5);
      head.writeUInt32BE(64 * 1024 * 1024 + 1, 1);
      stream.write(head);
    });
    const out = await runCall(sessions, node.address, "r");
    expect(out.events).toEqual([]);
    expect(out.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });

  it("a body that ends inside a message -> INTERNAL, even with an OK status after it", async () => {
    const { node, sessions } = await setup((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers(okTrailers));
      stream.end(
        Buffer.concat([frame(Buffer.from("whole")), frame(Buffer.from("cut short")).subarray(0, 8)]),
      );
    });
    const out = await runCall(sessions, node.address, "r");
    expect(out.events).toEqual(["whole"]);
    expect(out.code).toBe(grpc.status.INTERNAL);
    expect(out.details).toMatch(/ended inside a message/);
  });

  it.each(["abc", "99", "-1", ""])("grpc-status %j -> UNKNOWN", async (status) => {
    const { node, sessions } = await setup((stream) =>
      stream.respond(
        { ":status": 200, "content-type": "application/grpc", "grpc-status": status },
        { endStream: true },
      ),
    );
    expect((await runCall(sessions, node.address, "r")).code).toBe(grpc.status.UNKNOWN);
  });

  it("a connection that has opened its share of streams is retired: later calls go out on a new one", async () => {
    const node = await startH2Node((stream) => {
      stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers(okTrailers));
      stream.end(frame(Buffer.from("ok")));
    });
    const sessions = new NodeH2Sessions(undefined, 2);
    cleanups.push(
      () => node.close(),
      () => sessions.closeAll(),
    );
    for (let i = 0; i < 5; i++)
      expect((await runCall(sessions, node.address, "r")).code).toBe(grpc.status.OK);
    expect(node.connections()).toBe(3);
  });

  it("accepts host:port and [v6]:port, nothing with a scheme or a path", () => {
    expect(isPlainHostPort("127.0.0.1:50061")).toBe(true);
    expect(isPlainHostPort("node-1.cluster.local:50061")).toBe(true);
    expect(isPlainHostPort("[::1]:50061")).toBe(true);
    expect(isPlainHostPort("dns:///node-1:50061")).toBe(false);
    expect(isPlainHostPort("unix:/tmp/node.sock")).toBe(false);
    expect(isPlainHostPort("node-1")).toBe(false);
  });
});
