import { describe, expect, it } from "vitest";
import { LineSplitter, notAnEventStream, SseLineTooLongError } from "./sse-lines";

function split(chunks: string[], max?: number): string[] {
  const s = new LineSplitter(max);
  const lines: string[] = [];
  for (const c of chunks) s.push(c, (l) => lines.push(l));
  const last = s.end();
  if (last) lines.push(last);
  return lines;
}

describe("LineSplitter", () => {
  it.each([
    ["lines in one chunk", ["a\nb\n"], ["a", "b"]],
    ["a line across chunks", ["da", "ta: x", "yz\n"], ["data: xyz"]],
    ["CRLF, CR at a chunk's end", ["a\r", "\nb\r\n"], ["a", "b"]],
    ["empty lines kept", ["\n\nx\n"], ["", "", "x"]],
    ["unterminated last line", ["x\ny"], ["x", "y"]],
  ])("%s -> lines", (_name, chunks, want) => {
    expect(split(chunks)).toEqual(want);
  });

  it.each([
    ["in one chunk", ["x".repeat(11) + "\n"]],
    ["grown over chunks", ["xxxx", "xxxx", "xxxx"]],
    ["completed by a chunk", ["xxxxxxxx", "xxxx\n"]],
  ])("a line over the cap (%s) -> SseLineTooLongError", (_name, chunks) => {
    expect(() => split(chunks, 10)).toThrow(SseLineTooLongError);
    expect(() => split(chunks, 10)).toThrow("server-sent-events line longer than 10 characters");
  });

  it("a line exactly at the cap -> accepted", () => {
    expect(split(["x".repeat(5), "x".repeat(5), "\n"], 10)).toEqual(["x".repeat(10)]);
  });

  it("a 24 MB line in 16 KiB chunks -> linear time (a re-scanned buffer takes minutes)", () => {
    const chunk = "y".repeat(16 * 1024);
    const s = new LineSplitter(32 << 20);
    const t0 = performance.now();
    let got = 0;
    for (let i = 0; i < 1536; i++) s.push(chunk, () => got++);
    s.push("\n", (l) => (got += l.length));
    expect(got).toBe(1536 * 16 * 1024);
    expect(performance.now() - t0).toBeLessThan(3000);
  });
});

describe("notAnEventStream", () => {
  it.each([
    ["text/event-stream", undefined],
    ["text/event-stream; charset=utf-8", undefined],
    ["Text/Event-Stream", undefined],
    [["text/event-stream"], undefined],
    [
      "application/json",
      "engine answered 200 with content-type application/json, expected text/event-stream",
    ],
    [undefined, "engine answered 200 with content-type (none), expected text/event-stream"],
  ])("%j -> %j", (header, want) => {
    expect(notAnEventStream(header, "engine")).toBe(want);
  });
});
