import { createServer, type Server } from "node:http";
import { connect, type AddressInfo, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { closeIdleConnections } from "./idle-connections";

const IDLE_MS = 300;
let server: Server | undefined;
afterEach(() => new Promise<void>((r) => (server ? server.close(() => r()) : r())));

/** A server answering GET /slow after 3 idle periods (in pieces) and anything else at once. */
async function start(): Promise<number> {
  server = createServer((req, res) => {
    if (req.url !== "/slow") return res.end("ok");
    res.write("a");
    setTimeout(() => res.end("b"), 3 * IDLE_MS);
  });
  closeIdleConnections(server, IDLE_MS);
  await new Promise<void>((r) => server!.listen(0, "127.0.0.1", r));
  return (server!.address() as AddressInfo).port;
}

/** One raw keep-alive connection: everything it reads, and when the server closed it. */
function open(port: number) {
  const socket: Socket = connect(port, "127.0.0.1");
  const state = { text: "", closedAt: 0 };
  socket.on("data", (d) => (state.text += d.toString()));
  socket.on("end", () => (state.closedAt = performance.now()));
  const get = (path: string) => socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  return { socket, state, get };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("closeIdleConnections", () => {
  it("no Keep-Alive header; a connection idle that long after a response is closed", async () => {
    const c = open(await start());
    c.get("/");
    await sleep(IDLE_MS / 2);
    expect(c.state.text).toMatch(/^HTTP\/1\.1 200/);
    expect(c.state.text.toLowerCase()).not.toContain("keep-alive: timeout");
    const answeredAt = performance.now();
    await sleep(IDLE_MS * 2);
    expect(c.state.closedAt).toBeGreaterThan(answeredAt);
    c.socket.destroy();
  });

  it("a request inside the idle window reuses the connection; a slow response is never cut off", async () => {
    const c = open(await start());
    c.get("/");
    await sleep(IDLE_MS / 2);
    c.get("/slow"); // lasts 3 idle periods
    await sleep(IDLE_MS * 3.5);
    expect(c.state.closedAt).toBe(0);
    expect(c.state.text.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect(c.state.text).toMatch(/a\r\n[\s\S]*b\r\n/);
    c.socket.destroy();
  });

  it("a connection that never sends a request is closed too", async () => {
    const c = open(await start());
    await sleep(IDLE_MS * 2);
    expect(c.state.closedAt).toBeGreaterThan(0);
    c.socket.destroy();
  });
});
