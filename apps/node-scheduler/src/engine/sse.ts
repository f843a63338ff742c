import { LineSplitter, MAX_SSE_LINE_CHARS, SseLineTooLongError } from "@symphony/common";

/**
 * Incremental Server-Sent-Events parser: feed it decoded text chunks as they arrive; it returns
 * the `data:` payloads of every event completed so far (multi-line data joined with "\n").
 * Comments (":") and other fields (event, id, retry) are ignored: OpenAI streams only use data.
 * Linear in the input; a line over `maxLineChars` throws SseLineTooLongError (see LineSplitter).
 */
export class SseParser {
  private readonly lines: LineSplitter;
  private dataLines: string[] = [];
  private dataChars = 0;

  constructor(private readonly maxLineChars = MAX_SSE_LINE_CHARS) {
    this.lines = new LineSplitter(maxLineChars);
  }

  push(chunk: string): string[] {
    const events: string[] = [];
    this.lines.push(chunk, (line) => this.takeLine(line, events));
    return events;
  }

  /** End of stream: a final event without its blank line still counts. */
  end(): string[] {
    const events: string[] = [];
    const last = this.lines.end();
    if (last.length > 0) this.takeLine(last, events);
    this.takeLine("", events);
    return events;
  }

  private takeLine(line: string, events: string[]): void {
    if (line === "") {
      if (this.dataLines.length > 0) events.push(this.dataLines.join("\n"));
      this.dataLines = [];
      this.dataChars = 0;
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field !== "data") return;
    // Many data lines without the blank line that ends the event would grow without bound too.
    this.dataChars += value.length + 1;
    if (this.dataChars > this.maxLineChars)
      throw new SseLineTooLongError(this.maxLineChars, "event with data longer than");
    this.dataLines.push(value);
  }
}
