import { loadTokenizer } from "@symphony/common";
import { InferenceRequest, Role } from "@symphony/runtime";
import { describe, expect, it } from "vitest";
import { CHAT_TEMPLATE_TOKENS_PER_MESSAGE } from "../domain";
import { PromptTokenCounter } from "./prompt-token-counter";

const long = (tag: string) => `${tag}: ` + "the quick brown fox jumps over the lazy dog ".repeat(10);
const llama3 = loadTokenizer("llama3");

function chat(...contents: string[]) {
  return InferenceRequest.fromPartial({
    messages: contents.map((content) => ({ role: Role.ROLE_USER, content })),
  });
}

function conversation(...contents: string[]) {
  return InferenceRequest.fromPartial({
    messages: contents.map((content, i) => ({
      role: i % 2 === 0 ? Role.ROLE_USER : Role.ROLE_ASSISTANT,
      content,
    })),
  });
}

describe("PromptTokenCounter", () => {
  it.each([
    // The engine's own counts (mock-vllm /tokenize; the templates are checked against the models'
    // Jinja templates in @symphony/common): Llama 3.1 writes its default system block.
    ["llama3", 36],
    ["llama2", 9], // <s> ▁[ INST ] ▁hi ▁[ / INST ]
    ["cl100k", 36],
  ])("%s, one user message 'hi' -> %i tokens, the chat template's count", (spec, want) => {
    expect(new PromptTokenCounter(loadTokenizer(spec)).count(chat("hi"))).toBe(want);
  });

  it("system + user -> the Llama 3.1 template's count (44 tokens)", () => {
    const req = InferenceRequest.fromPartial({
      messages: [
        { role: Role.ROLE_SYSTEM, content: "You are helpful." },
        { role: Role.ROLE_USER, content: "What is KV caching?" },
      ],
    });
    expect(new PromptTokenCounter(llama3).count(req)).toBe(44);
  });

  it("one more message -> its content plus the 5 template tokens around it", () => {
    const c = new PromptTokenCounter(llama3);
    const one = c.count(chat("hi"));
    expect(c.count(chat("hi", long("a")))).toBe(one + llama3.countTokens(long("a").trim()) + 5);
  });

  it("prompt request -> BOS + the prompt's tokens (vLLM adds BOS to completion prompts)", () => {
    const c = new PromptTokenCounter(llama3);
    expect(c.count(InferenceRequest.fromPartial({ prompt: "Once upon a time" }))).toBe(1 + 4);
  });

  it("next turn resends the history -> only the new long message is tokenized, same total as fresh", () => {
    const c = new PromptTokenCounter(llama3);
    c.count(chat(long("a"), long("b")));
    expect(c.misses).toBe(2);
    const total = c.count(chat(long("a"), long("b"), long("c")));
    expect(c.misses).toBe(3);
    expect(c.hits).toBe(2);
    expect(total).toBe(new PromptTokenCounter(llama3).count(chat(long("a"), long("b"), long("c"))));
  });

  it("more distinct messages than the cap -> oldest forgotten, counts still right", () => {
    const c = new PromptTokenCounter(llama3, 2);
    c.count(chat(long("a"), long("b"), long("c")));
    c.count(chat(long("a")));
    expect(c.hits).toBe(0); // "a" was dropped when "c" came in
  });

  it("Llama 2, roles that do not alternate (the engine rejects it) -> a rough count, no error", () => {
    const llama2 = loadTokenizer("llama2");
    const c = new PromptTokenCounter(llama2);
    expect(c.count(chat("a b", "c d"))).toBe(
      llama2.countTokens("a b") + llama2.countTokens("c d") + 2 * CHAT_TEMPLATE_TOKENS_PER_MESSAGE,
    );
    expect(c.count(conversation("a b", "c d", "e f"))).toBeGreaterThan(0);
  });
});
