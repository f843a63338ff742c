import { describe, expect, it } from "vitest";
import sample from "../../data/sample-conversations.json";
import { parseShareGpt } from "./dataset";

const h = (value: string) => ({ from: "human", value });
const g = (value: string) => ({ from: "gpt", value });

describe("parseShareGpt", () => {
  it.each([
    ["one message", [h("hi")], "fewer than 2 messages"],
    ["no messages", [], "fewer than 2 messages"],
    ["two user messages", [h("a"), h("b")], "no complete user/assistant pair"],
    ["empty reply", [h("a"), g("  ")], "no complete user/assistant pair"],
  ])("conversation with %s -> skipped and counted", (_name, conversations, reason) => {
    const parsed = parseShareGpt([{ conversations }, { conversations: [h("q"), g("a")] }]);
    expect(parsed.conversations).toHaveLength(1);
    expect(parsed.skipped).toEqual({ [reason]: 1 });
    expect(parsed.total).toBe(2);
  });

  it("fewer pairs than minTurns -> skipped with its own reason", () => {
    const parsed = parseShareGpt([{ conversations: [h("q"), g("a")] }], 2);
    expect(parsed.skipped).toEqual({ "fewer than 2 turns": 1 });
  });

  it("system prompt, leading reply, trailing question -> system kept, pairs only", () => {
    const parsed = parseShareGpt([
      {
        id: 5,
        conversations: [
          { from: "system", value: "be brief" },
          g("welcome"),
          h("q1"),
          g("a1"),
          h("q2"),
          g("a2"),
          h("q3"),
        ],
      },
    ]);
    expect(parsed.conversations[0]).toEqual({
      id: "5",
      system: "be brief",
      turns: [
        { user: "q1", assistant: "a1" },
        { user: "q2", assistant: "a2" },
      ],
    });
  });

  it("broken alternation -> replay stops at the break", () => {
    const parsed = parseShareGpt([{ conversations: [h("q1"), g("a1"), g("a1b"), h("q2"), g("a2")] }]);
    expect(parsed.conversations[0]!.turns).toEqual([{ user: "q1", assistant: "a1" }]);
  });

  it("missing id -> id from the index", () => {
    expect(parseShareGpt([{ conversations: [h("q"), g("a")] }]).conversations[0]!.id).toBe("conv-0");
  });

  it.each([
    ["not an array", { a: 1 }, /^\(root\): .*expected array/],
    [
      "value not a string",
      [{ conversations: [h("q"), { from: "gpt", value: 3 }] }],
      /^\[0\]\.conversations\[1\]\.value: .*expected string/,
    ],
    ["no conversations key", [{ id: "x" }], /^\[0\]\.conversations: /],
  ])("shape error, %s -> one line with the index path", (_name, value, pattern) => {
    expect(() => parseShareGpt(value)).toThrow(pattern);
  });

  it("the shipped sample -> 12 conversations of 2 to 5 turns, none skipped", () => {
    const parsed = parseShareGpt(sample);
    expect(parsed.conversations).toHaveLength(12);
    expect(parsed.skipped).toEqual({});
    for (const c of parsed.conversations) {
      expect(c.turns.length).toBeGreaterThanOrEqual(2);
      expect(c.turns.length).toBeLessThanOrEqual(5);
    }
  });
});
