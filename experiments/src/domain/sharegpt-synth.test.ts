import { countTokens } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { synthesizeChatDataset } from "./sharegpt-synth";

const shape = { conversations: 20, minTurns: 2, maxTurns: 5, meanPromptTokens: 60, meanReplyTokens: 120 };

describe("synthesizeChatDataset", () => {
  it("same shape and seed -> identical conversations; another seed -> different", () => {
    expect(synthesizeChatDataset(shape, 3)).toEqual(synthesizeChatDataset(shape, 3));
    expect(synthesizeChatDataset(shape, 4)).not.toEqual(synthesizeChatDataset(shape, 3));
  });

  it("every conversation -> alternating human/gpt pairs, turn count within [minTurns, maxTurns]", () => {
    for (const c of synthesizeChatDataset(shape, 1)) {
      const pairs = c.conversations.length / 2;
      expect(pairs).toBeGreaterThanOrEqual(shape.minTurns);
      expect(pairs).toBeLessThanOrEqual(shape.maxTurns);
      c.conversations.forEach((m, i) => expect(m.from).toBe(i % 2 === 0 ? "human" : "gpt"));
    }
  });

  it("reply lengths -> mean within 25% of meanReplyTokens (cl100k tokens)", () => {
    const replies = synthesizeChatDataset({ ...shape, conversations: 100 }, 2).flatMap((c) =>
      c.conversations.filter((m) => m.from === "gpt").map((m) => countTokens(m.value)),
    );
    const mean = replies.reduce((a, b) => a + b, 0) / replies.length;
    expect(Math.abs(mean - shape.meanReplyTokens) / shape.meanReplyTokens).toBeLessThan(0.25);
  });

  it("minTurns above maxTurns -> RangeError", () => {
    expect(() => synthesizeChatDataset({ ...shape, minTurns: 6 }, 1)).toThrow(RangeError);
  });
});
