import { describe, expect, it } from "vitest";
import { ThinkTagSplitter } from "./agent-reasoning";

function run(chunks: [string, number][]) {
  const s = new ThinkTagSplitter();
  const out = chunks.map(([t, n]) => s.push(t, n));
  return {
    reasoning: out.reduce((a, c) => a + c.reasoningTokens, 0),
    content: out.map((c) => c.content).join(""),
    firstContentChunk: out.findIndex((c) => c.content.trim().length > 0),
  };
}

describe("ThinkTagSplitter", () => {
  it.each<[string, [string, number][], number, string, number]>([
    [
      "no think block",
      [
        ["Hello", 1],
        [" world", 1],
      ],
      0,
      "Hello world",
      0,
    ],
    [
      "whole tags",
      [
        ["<think>", 3],
        [" a b", 2],
        ["</think>", 3],
        [" answer", 1],
      ],
      8,
      " answer",
      3,
    ],
    [
      "tags split across chunks",
      [
        ["<th", 2],
        ["ink> x", 2],
        [" y</", 2],
        ["think>", 2],
        ["ok", 1],
      ],
      8,
      "ok",
      4,
    ],
    [
      "leading whitespace before <think>",
      [
        ["\n<think>", 3],
        ["r", 1],
        ["</think>", 3],
        ["c", 1],
      ],
      7,
      "c",
      3,
    ],
    [
      "'<' that is not a think tag",
      [
        ["<", 1],
        ["b>bold", 2],
      ],
      1,
      "<b>bold",
      1,
    ],
    // 16 of 22 characters are reasoning: round(10 * 16/22) = 7 tokens
    ["think and answer in one chunk", [["<think>r</think>answer", 10]], 7, "answer", 0],
  ])("%s -> reasoning tokens, content, first content chunk", (_n, chunks, reasoning, content, first) => {
    const r = run(chunks);
    expect(r.reasoning).toBe(reasoning);
    expect(r.content).toBe(content);
    expect(r.firstContentChunk).toBe(first);
  });

  it("every chunk -> reasoning + content tokens = the chunk's count", () => {
    const s = new ThinkTagSplitter();
    for (const [t, n] of [
      ["<think>abc", 4],
      ["def</think>gh", 5],
      ["ij", 1],
    ] as const) {
      const r = s.push(t, n);
      expect(r.reasoningTokens + r.contentTokens).toBe(n);
    }
  });
});
