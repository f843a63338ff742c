import type { Server } from "node:http";
import type { Socket } from "node:net";

/**
 * Closes a connection once it has been idle `idleMs` between requests, as vLLM's uvicorn does with
 * `timeout_keep_alive`, and like uvicorn says nothing about it beforehand: Node's own keep-alive
 * timeout would add a `Keep-Alive: timeout=N` header, which lets clients avoid the close they
 * would meet against vLLM. A response in progress, however slow, is never cut off.
 */
export function closeIdleConnections(server: Server, idleMs: number): void {
  server.keepAliveTimeout = 0; // no header, no Node timer: the timers below decide
  const state = new WeakMap<Socket, { timer?: NodeJS.Timeout; inFlight: number }>();
  const stateOf = (socket: Socket) => {
    let s = state.get(socket);
    if (s === undefined) state.set(socket, (s = { inFlight: 0 }));
    return s;
  };
  const arm = (socket: Socket) => {
    const s = stateOf(socket);
    clearTimeout(s.timer);
    // Closed outright, as uvicorn's transport.close(): a request arriving meanwhile is not read.
    s.timer = setTimeout(() => socket.destroySoon(), idleMs);
    s.timer.unref();
  };
  server.on("connection", (socket: Socket) => {
    arm(socket);
    socket.once("close", () => clearTimeout(state.get(socket)?.timer));
  });
  server.on("request", (req, res) => {
    const socket = req.socket;
    const s = stateOf(socket);
    clearTimeout(s.timer);
    s.inFlight++;
    // Armed again only when no response on the connection is still going (pipelined requests).
    res.once("close", () => {
      s.inFlight--;
      if (s.inFlight === 0 && !socket.destroyed) arm(socket);
    });
  });
}
