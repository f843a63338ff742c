/** Longest SSE line accepted by default, in UTF-16 code units (about 1 MiB of ASCII). */
export const MAX_SSE_LINE_CHARS = 1 << 20;

/** A server sent a line (or one event's data) longer than the cap: the stream is malformed or hostile. */
export class SseLineTooLongError extends Error {
  constructor(
    readonly maxLineChars: number,
    what = "line longer than",
  ) {
    super(`server-sent-events ${what} ${maxLineChars} characters`);
    this.name = "SseLineTooLongError";
  }
}

/**
 * Splits a text stream into lines ("\n" or "\r\n") in time linear in its length: each chunk is
 * searched once, and a partial line is kept as pieces that are joined once, when its newline
 * arrives (re-scanning one growing buffer per chunk is quadratic in the line length). A line over
 * `maxLineChars` throws SseLineTooLongError as soon as it is known to be too long, so memory
 * stays bounded too. Shared by the node's engine adapter and workloadgen's HTTP target.
 */
export class LineSplitter {
  private pending: string[] = [];
  private pendingChars = 0;

  constructor(private readonly maxLineChars = MAX_SSE_LINE_CHARS) {}

  /** Calls `onLine` for every line `chunk` completes (without its line ending). */
  push(chunk: string, onLine: (line: string) => void): void {
    let start = 0;
    let nl: number;
    while ((nl = chunk.indexOf("\n", start)) >= 0) {
      let line = chunk.slice(start, nl);
      if (this.pending.length > 0) {
        if (this.pendingChars + line.length > this.maxLineChars)
          throw new SseLineTooLongError(this.maxLineChars);
        this.pending.push(line);
        line = this.pending.join("");
        this.pending = [];
        this.pendingChars = 0;
      } else if (line.length > this.maxLineChars) throw new SseLineTooLongError(this.maxLineChars);
      start = nl + 1;
      onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
    }
    if (start < chunk.length) {
      const rest = start === 0 ? chunk : chunk.slice(start);
      this.pendingChars += rest.length;
      if (this.pendingChars > this.maxLineChars) throw new SseLineTooLongError(this.maxLineChars);
      this.pending.push(rest);
    }
  }

  /** End of stream: the unterminated last line ("" if none). */
  end(): string {
    const line = this.pending.join("");
    this.pending = [];
    this.pendingChars = 0;
    return line.endsWith("\r") ? line.slice(0, -1) : line;
  }
}

/**
 * Why a streaming response cannot be read as server-sent events, or undefined when its
 * `content-type` is `text/event-stream` (parameters such as charset allowed). `who` names the
 * server in the message ("engine", "server").
 */
export function notAnEventStream(contentType: unknown, who: string, status = 200): string | undefined {
  if (contentType === "text/event-stream") return undefined; // the usual value, as is
  const value = Array.isArray(contentType) ? (contentType[0] as unknown) : contentType;
  const type = typeof value === "string" ? value.split(";")[0]!.trim().toLowerCase() : "";
  if (type === "text/event-stream") return undefined;
  return `${who} answered ${status} with content-type ${type || "(none)"}, expected text/event-stream`;
}
