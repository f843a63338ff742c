import { SseLineTooLongError } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { SseParser } from "./sse";

describe("SseParser", () => {
  it.each([
    ["one event", ["data: a\n\n"], ["a"]],
    ["event split across chunks", ["da", "ta: hel", "lo\n", "\n"], ["hello"]],
    ["CRLF line endings", ["data: x\r\n\r\ndata: y\r\n\r\n"], ["x", "y"]],
    ["multi-line data joined", ["data: 1\ndata: 2\n\n"], ["1\n2"]],
    ["comments and other fields ignored", [": ping\nevent: e\nid: 3\ndata: z\n\n"], ["z"]],
    ["no space after the colon", ["data:[DONE]\n\n"], ["[DONE]"]],
  ])("%s -> data payloads in order", (_name, chunks, expected) => {
    const p = new SseParser();
    expect([...chunks.flatMap((c) => p.push(c)), ...p.end()]).toEqual(expected);
  });

  it("stream ends without the final blank line -> last event still delivered", () => {
    const p = new SseParser();
    expect(p.push("data: last")).toEqual([]);
    expect(p.end()).toEqual(["last"]);
  });

  it.each([
    ["one line over the cap", ["data: " + "x".repeat(20), "\n\n"], /line longer than 16 characters/],
    [
      "an event's data lines over the cap",
      ["data: 12345\ndata: 12345\ndata: 12345\n"],
      /event with data longer than 16/,
    ],
  ])("%s -> SseLineTooLongError", (_name, chunks, message) => {
    const p = new SseParser(16);
    const run = () => chunks.forEach((c) => p.push(c));
    expect(run).toThrow(SseLineTooLongError);
    expect(() => new SseParser(16).push(chunks.join(""))).toThrow(message);
  });
});
