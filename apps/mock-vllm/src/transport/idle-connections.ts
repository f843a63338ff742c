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
  const timers = new WeakMap<Socket, NodeJS.Timeout>();
  const arm = (socket: Socket) => {
    clearTimeout(timers.get(socket));
    const timer = setTimeout(() => socket.end(), idleMs);
    timer.unref();
    timers.set(socket, timer);
  };
  server.on("connection", arm);
  server.on("request", (req, res) => {
    const socket = req.socket;
    clearTimeout(timers.get(socket));
    res.once("finish", () => {
      if (!socket.destroyed) arm(socket);
    });
  });
}
