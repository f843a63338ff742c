import OpenAI from "openai";
import type { RunningService } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricValue, startMock, streamRequest } from "./helpers";

const MODEL = "meta-llama/Llama-3.1-8B-Instruct";

describe("mock-vllm OpenAI API (built bundle)", () => {
  let svc: RunningService;
  let base: string;
  let client: OpenAI;

  beforeAll(async () => {
    ({ svc, base } = await startMock(["--time-scale", "20", "--max-model-len", "4096", "--seed", "7"]));
    client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "unused", maxRetries: 0 });
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it("openai SDK, streamed chat with include_usage -> the expected text, usage matching the chunks", async () => {
    const expected = "The quick brown fox jumps over the lazy dog. Ünïcödé 日本語 too.";
    // expected_response is a Symphony extension: the SDK passes unknown body fields through.
    const params = {
      model: MODEL,
      messages: [{ role: "user", content: "Say something" }],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 100,
      expected_response: expected,
    } as OpenAI.ChatCompletionCreateParamsStreaming;
    const stream = await client.chat.completions.create(params);
    let text = "";
    let contentChunks = 0;
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let roleSeen = false;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      expect(chunk.id).toMatch(/^chatcmpl-/);
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.delta.role) {
        roleSeen = true;
        continue;
      }
      text += choice.delta.content ?? "";
      contentChunks++;
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    expect(roleSeen).toBe(true);
    expect(text).toBe(expected);
    expect(finish).toBe("stop");
    expect(usage?.completion_tokens).toBe(contentChunks);
    expect(usage?.total_tokens).toBe(usage!.prompt_tokens + usage!.completion_tokens);
    // vLLM without --enable-prompt-tokens-details: no details in streamed usage.
    expect(usage).not.toHaveProperty("prompt_tokens_details");
  });

  it("openai SDK, non-streamed chat truncated by max_tokens -> finish_reason length", async () => {
    const res = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Count" }],
      max_tokens: 3,
      expected_response: "one two three four five six",
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    expect(res.choices[0]!.finish_reason).toBe("length");
    expect(res.choices[0]!.message.content).toBe("one two three");
    expect(res.usage!.completion_tokens).toBe(3);
  });

  it("raw SSE (what curl sees), generated text -> data: lines, usage chunk with empty choices, then [DONE]", async () => {
    const r = await streamRequest(`${base}/v1/chat/completions`, {
      model: MODEL,
      messages: [{ role: "user", content: "Hello" }],
      max_tokens: 12,
      ignore_eos: true,
    });
    expect(r.status).toBe(200);
    expect(r.done).toBe(true);
    expect(r.raw.endsWith("data: [DONE]\n\n")).toBe(true);
    const last = r.chunks.at(-1) as { choices: unknown[]; usage: { completion_tokens: number } };
    expect(last.choices).toEqual([]);
    expect(last.usage.completion_tokens).toBe(12);
    // role chunk + one chunk per token + usage chunk
    expect(r.chunks).toHaveLength(12 + 2);
  });

  it("expected response in the x-expected-response header (percent-encoded) -> streamed verbatim", async () => {
    const text = "Header text: ça marche, 100%!";
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-expected-response": encodeURIComponent(text) },
      body: JSON.stringify({ messages: [{ role: "user", content: "hdr" }], max_tokens: 100 }),
    });
    const json = (await res.json()) as { choices: { message: { content: string }; finish_reason: string }[] };
    expect(json.choices[0]!.message.content).toBe(text);
    expect(json.choices[0]!.finish_reason).toBe("stop");
  });

  it("legacy completions, streamed -> text_completion chunks with a token each", async () => {
    const r = await streamRequest(`${base}/v1/completions`, {
      model: MODEL,
      prompt: "Once upon a time",
      max_tokens: 5,
      ignore_eos: true,
    });
    expect(r.done).toBe(true);
    const tokens = r.chunks.filter((c) => (c.choices as unknown[]).length > 0);
    expect(tokens).toHaveLength(5);
    expect(tokens.every((c) => c.object === "text_completion")).toBe(true);
  });

  it.each([
    [
      "prompt + max_tokens over --max-model-len",
      { messages: [{ role: "user", content: "hi" }], max_tokens: 5000 },
      400,
      /maximum context length is 4096/,
    ],
    ["unknown model", { model: "gpt-9", messages: [{ role: "user", content: "hi" }] }, 404, /does not exist/],
    ["n=2", { messages: [{ role: "user", content: "hi" }], n: 2 }, 400, /n must be 1/],
    ["no messages", { messages: [] }, 400, /messages/],
  ])("chat, %s -> %i in vLLM's error shape", async (_name, body, status, message) => {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(status);
    const json = (await res.json()) as { error: { message: string; type: string; code: number } };
    expect(json.error.code).toBe(status);
    expect(json.error.type).toMatch(/Error$/);
    expect(json.error.message).toMatch(message);
  });

  it("completions, a prompt token id past 32 bits -> vLLM's 400 out of vocabulary; the next request is served", async () => {
    const complete = (prompt: number[]) =>
      fetch(`${base}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt, max_tokens: 2 }),
      });
    const res = await complete([1, 2 ** 31]);
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: { message: string; param: string } };
    expect(json.error.message).toBe(`Token id ${2 ** 31} is out of vocabulary`);
    expect(json.error.param).toBe("prompt");
    expect((await complete([1, 2, 3])).status).toBe(200);
  });

  it("chat, malformed JSON -> 400 BadRequestError", async () => {
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"messages": [',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: { type: string } }).error.type).toBe("BadRequestError");
  });

  it("models, health, tokenize and detokenize -> vLLM shapes", async () => {
    const models = (await (await fetch(`${base}/v1/models`)).json()) as {
      data: { id: string; owned_by: string; max_model_len: number }[];
    };
    expect(models.data[0]).toMatchObject({ id: MODEL, owned_by: "vllm", max_model_len: 4096 });
    const health = await fetch(`${base}/health`);
    expect(health.status).toBe(200);
    expect(await health.text()).toBe("");
    const tok = (await (
      await fetch(`${base}/tokenize`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ prompt: "hello world", add_special_tokens: false }),
      })
    ).json()) as { count: number; tokens: number[] };
    expect(tok.count).toBe(tok.tokens.length);
    const detok = (await (
      await fetch(`${base}/detokenize`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ tokens: tok.tokens }),
      })
    ).json()) as { prompt: string };
    expect(detok.prompt).toBe("hello world");
  });

  it("metrics, after requests -> token and request counters have moved", async () => {
    const before = await (await fetch(`${base}/metrics`)).text();
    const gen0 = metricValue(before, "vllm:generation_tokens_total");
    const ok0 = metricValue(before, "vllm:request_success_total");
    await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "metrics please" }],
      max_tokens: 7,
      ignore_eos: true,
    } as OpenAI.ChatCompletionCreateParamsNonStreaming);
    const after = await (await fetch(`${base}/metrics`)).text();
    expect(metricValue(after, "vllm:generation_tokens_total") - gen0).toBe(7);
    expect(metricValue(after, "vllm:request_success_total") - ok0).toBe(1);
    expect(metricValue(after, "vllm:time_to_first_token_seconds_count")).toBeGreaterThan(0);
    expect(after).toContain(`vllm:num_requests_running{model_name="${MODEL}",engine="0"} 0`);
    // Current vLLM's per-request series: the request's max_tokens (7: in the bucket 5 < x <= 10),
    // n, its mean time per output token.
    const maxTokensIn5To10 = (text: string) =>
      metricValue(text, "vllm:request_params_max_tokens_bucket", 'le="10"') -
      metricValue(text, "vllm:request_params_max_tokens_bucket", 'le="5"');
    expect(maxTokensIn5To10(after) - maxTokensIn5To10(before)).toBe(1);
    expect(metricValue(after, "vllm:request_params_n_count")).toBeGreaterThan(0);
    expect(metricValue(after, "vllm:request_time_per_output_token_seconds_sum")).toBeGreaterThan(0);
    expect(after).toContain(
      `vllm:engine_sleep_state{model_name="${MODEL}",engine="0",sleep_state="awake"} 1`,
    );
    expect(after).not.toContain("vllm:gpu_cache_usage_perc");
  });
});

describe("mock-vllm --show-hidden-metrics-for-version (built bundle)", () => {
  it("given -> the names vLLM has removed are served beside the current ones", async () => {
    const { svc, base } = await startMock(["--show-hidden-metrics-for-version", "0.10"]);
    try {
      const text = await (await fetch(`${base}/metrics`)).text();
      for (const name of [
        "vllm:gpu_cache_usage_perc",
        "vllm:gpu_prefix_cache_queries_total",
        "vllm:gpu_prefix_cache_hits_total",
        "vllm:time_per_output_token_seconds_count",
        "vllm:kv_cache_usage_perc",
      ])
        expect(metricValue(text, name)).toBe(0);
    } finally {
      await svc.stop();
    }
  });
});
