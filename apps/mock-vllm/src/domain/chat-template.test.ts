import { describe, expect, it } from "vitest";
import { ChatTemplate } from "./chat-template";
import { SPECIAL, TokenCache } from "./tokens";

describe("ChatTemplate", () => {
  const tokens = new TokenCache();
  const template = new ChatTemplate(tokens);
  const turn1 = [
    { role: "system", content: "You are helpful." },
    { role: "user", content: "What is KV caching?" },
  ];
  const turn2 = [
    ...turn1,
    { role: "assistant", content: "It stores keys and values." },
    { role: "user", content: "Why?" },
  ];

  it("conversation -> starts with BOS, ends with the assistant generation header", () => {
    const ids = template.apply(turn1);
    expect(ids[0]).toBe(SPECIAL.beginOfText);
    expect(ids.slice(-4)).toEqual([
      SPECIAL.startHeader,
      ...tokens.encode("assistant"),
      SPECIAL.endHeader,
      ...tokens.encode("\n\n"),
    ]);
  });

  it("next turn -> this turn's prompt + answer is a token prefix of it (what prefix caching needs)", () => {
    const p1 = template.apply(turn1);
    const p2 = template.apply(turn2);
    const answer = tokens.encode("It stores keys and values.");
    expect(p2.slice(0, p1.length)).toEqual(p1);
    expect(p2.slice(p1.length, p1.length + answer.length)).toEqual([...answer]);
  });

  it("per-message overhead -> 5 template tokens around each message's content", () => {
    const one = template.apply([{ role: "user", content: "a b c" }], false);
    const two = template.apply(
      [
        { role: "user", content: "a b c" },
        { role: "user", content: "d e f" },
      ],
      false,
    );
    expect(two.length - one.length).toBe(tokens.encode("d e f").length + 5);
  });

  it("repeated messages -> tokenised once (cache)", () => {
    const cache = new TokenCache();
    const t = new ChatTemplate(cache);
    t.apply(turn2);
    const size = cache.size;
    t.apply(turn2);
    expect(cache.size).toBe(size);
  });
});
