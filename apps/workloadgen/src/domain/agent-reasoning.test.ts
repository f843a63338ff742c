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

  it.each<[string, [string, number][], boolean[]]>([
    [
      "plain answer",
      [
        ["Hel", 1],
        ["lo", 1],
        [" x", 1],
      ],
      [true, true, true],
    ],
    [
      "whitespace then answer",
      [
        [" ", 1],
        ["\n", 1],
        ["Hi", 1],
      ],
      [false, false, true],
    ],
    [
      "held '<' then not a tag",
      [
        ["<", 1],
        ["b>", 1],
        ["x", 1],
      ],
      [false, true, true],
    ],
    [
      "think block, then answer",
      [
        ["<think>", 3],
        ["r", 1],
        ["</think>", 3],
        ["a", 1],
      ],
      [false, false, true, true],
    ],
    [
      "closing tag split",
      [
        ["<think>r</th", 4],
        ["ink>", 2],
        ["a", 1],
      ],
      [false, true, true],
    ],
  ])("%s -> passthrough after each chunk", (_n, chunks, expected) => {
    const s = new ThinkTagSplitter();
    expect(s.passthrough).toBe(false);
    expect(chunks.map(([t, n]) => (s.push(t, n), s.passthrough))).toEqual(expected);
  });

  it.each<[string, boolean, string[], string]>([
    ["fresh, a word", true, [], "Hi"],
    ["fresh, whitespace then a word", true, [], " \n Hi"],
    ["fresh, whitespace only", false, [], "  "],
    ["fresh, nothing", false, [], ""],
    ["fresh, a think tag's start", false, [], " <thi"],
    ["fresh, a think tag", false, [], "<think>"],
    ["fresh, a tag that is not <think>", true, [], "<thin>"],
    ["inside a think block", false, ["<think> a"], "b"],
    ["undecided after a chunk", false, ["<th"], "x"],
    ["past a closed think block", true, ["<think>a</think>"], " "],
  ])("allContentFrom, %s -> %s", (_name, want, before, head) => {
    const s = new ThinkTagSplitter();
    for (const c of before) s.push(c, 1);
    expect(s.allContentFrom(head)).toBe(want);
  });

  it("random chunkings -> every push equals the splitter without its passthrough shortcut", () => {
    const texts = [
      "  <think>why\nso</think>\nThe answer",
      "Plain <think> not at start",
      "<thin",
      "<think>open",
      "<think></think>",
      " \n<x>",
    ];
    let x = 7;
    const rnd = (n: number) => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) % n) + 1;
    for (const text of texts) {
      for (let trial = 0; trial < 30; trial++) {
        const fast = new ThinkTagSplitter();
        const reference = new ReferenceSplitter();
        for (let i = 0; i < text.length;) {
          const chunk = text.slice(i, i + rnd(5));
          i += chunk.length;
          const count = rnd(3);
          expect(fast.push(chunk, count)).toEqual(reference.push(chunk, count));
        }
      }
    }
  });
});

/** ThinkTagSplitter as it was before the passthrough shortcut (re-scans the whole text every push). */
class ReferenceSplitter {
  private raw = "";
  private reasoningEnd = Infinity;
  private decided = false;
  private contentEmitted = 0;

  push(text: string, tokenCount: number) {
    const from = this.raw.length;
    this.raw += text;
    if (!this.decided) {
      const lead = this.raw.trimStart();
      if (lead.length >= 7) {
        this.decided = true;
        if (!lead.startsWith("<think>")) this.reasoningEnd = 0;
      } else if (!"<think>".startsWith(lead)) {
        this.decided = true;
        this.reasoningEnd = 0;
      }
    }
    if (this.decided && this.reasoningEnd === Infinity) {
      const close = this.raw.indexOf("</think>");
      if (close >= 0) this.reasoningEnd = close + 8;
    }
    const to = this.raw.length;
    const inReasoning = Math.max(0, Math.min(to, this.reasoningEnd) - from);
    const content = this.raw.slice(Math.max(this.contentEmitted, Math.min(to, this.reasoningEnd)), to);
    if (content.length > 0) this.contentEmitted = to;
    const share = text.length === 0 ? 0 : inReasoning / text.length;
    const reasoningTokens = Math.round(tokenCount * share);
    return { reasoningTokens, contentTokens: tokenCount - reasoningTokens, content };
  }
}
