import { readFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createServer, type AddressInfo, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Http1Pool } from "./http1-pool";

/**
 * A raw TCP server that reads requests (head + content-length body) and answers each with
 * `answer(socket, requestIndexOnThisConnection, globalIndex)`: full control over the bytes and
 * over when the connection closes.
 */
async function rawServer(answer: (socket: Socket, onConnection: number, overall: number) => void) {
  const sockets: Socket[] = [];
  let overall = 0;
  const bodies: string[] = [];
  const server: Server = createServer((socket) => {
    sockets.push(socket);
    let buffered = Buffer.alloc(0);
    let onConnection = 0;
    socket.on("error", () => {});
    socket.on("data", (d) => {
      buffered = Buffer.concat([buffered, d]);
      for (;;) {
        const end = buffered.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString();
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        bodies.push(buffered.subarray(end + 4, end + 4 + length).toString());
        buffered = buffered.subarray(end + 4 + length);
        answer(socket, onConnection++, overall++);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: new URL(`http://127.0.0.1:${port}`),
    sockets,
    bodies,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const ok = (body: string, extra = "") =>
  `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n${extra}content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

interface Outcome {
  status?: number;
  body: string;
  error?: { code: string; message: string };
}

function send(pool: Http1Pool, body = "{}", idleTimeoutMs = 0) {
  let abort: () => void = () => {};
  const done = new Promise<Outcome>((resolve) => {
    const out: Outcome = { body: "" };
    const request = pool.request(
      `POST /x HTTP/1.1\r\nhost: h\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      {
        onHead: (s) => (out.status = s),
        onBody: (b) => (out.body += b.toString()),
        onComplete: () => resolve(out),
        onError: (code, message) => resolve({ ...out, error: { code, message } }),
      },
      idleTimeoutMs,
    );
    abort = () => request.abort();
  });
  return { done, abort: () => abort() };
}

describe("Http1Pool", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });
  const pool = (origin: URL, connections = 4, keepAliveMs = 60_000) => {
    const p = new Http1Pool(origin, { connections, keepAliveMs });
    cleanups.push(() => p.close());
    return p;
  };
  const server = async (answer: Parameters<typeof rawServer>[0]) => {
    const s = await rawServer(answer);
    cleanups.push(s.close);
    return s;
  };

  it("sequential requests reuse one keep-alive connection; the request body arrives whole", async () => {
    const s = await server((socket, _n, i) => socket.write(ok(`answer ${i}`)));
    const p = pool(s.origin);
    const big = "x".repeat(3 << 20); // larger than a socket buffer: written with backpressure
    for (let i = 0; i < 3; i++)
      expect(await send(p, i === 1 ? big : `{"i":${i}}`).done).toEqual({ status: 200, body: `answer ${i}` });
    expect(s.sockets.length).toBe(1);
    expect(s.bodies.map((b) => b.length)).toEqual([7, big.length, 7]);
  });

  it("more requests than connections -> queued, each answered, never more connections than allowed", async () => {
    const s = await server((socket, _n, i) => setTimeout(() => socket.write(ok(`a${i}`)), 5));
    const p = pool(s.origin, 2);
    const results = await Promise.all(Array.from({ length: 10 }, () => send(p).done));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    expect(new Set(results.map((r) => r.body)).size).toBe(10);
    expect(s.sockets.length).toBe(2);
  });

  it("the server closed an idle keep-alive connection -> the next request goes out on a fresh one; the closed one never carries it", async () => {
    const s = await server((socket, n) => {
      if (n > 0) throw new Error("a request was written on the connection the server had closed");
      socket.write(ok("first"));
      setTimeout(() => socket.end(), 10); // the server's idle timeout
    });
    const p = pool(s.origin, 1);
    expect((await send(p).done).body).toBe("first");
    await new Promise((r) => setTimeout(r, 50));
    expect(await send(p).done).toEqual({ status: 200, body: "first" }); // on connection 2
    expect(s.sockets.length).toBe(2);
    expect(s.bodies.length).toBe(2);
  });

  it("the server closed an idle connection while the event loop was blocked -> the request still goes out on a fresh one", async () => {
    const s = await server((socket, n) => {
      if (n > 0) throw new Error("a request was written on the connection the server had closed");
      socket.write(ok("first"));
    });
    const p = pool(s.origin, 1);
    expect((await send(p).done).body).toBe("first");
    const second = await new Promise<ReturnType<typeof send>>(
      (resolve) =>
        setTimeout(() => {
          // The server's idle close lands while the client is busy: its FIN is in the client's
          // socket, unread, when the next request is sent, and the loop gets to it only 1.5 s later.
          s.sockets[0]!.destroy();
          resolve(send(p));
          const until = performance.now() + 1500;
          while (performance.now() < until); // an event loop blocked by other work
        }, 1100), // idle long enough to be checked before reuse
    );
    expect(await second.done).toEqual({ status: 200, body: "first" }); // on connection 2
    expect(s.sockets.length).toBe(2);
  });

  it("a request moved off a connection the server had closed goes ahead of requests queued after it", async () => {
    const s = await server((socket, _n, i) => socket.write(ok(`answer ${i}`)));
    const p = pool(s.origin, 1);
    await send(p, "first").done;
    const [a, b] = await new Promise<ReturnType<typeof send>[]>((resolve) =>
      setTimeout(() => {
        s.sockets[0]!.destroy(); // the server's idle close, not yet seen by the client
        const sent = [send(p, "A"), send(p, "B")]; // A takes the idle connection, B queues (1 allowed)
        const until = performance.now() + 50;
        while (performance.now() < until); // the FIN arrives before the loop polls the socket
        resolve(sent);
      }, 1100),
    );
    expect((await a!.done).status).toBe(200);
    expect((await b!.done).status).toBe(200);
    expect(s.bodies).toEqual(["first", "A", "B"]);
  });

  it("a reused connection closed at once after the request went out, no byte back -> UND_ERR_SOCKET, not sent again", async () => {
    // The server read the request: it may be working on it, so a resend could generate twice.
    const s = await server((socket, n) => (n === 0 ? socket.write(ok("first")) : socket.destroy()));
    const p = pool(s.origin, 1);
    await send(p).done;
    const r = await send(p).done;
    expect(r.error).toEqual({ code: "UND_ERR_SOCKET", message: "other side closed" });
    expect(s.bodies.length).toBe(2);
    expect(s.sockets.length).toBe(1);
  });

  it("a reused connection closed long after the request went out -> UND_ERR_SOCKET, not sent again", async () => {
    // The server took the request and died working on it (a long prefill): a resend could
    // generate twice, so the turn fails as it does with undici.
    const s = await server((socket, n) =>
      n === 0 ? socket.write(ok("first")) : setTimeout(() => socket.destroy(), 2000),
    );
    const p = pool(s.origin, 1);
    await send(p).done;
    const r = await send(p).done;
    expect(r.error).toEqual({ code: "UND_ERR_SOCKET", message: "other side closed" });
    expect(s.sockets.length).toBe(1);
  });

  it("the server closes mid-body -> UND_ERR_SOCKET, not retried; the next request succeeds on a fresh connection", async () => {
    const s = await server((socket, _n, i) => {
      if (i === 0) {
        socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel");
        setTimeout(() => socket.end(), 5);
      } else socket.write(ok("fine"));
    });
    const p = pool(s.origin, 1);
    const first = await send(p).done;
    expect(first).toEqual({
      status: 200,
      body: "hel",
      error: { code: "UND_ERR_SOCKET", message: "other side closed" },
    });
    expect(await send(p).done).toEqual({ status: 200, body: "fine" });
    expect(s.sockets.length).toBe(2);
  });

  it("the server resets mid-body -> ECONNRESET or UND_ERR_SOCKET; the next request succeeds", async () => {
    const s = await server((socket, _n, i) => {
      if (i === 0) {
        socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel");
        setTimeout(() => socket.resetAndDestroy(), 5);
      } else socket.write(ok("fine"));
    });
    const p = pool(s.origin, 1);
    const first = await send(p).done;
    expect(["ECONNRESET", "UND_ERR_SOCKET"]).toContain(first.error?.code);
    expect(await send(p).done).toEqual({ status: 200, body: "fine" });
  });

  it("a body that runs to the close (no length, not chunked) -> complete, connection not reused", async () => {
    const s = await server((socket) => socket.end("HTTP/1.1 200 OK\r\n\r\nuntil the end"));
    const p = pool(s.origin, 1);
    expect(await send(p).done).toEqual({ status: 200, body: "until the end" });
    expect(await send(p).done).toEqual({ status: 200, body: "until the end" });
    expect(s.sockets.length).toBe(2);
  });

  it("connection: close -> a new connection for the next request", async () => {
    const s = await server((socket) => socket.write(ok("bye", "connection: close\r\n")));
    const p = pool(s.origin, 1);
    await send(p).done;
    await send(p).done;
    expect(s.sockets.length).toBe(2);
  });

  it("a keep-alive timeout hint -> a connection idle past it is not reused", async () => {
    const s = await server((socket) => socket.write(ok("hi", "keep-alive: timeout=1\r\n")));
    // timeout=1 s minus 1 s of margin: reuse only if idle under 0 ms, i.e. never.
    const p = pool(s.origin, 1);
    await send(p).done;
    await send(p).done;
    expect(s.sockets.length).toBe(2);
  });

  it("silence after the head -> IDLE_TIMEOUT after the idle timeout", async () => {
    const s = await server((socket) =>
      socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n"),
    );
    const p = pool(s.origin, 1);
    const t0 = performance.now();
    const r = await send(p, "{}", 150).done;
    expect(r.error?.code).toBe("IDLE_TIMEOUT");
    expect(r.body).toBe("a");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it("a reused connection -> its idle timeout counts from this request's send, and idling past it in the pool fails nothing", async () => {
    const s = await server((socket, n) =>
      n < 2
        ? socket.write(ok("hi"))
        : socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n"),
    );
    const p = pool(s.origin, 1);
    expect((await send(p, "{}", 100).done).body).toBe("hi");
    // Idle in the pool for longer than the idle timeout: the connection is neither failed nor closed.
    await new Promise((r) => setTimeout(r, 250));
    expect((await send(p, "{}", 100).done).body).toBe("hi");
    // Idle past the timeout again (its timer fires with no request), then a request with the very
    // same timeout: the timer already set must be armed anew by the send.
    await new Promise((r) => setTimeout(r, 250));
    const t0 = performance.now();
    const r = await send(p, "{}", 100).done;
    expect(r.error?.code).toBe("IDLE_TIMEOUT");
    expect(performance.now() - t0).toBeGreaterThanOrEqual(90);
    expect(s.sockets.length).toBe(1);
  });

  it("abort mid-stream -> no more callbacks, the server sees the connection close, the pool goes on", async () => {
    let closed = false;
    const s = await server((socket, _n, i) => {
      if (i === 0) {
        socket.on("close", () => (closed = true));
        socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\na\r\n");
      } else socket.write(ok("next"));
    });
    const p = pool(s.origin, 1);
    const events: string[] = [];
    const request = p.request("POST /x HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n", {
      onHead: () => events.push("head"),
      onBody: () => {
        events.push("body");
        request.abort();
      },
      onComplete: () => events.push("complete"),
      onError: (code) => events.push(code),
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual(["head", "body"]);
    expect(closed).toBe(true);
    expect(await send(p).done).toEqual({ status: 200, body: "next" });
  });

  it("an aborted queued request is never sent", async () => {
    const s = await server((socket, _n, i) => setTimeout(() => socket.write(ok(`a${i}`)), 20));
    const p = pool(s.origin, 1);
    const first = send(p);
    const second = send(p);
    const third = send(p);
    second.abort();
    expect((await first.done).body).toBe("a0");
    expect((await third.done).body).toBe("a1");
    expect(s.bodies.length).toBe(2);
  });

  it("garbage instead of HTTP -> BAD_RESPONSE", async () => {
    const s = await server((socket) => socket.write("SSH-2.0-OpenSSH\r\n\r\n"));
    const r = await send(pool(s.origin, 1)).done;
    expect(r.error?.code).toBe("BAD_RESPONSE");
    expect(r.error?.message).toMatch(/^invalid HTTP response: bad status line/);
  });

  it("nothing listening -> ECONNREFUSED with Node's message", async () => {
    const s = await server(() => {});
    const origin = s.origin;
    await s.close();
    const r = await send(pool(origin, 1)).done;
    expect(r.error?.code).toBe("ECONNREFUSED");
    expect(r.error?.message).toMatch(/ECONNREFUSED 127\.0\.0\.1:\d+/);
  });

  it("https:// origin -> the same exchange over TLS (chunked, keep-alive reused)", async () => {
    // The scheduler's test-only certificates (CN localhost, SAN 127.0.0.1).
    const fixtures = join(__dirname, "../../../scheduler/test/fixtures/tls");
    const server = createHttpsServer(
      { cert: readFileSync(join(fixtures, "server.pem")), key: readFileSync(join(fixtures, "server.key")) },
      (req, res) => {
        req.resume();
        req.on("end", () => {
          res.writeHead(200, { "content-type": "text/event-stream" });
          res.write("data: one\n\n");
          res.end("data: [DONE]\n\n");
        });
      },
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    let connections = 0;
    server.on("secureConnection", () => connections++);
    const p = new Http1Pool(new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`), {
      connections: 1,
      keepAliveMs: 60_000,
      ca: readFileSync(join(fixtures, "ca.pem")),
    });
    cleanups.push(() => p.close());
    for (let i = 0; i < 2; i++)
      expect(await send(p).done).toEqual({ status: 200, body: "data: one\n\ndata: [DONE]\n\n" });
    expect(connections).toBe(1);
  });

  it("https:// to a server that never answers the TLS handshake -> UND_ERR_CONNECT_TIMEOUT after the connect timeout", async () => {
    const s = await server(() => {}); // accepts TCP, says nothing
    const p = new Http1Pool(new URL(`https://127.0.0.1:${s.origin.port}`), {
      connections: 1,
      keepAliveMs: 60_000,
      connectTimeoutMs: 150,
    });
    cleanups.push(() => p.close());
    const t0 = performance.now();
    const r = await send(p).done;
    expect(r.error).toEqual({ code: "UND_ERR_CONNECT_TIMEOUT", message: "connect timeout after 150 ms" });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(p.size).toBe(0);
  });

  it("close() waits for a request in flight, then closes its connection", async () => {
    const s = await server((socket) => setTimeout(() => socket.write(ok("late")), 30));
    const p = new Http1Pool(s.origin, { connections: 1, keepAliveMs: 60_000 });
    const r = send(p).done;
    await new Promise((r) => setTimeout(r, 5));
    await p.close();
    expect((await r).body).toBe("late");
    expect(p.size).toBe(0);
  });
});
