import { countTokens, InferenceRequest, Role } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { CHAT_TEMPLATE_TOKENS_PER_MESSAGE, PromptTokenCounter } from "./prompt-token-counter";

const long = (tag: string) => `${tag}: ` + "the quick brown fox jumps over the lazy dog ".repeat(10);

function chat(...contents: string[]) {
  return InferenceRequest.fromPartial({
    messages: contents.map((content) => ({ role: Role.ROLE_USER, content })),
  });
}

describe("PromptTokenCounter", () => {
  it("chat request -> sum of content tokens plus the per-message template allowance", () => {
    const c = new PromptTokenCounter();
    const expected = countTokens("hi") + countTokens(long("a")) + 2 * CHAT_TEMPLATE_TOKENS_PER_MESSAGE;
    expect(c.count(chat("hi", long("a")))).toBe(expected);
  });

  it("prompt request -> token count of the prompt", () => {
    const c = new PromptTokenCounter();
    expect(c.count(InferenceRequest.fromPartial({ prompt: "Once upon a time" }))).toBe(
      countTokens("Once upon a time"),
    );
  });

  it("next turn resends the history -> only the new long message is tokenized, same total as fresh", () => {
    const c = new PromptTokenCounter();
    c.count(chat(long("a"), long("b")));
    expect(c.misses).toBe(2);
    const total = c.count(chat(long("a"), long("b"), long("c")));
    expect(c.misses).toBe(3);
    expect(c.hits).toBe(2);
    expect(total).toBe(new PromptTokenCounter().count(chat(long("a"), long("b"), long("c"))));
  });

  it("more distinct messages than the cap -> oldest forgotten, counts still right", () => {
    const c = new PromptTokenCounter(2);
    c.count(chat(long("a"), long("b"), long("c")));
    c.count(chat(long("a")));
    expect(c.hits).toBe(0); // "a" was dropped when "c" came in
  });
});
