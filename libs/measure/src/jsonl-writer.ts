import { closeSync, openSync, writeSync } from "node:fs";

/** Bytes kept free beyond `maxBytes` so that most lines are encoded in place. */
const LINE_ROOM = 64 * 1024;

/**
 * Appends lines to a file in batches with synchronous writes: cheap at thousands of lines per
 * second (one write per batch), and nothing is lost on a crash, because the buffer is also
 * flushed from the process's `exit` event (which `process.exit` after an error still runs),
 * unlike a WriteStream whose queued writes die with the process. At most `flushMs` of lines
 * can be lost only if the process is killed outright (SIGKILL).
 *
 * Memory is bounded: at most `maxBytes` wait in the buffer, and a write that reaches it flushes
 * at once, synchronously, so a disk slower than the run holds the writer back (back-pressure)
 * instead of letting lines pile up in memory. SIGINT/SIGTERM: the live run closes the writer
 * after the grace period (every finished request is on disk before summary.json is written).
 */
export class JsonlWriter {
  private readonly fd: number;
  /** Lines queued since the last flush, UTF-8 encoded, in `buffer[0, used)`. */
  private readonly buffer: Buffer;
  private used = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly onExit = () => this.flush();
  private closed = false;
  private readonly maxBytes: number;

  // Plain fields, no parameter properties: the crash test runs this file with Node's type stripping.
  constructor(path: string, flushMs = 200, maxBytes = 1 << 20) {
    this.maxBytes = maxBytes;
    // Room for a full buffer plus one more line of up to LINE_ROOM bytes.
    this.buffer = Buffer.allocUnsafe(maxBytes + LINE_ROOM);
    this.fd = openSync(path, "w");
    this.timer = setInterval(() => this.flush(), flushMs);
    this.timer.unref();
    process.on("exit", this.onExit);
  }

  /**
   * Queues one line, `line + tail` (a newline is added), encoded straight into the buffer: a
   * line built in two parts (a record's JSON without its closing brace, then what ends it) is
   * never joined into one string first.
   */
  write(line: string, tail = ""): void {
    if (this.closed) throw new Error("JsonlWriter: write after close");
    // Each line is encoded straight into the buffer (no list of strings joined, then encoded, per
    // flush). UTF-8 takes at most 3 bytes per UTF-16 unit: a line that might not fit goes alone.
    const chars = line.length + tail.length;
    if (3 * chars + 1 > this.buffer.length - this.used) {
      this.flush();
      if (3 * chars + 1 > this.buffer.length) {
        this.writeAll(Buffer.from(line + tail + "\n"));
        return;
      }
    }
    this.used += this.buffer.write(line, this.used);
    if (tail.length > 0) this.used += this.buffer.write(tail, this.used);
    this.buffer[this.used++] = 0x0a;
    if (this.used >= this.maxBytes) this.flush();
  }

  /**
   * Queues one line that `encode` writes straight into the buffer as UTF-8 from `at` (returning
   * its end; a newline is added): no string is made. At least LINE_ROOM bytes are free from
   * `at`. When `encode` returns -1 nothing is queued and this returns false.
   */
  writeEncoded<T>(value: T, encode: (value: T, out: Buffer, at: number) => number): boolean {
    if (this.closed) throw new Error("JsonlWriter: write after close");
    // Every write flushes once `used` reaches maxBytes: LINE_ROOM bytes or more are free here.
    const end = encode(value, this.buffer, this.used);
    if (end < 0) return false;
    this.used = end;
    this.buffer[this.used++] = 0x0a;
    if (this.used >= this.maxBytes) this.flush();
    return true;
  }

  /** Writes everything queued so far. */
  flush(): void {
    if (this.used === 0 || this.closed) return;
    const bytes = this.buffer.subarray(0, this.used);
    this.used = 0;
    this.writeAll(bytes);
  }

  private writeAll(bytes: Buffer): void {
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
