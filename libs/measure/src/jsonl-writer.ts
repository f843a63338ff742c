import { closeSync, openSync, writeSync } from "node:fs";

/**
 * Appends lines to a file in batches with synchronous writes: cheap at thousands of lines per
 * second (one write per batch), and nothing is lost on a crash, because the buffer is also
 * flushed from the process's `exit` event (which `process.exit` after an error still runs),
 * unlike a WriteStream whose queued writes die with the process. At most `flushMs` of lines
 * can be lost only if the process is killed outright (SIGKILL).
 *
 * Memory is bounded: at most `maxChars` wait in the buffer, and a write that reaches it flushes
 * at once, synchronously, so a disk slower than the run holds the writer back (back-pressure)
 * instead of letting lines pile up in memory. SIGINT/SIGTERM: the live run closes the writer
 * after the grace period (every finished request is on disk before summary.json is written).
 */
export class JsonlWriter {
  private readonly fd: number;
  private buffer: string[] = [];
  private chars = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly onExit = () => this.flush();
  private closed = false;
  private readonly maxChars: number;

  // Plain fields, no parameter properties: the crash test runs this file with Node's type stripping.
  constructor(path: string, flushMs = 200, maxChars = 1 << 20) {
    this.maxChars = maxChars;
    this.fd = openSync(path, "w");
    this.timer = setInterval(() => this.flush(), flushMs);
    this.timer.unref();
    process.on("exit", this.onExit);
  }

  /** Queues one line (a newline is added). */
  write(line: string): void {
    if (this.closed) throw new Error("JsonlWriter: write after close");
    this.buffer.push(line, "\n");
    this.chars += line.length + 1;
    if (this.chars >= this.maxChars) this.flush();
  }

  /** Writes everything queued so far. */
  flush(): void {
    if (this.buffer.length === 0 || this.closed) return;
    const text = this.buffer.join("");
    this.buffer = [];
    this.chars = 0;
    // Encoded once: writing the string would encode it, and counting its bytes scan it again.
    const bytes = Buffer.from(text);
    // A write may take only part of the bytes (a pipe, a nearly full disk): write the rest.
    for (let done = 0; done < bytes.length;) done += writeSync(this.fd, bytes, done, bytes.length - done);
  }

  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    clearInterval(this.timer);
    process.off("exit", this.onExit);
    closeSync(this.fd);
  }
}
