import { LLAMA3_SPECIAL_IDS, loadTokenizer } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { ChatTemplate } from "./chat-template";
import { TokenCache } from "./tokens";

const turn1 = [
  { role: "system", content: "You are helpful." },
  { role: "user", content: "What is KV caching?" },
];
const answer1 = "It stores keys and values.";
const turn2 = [...turn1, { role: "assistant", content: answer1 }, { role: "user", content: "Why?" }];

describe.each([
  { spec: "cl100k", bos: LLAMA3_SPECIAL_IDS.beginOfText, eot: LLAMA3_SPECIAL_IDS.endOfTurn },
  { spec: "llama3", bos: 128000, eot: 128009 },
  { spec: "llama2", bos: 1, eot: 2 },
])("ChatTemplate, tokenizer $spec", ({ spec, bos, eot }) => {
  const tokens = new TokenCache(loadTokenizer(spec));
  const template = new ChatTemplate(tokens);

  it("conversation -> starts with the model's BOS", () => {
    expect(template.apply(turn1)[0]).toBe(bos);
  });

  it("next turn -> this turn's prompt + answer is a token prefix of it (what prefix caching needs)", () => {
    const p1 = template.apply(turn1);
    const p2 = template.apply(turn2);
    const answer = tokens.encode(answer1); // what the mock streams for this expected response
    expect(p2.slice(0, p1.length + answer.length)).toEqual([...p1, ...answer]);
  });

  it("warm-up: the context so far, add_generation_prompt false -> ends the answer with end-of-turn, a prefix of the next turn's prompt", () => {
    const context = [...turn1, { role: "assistant", content: answer1 }];
    const warm = template.apply(context, { addGenerationPrompt: false });
    expect(warm.at(-1)).toBe(eot);
    const next = template.apply(turn2);
    expect(next.slice(0, warm.length)).toEqual(warm);
  });

  it("continue_final_message -> the answer left open: no end-of-turn token", () => {
    const context = [...turn1, { role: "assistant", content: answer1 }];
    const open = template.apply(context, { addGenerationPrompt: false, continueFinalMessage: true });
    const closed = template.apply(context, { addGenerationPrompt: false });
    expect(open.at(-1)).not.toBe(eot);
    expect(closed.at(-1)).toBe(eot);
    const text = (ids: number[]) => tokens.tokenizer.decode(ids);
    expect(text(open)).toBe(text(closed).trimEnd());
    expect(text(open).endsWith(answer1)).toBe(true);
  });

  it("completion prompt -> BOS + text, or the text alone without special tokens", () => {
    expect(template.completionPrompt("Once upon a time")).toEqual([
      bos,
      ...tokens.encode("Once upon a time"),
    ]);
    expect(template.completionPrompt("Once upon a time", false)).toEqual([
      ...tokens.encode("Once upon a time"),
    ]);
  });

  it("completionPromptIds -> the same ids as completionPrompt, as an Int32Array", () => {
    for (const [text, bosToo] of [
      ["Once upon a time", true],
      ["Once upon a time", false],
      ["", true],
    ] as const) {
      const ids = template.completionPromptIds(text, bosToo);
      expect(ids).toBeInstanceOf(Int32Array);
      expect([...ids]).toEqual(template.completionPrompt(text, bosToo));
    }
  });

  it("repeated messages -> tokenised once (cache)", () => {
    const cache = new TokenCache(loadTokenizer(spec));
    const t = new ChatTemplate(cache);
    t.apply(turn2);
    const size = cache.size;
    t.apply(turn2);
    expect(cache.size).toBe(size);
  });
});

describe("ChatTemplate, Llama 3.1 layout", () => {
  const tokens = new TokenCache(loadTokenizer("llama3"));
  const template = new ChatTemplate(tokens);

  it("conversation -> ends with the assistant generation header", () => {
    expect(template.apply(turn1).slice(-4)).toEqual([128006, ...tokens.encode("assistant"), 128007, 271]);
  });

  it("no system message -> the default system block with the knowledge-date preamble", () => {
    const ids = template.apply([{ role: "user", content: "hi" }]);
    expect(tokens.tokenizer.decode(ids, { skipSpecialTokens: false })).toBe(
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n" +
        "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    );
  });

  it("per-message overhead -> 5 template tokens around each message's content", () => {
    const one = template.apply([{ role: "user", content: "a b c" }], { addGenerationPrompt: false });
    const two = template.apply(
      [
        { role: "user", content: "a b c" },
        { role: "user", content: "d e f" },
      ],
      { addGenerationPrompt: false },
    );
    expect(two.length - one.length).toBe(tokens.encode("d e f").length + 5);
  });
});

describe("ChatTemplate, Llama 2 Chat layout", () => {
  const tokens = new TokenCache(loadTokenizer("llama2"));
  const template = new ChatTemplate(tokens);

  it("conversation -> the [INST] <<SYS>> layout", () => {
    const ids = template.apply(turn2);
    expect(tokens.tokenizer.decode(ids, { skipSpecialTokens: false })).toBe(
      "<s> [INST] <<SYS>>\nYou are helpful.\n<</SYS>>\n\nWhat is KV caching? [/INST] It stores keys and values. </s>" +
        "<s> [INST] Why? [/INST]",
    );
  });
});
