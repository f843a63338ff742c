import { describe, expect, it } from "vitest";
import { streamPieces } from "./openai-stream";

describe("streamPieces", () => {
  it.each([
    ["content only", { delta: { content: "hi" } }, true, [{ text: "hi", reasoning: false }]],
    ["reasoning_content", { delta: { reasoning_content: "hmm" } }, true, [{ text: "hmm", reasoning: true }]],
    ["newer reasoning field", { delta: { reasoning: "so" } }, true, [{ text: "so", reasoning: true }]],
    [
      "both in one chunk -> reasoning first, content kept",
      { delta: { reasoning_content: "ok.", content: "Yes" } },
      true,
      [
        { text: "ok.", reasoning: true },
        { text: "Yes", reasoning: false },
      ],
    ],
    ["role-only first chunk", { delta: { content: "" } }, true, []],
    ["completions text", { text: "abc" }, false, [{ text: "abc", reasoning: false }]],
  ])("%s", (_name, choice, chat, want) => {
    expect(streamPieces(choice, chat)).toEqual(want);
  });
});
