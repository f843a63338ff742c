/**
 * Incremental Server-Sent-Events parser: feed it decoded text chunks as they arrive; it returns
 * the `data:` payloads of every event completed so far (multi-line data joined with "\n").
 * Comments (":") and other fields (event, id, retry) are ignored: OpenAI streams only use data.
 */
export class SseParser {
  private buffer = "";
  private dataLines: string[] = [];

  push(chunk: string): string[] {
    this.buffer += chunk;
    const events: string[] = [];
    let nl: number;
    while ((nl = this.buffer.indexOf("\n")) >= 0) {
      let line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      this.takeLine(line, events);
    }
    return events;
  }

  /** End of stream: a final event without its blank line still counts. */
  end(): string[] {
    const events: string[] = [];
    if (this.buffer.length > 0) this.takeLine(this.buffer, events);
    this.buffer = "";
    this.takeLine("", events);
    return events;
  }

  private takeLine(line: string, events: string[]): void {
    if (line === "") {
      if (this.dataLines.length > 0) events.push(this.dataLines.join("\n"));
      this.dataLines = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.dataLines.push(value);
  }
}
