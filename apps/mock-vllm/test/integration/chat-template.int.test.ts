import { bundlePath, runCli, type RunningService } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startMock, streamRequest } from "./helpers";

async function post<T>(url: string, body: unknown): Promise<{ status: number; json: T }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as T };
}

interface Tokenized {
  count: number;
  tokens: number[];
}
interface Completion {
  usage: {
    prompt_tokens: number;
    completion_tokens: number;
    prompt_tokens_details: { cached_tokens: number } | null;
  };
}
interface ApiErrorBody {
  error: { message: string; type: string; code: number };
}

const context = [
  { role: "system", content: "You are a helpful assistant." },
  { role: "user", content: "Explain what a KV cache is, in two sentences please." },
  {
    role: "assistant",
    content:
      "A KV cache keeps the attention keys and values of tokens already processed. The next tokens reuse them " +
      "instead of computing them again, which makes generation much faster.",
  },
];
const nextTurn = [...context, { role: "user", content: "And why does prefix caching help chat sessions?" }];

describe("mock-vllm chat template (default profile: Llama 3.1, tokenizer llama3)", () => {
  let svc: RunningService;
  let base: string;
  beforeAll(async () => {
    ({ svc, base } = await startMock([
      "--time-scale",
      "50",
      "--seed",
      "1",
      "--enable-prompt-tokens-details",
    ]));
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it("/tokenize messages -> Llama 3.1's rendered template with Llama 3's ids", async () => {
    const tok = await post<Tokenized>(`${base}/tokenize`, { messages: [{ role: "user", content: "hi" }] });
    expect(tok.status).toBe(200);
    expect(tok.json.tokens.slice(0, 2)).toEqual([128000, 128006]);
    expect(tok.json.tokens.slice(-4)).toEqual([128006, 78191, 128007, 271]); // assistant header
    const detok = await post<{ prompt: string }>(`${base}/detokenize`, { tokens: tok.json.tokens });
    expect(detok.json.prompt).toBe(
      "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n" +
        "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>" +
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    );
  });

  it("/tokenize add_special_tokens true on messages -> one more BOS in front (as vLLM: it adds BOS on top)", async () => {
    const plain = await post<Tokenized>(`${base}/tokenize`, { messages: nextTurn });
    const withBos = await post<Tokenized>(`${base}/tokenize`, {
      messages: nextTurn,
      add_special_tokens: true,
    });
    expect(withBos.json.tokens).toEqual([128000, ...plain.json.tokens]);
  });

  it.each([
    [
      { add_generation_prompt: true, continue_final_message: true },
      "Cannot set both `continue_final_message` and `add_generation_prompt` to True.",
    ],
    [
      { continue_final_message: true },
      "continue_final_message and add_generation_prompt are not compatible.",
    ],
  ])("chat and /tokenize with %j -> 400 with vLLM's message", async (flags, message) => {
    for (const path of ["/v1/chat/completions", "/tokenize"]) {
      const res = await post<ApiErrorBody>(`${base}${path}`, { messages: context, max_tokens: 1, ...flags });
      expect(res.status).toBe(400);
      expect(res.json.error.type).toBe("BadRequestError");
      expect(res.json.error.message).toContain(message);
    }
  });

  it("warm-up: the context so far, add_generation_prompt false, max_tokens 1 -> its prompt is a token prefix of the next turn's, which then hits the prefix cache", async () => {
    const warmFields = { messages: context, add_generation_prompt: false };
    const warmIds = await post<Tokenized>(`${base}/tokenize`, warmFields);
    const nextIds = await post<Tokenized>(`${base}/tokenize`, { messages: nextTurn });
    expect(warmIds.json.tokens.at(-1)).toBe(128009); // the answer ends with <|eot_id|>, no new header
    expect(nextIds.json.tokens.slice(0, warmIds.json.count)).toEqual(warmIds.json.tokens);

    const warm = await post<Completion>(`${base}/v1/chat/completions`, { ...warmFields, max_tokens: 1 });
    expect(warm.status).toBe(200);
    expect(warm.json.usage.prompt_tokens).toBe(warmIds.json.count);
    expect(warm.json.usage.completion_tokens).toBe(1);
    const next = await post<Completion>(`${base}/v1/chat/completions`, { messages: nextTurn, max_tokens: 4 });
    expect(next.json.usage.prompt_tokens).toBe(nextIds.json.count);
    // Every full 16-token block of the warm-up prompt is reused.
    expect(next.json.usage.prompt_tokens_details?.cached_tokens).toBe(
      Math.floor(warmIds.json.count / 16) * 16,
    );
  });

  it("continue_final_message -> the last assistant message stays open (no <|eot_id|>) and the model continues it", async () => {
    const fields = { messages: context, add_generation_prompt: false, continue_final_message: true };
    const open = await post<Tokenized>(`${base}/tokenize`, fields);
    const closed = await post<Tokenized>(`${base}/tokenize`, {
      messages: context,
      add_generation_prompt: false,
    });
    expect(open.json.tokens).toEqual(closed.json.tokens.slice(0, -1));
    const res = await post<Completion>(`${base}/v1/chat/completions`, { ...fields, max_tokens: 3 });
    expect(res.status).toBe(200);
    expect(res.json.usage.prompt_tokens).toBe(open.json.count);
  });

  it("completions: add_special_tokens false -> no BOS; token-id prompts are taken as they are", async () => {
    const withBos = await post<Completion>(`${base}/v1/completions`, {
      prompt: "Once upon a time",
      max_tokens: 1,
    });
    const noBos = await post<Completion>(`${base}/v1/completions`, {
      prompt: "Once upon a time",
      max_tokens: 1,
      add_special_tokens: false,
    });
    expect(withBos.json.usage.prompt_tokens).toBe(5); // <|begin_of_text|> Once upon a time
    expect(noBos.json.usage.prompt_tokens).toBe(4);
    const ids = await post<Completion>(`${base}/v1/completions`, {
      prompt: [12805, 5304, 264, 892],
      max_tokens: 1,
    });
    expect(ids.json.usage.prompt_tokens).toBe(4);
    const empty = await post<ApiErrorBody>(`${base}/v1/completions`, {
      prompt: "",
      max_tokens: 1,
      add_special_tokens: false,
    });
    expect(empty.status).toBe(400);
    expect(empty.json.error.message).toBe("The decoder prompt cannot be empty");
  });

  it("/detokenize an id outside the vocabulary -> 400", async () => {
    const res = await post<ApiErrorBody>(`${base}/detokenize`, { tokens: [9906, 500_000] });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/500000/);
  });
});

describe("mock-vllm with profile llama2-13b-a100 (tokenizer llama2, Llama 2 Chat template)", () => {
  let svc: RunningService;
  let base: string;
  beforeAll(async () => {
    ({ svc, base } = await startMock(["--profile", "llama2-13b-a100", "--time-scale", "50"]));
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it("/tokenize messages -> <s>[INST] <<SYS>> ... [/INST] with <s>=1, </s>=2", async () => {
    const tok = await post<Tokenized>(`${base}/tokenize`, { messages: nextTurn });
    expect(tok.json.tokens[0]).toBe(1);
    expect(tok.json.tokens.filter((t) => t === 2)).toHaveLength(1); // one answered exchange
    const detok = await post<{ prompt: string }>(`${base}/detokenize`, { tokens: tok.json.tokens });
    expect(detok.json.prompt).toContain("[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\n\nExplain");
    expect(detok.json.prompt).toMatch(/\[\/INST\]$/);
  });

  it("roles that do not alternate -> 400 with the template's message", async () => {
    const res = await post<ApiErrorBody>(`${base}/v1/chat/completions`, {
      messages: [
        { role: "user", content: "a" },
        { role: "user", content: "b" },
      ],
      max_tokens: 1,
    });
    expect(res.status).toBe(400);
    expect(res.json.error.message).toBe(
      "Conversation roles must alternate user/assistant/user/assistant/...",
    );
  });

  it("streamed answer -> SentencePiece text, leading space included, as Llama 2 in vLLM", async () => {
    const r = await streamRequest(`${base}/v1/chat/completions`, {
      messages: [{ role: "user", content: "Say it" }],
      expected_response: "Hello there, world.",
      max_tokens: 50,
    });
    const text = r.chunks
      .map((c) => (c as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? "")
      .join("");
    expect(text).toBe(" Hello there, world.");
  });
});

describe("mock-vllm --tokenizer", () => {
  it("cl100k -> the former counts: cl100k text ids inside Llama 3's template ids", async () => {
    const { svc, base } = await startMock(["--tokenizer", "cl100k"]);
    try {
      const tok = await post<Tokenized>(`${base}/tokenize`, { messages: [{ role: "user", content: "hi" }] });
      expect(tok.json.tokens[0]).toBe(128000);
      expect(tok.json.tokens.filter((t) => t >= 100_277).every((t) => t >= 128000)).toBe(true);
    } finally {
      await svc.stop();
    }
  });

  it.each([
    [["--tokenizer", "llama-3"], /--tokenizer llama-3: expected cl100k, llama3, llama2 or the path/],
    [
      ["--tokenizer", "/nonexistent/tokenizer.json"],
      /--tokenizer \/nonexistent\/tokenizer\.json: cannot read/,
    ],
  ])("%j -> exit 2 with one line naming the flag", async (args, message) => {
    const r = await runCli(bundlePath("mock-vllm"), args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
