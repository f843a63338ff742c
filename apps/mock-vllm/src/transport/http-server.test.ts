import { silentLogger } from "@symphony/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMockVllm, type MockVllm } from "../app";
import { parseConfig } from "../config";

/** The HTTP routes in process (fastify `inject()`, no socket), on the real engine at 100x speed. */
describe("mock-vllm HTTP routes (in process)", () => {
  let mock: MockVllm;
  let model: string;
  beforeAll(async () => {
    const config = parseConfig(["--tokenizer", "cl100k", "--time-scale", "100", "--max-model-len", "4096"]);
    model = config.servedModelNames[0]!;
    mock = await createMockVllm(config, silentLogger());
  });
  afterAll(async () => {
    await mock.stop();
  });

  const post = (url: string, payload: unknown) =>
    mock.app.inject({ method: "POST", url, payload: payload as object });

  it("GET /health -> 200 with an empty body; GET /v1/models -> the served model, vLLM's shape", async () => {
    const health = await mock.app.inject({ method: "GET", url: "/health" });
    expect([health.statusCode, health.body]).toEqual([200, ""]);
    const models = (await mock.app.inject({ method: "GET", url: "/v1/models" })).json<{
      data: { id: string; owned_by: string; max_model_len: number }[];
    }>();
    expect(models.data[0]).toMatchObject({ id: model, owned_by: "vllm", max_model_len: 4096 });
  });

  it("chat, not streamed, expected response -> that text, finish_reason stop, usage counts it", async () => {
    const res = await post("/v1/chat/completions", {
      messages: [{ role: "user", content: "Say hi" }],
      expected_response: "hello there",
      max_tokens: 50,
    });
    expect(res.statusCode).toBe(200);
    const body = res.json<{
      object: string;
      choices: { message: { content: string }; finish_reason: string }[];
      usage: { completion_tokens: number; prompt_tokens: number };
    }>();
    expect(body.object).toBe("chat.completion");
    expect(body.choices[0]).toMatchObject({ message: { content: "hello there" }, finish_reason: "stop" });
    expect(body.usage.completion_tokens).toBe(2);
    expect(body.usage.prompt_tokens).toBeGreaterThan(0);
  });

  it("chat, streamed with include_usage -> SSE chunks that spell the text, a usage chunk, then [DONE]", async () => {
    const res = await post("/v1/chat/completions", {
      messages: [{ role: "user", content: "Count" }],
      expected_response: "one two three",
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toBe("text/event-stream; charset=utf-8");
    const events = res.body.split("\n\n").filter((e) => e.startsWith("data: "));
    expect(events.at(-1)).toBe("data: [DONE]");
    const chunks = events.slice(0, -1).map(
      (e) =>
        JSON.parse(e.slice(6)) as {
          choices: { delta: { content?: string } }[];
          usage?: { completion_tokens: number };
        },
    );
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? "").join("")).toBe("one two three");
    expect(chunks.at(-1)!.usage?.completion_tokens).toBe(3);
  });

  it.each([
    ["an unknown model", { model: "nope" }, 404, "model", /The model `nope` does not exist/],
    ["n=2", { n: 2 }, 400, "n", /n must be 1/],
    [
      "max_tokens past the context",
      { max_tokens: 5000 },
      400,
      "max_tokens",
      /'max_tokens' .* is too large: 5000/,
    ],
    ["min_tokens > max_tokens", { max_tokens: 2, min_tokens: 3 }, 400, "min_tokens", /min_tokens must be/],
  ])(
    "chat with %s -> an error naming the field, in vLLM's shape",
    async (_what, patch, status, param, message) => {
      const res = await post("/v1/chat/completions", {
        messages: [{ role: "user", content: "x" }],
        ...patch,
      });
      expect(res.statusCode).toBe(status);
      const err = res.json<{ error: { message: string; param: string | null; code: number } }>().error;
      expect(err.message).toMatch(message);
      expect(err).toMatchObject({ param, code: status });
    },
  );

  it("body that is not a JSON object -> 400", async () => {
    const res = await mock.app.inject({
      method: "POST",
      url: "/v1/completions",
      headers: { "content-type": "application/json" },
      payload: "[1,2]",
    });
    expect(res.statusCode).toBe(400);
  });

  it("completion, one prompt of token ids -> text_completion with those ids as the prompt", async () => {
    const res = await post("/v1/completions", { prompt: [1, 2, 3], max_tokens: 4, ignore_eos: true });
    const body = res.json<{ object: string; usage: { prompt_tokens: number; completion_tokens: number } }>();
    expect(body.object).toBe("text_completion");
    expect(body.usage).toMatchObject({ prompt_tokens: 3, completion_tokens: 4 });
  });

  it.each([
    ["past the vocabulary", [1, 10_000_000]],
    ["past 32 bits", [2 ** 31]],
    ["nested form", [[1, 2 ** 40]]],
  ])("completion, a prompt token id %s -> vLLM's 400, out of vocabulary", async (_what, prompt) => {
    const res = await post("/v1/completions", { prompt, max_tokens: 4 });
    expect(res.statusCode).toBe(400);
    const error = res.json<{ error: { message: string; param: string } }>().error;
    expect(error.param).toBe("prompt");
    expect(error.message).toMatch(/^Token id \d+ is out of vocabulary$/);
  });

  it("tokenize then detokenize -> the same text, count = ids", async () => {
    const tok = (await post("/tokenize", { prompt: "hello world", add_special_tokens: false })).json<{
      count: number;
      tokens: number[];
      max_model_len: number;
    }>();
    expect(tok.count).toBe(tok.tokens.length);
    expect(tok.max_model_len).toBe(4096);
    const detok = (await post("/detokenize", { tokens: tok.tokens })).json<{ prompt: string }>();
    expect(detok.prompt).toBe("hello world");
  });

  it("detokenize an id past the vocabulary -> 400 naming tokens", async () => {
    const res = await post("/detokenize", { tokens: [10_000_000] });
    expect(res.statusCode).toBe(400);
    expect(res.json<{ error: { param: string } }>().error.param).toBe("tokens");
  });

  it("unknown route -> 404 {detail, path}; /reset_prefix_cache without dev mode -> 404", async () => {
    const res = await mock.app.inject({ method: "GET", url: "/v2/nothing" });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ detail: "Not Found", path: "/v2/nothing" });
    expect((await post("/reset_prefix_cache", {})).statusCode).toBe(404);
  });

  it("metrics after a request -> vLLM's counters in Prometheus text", async () => {
    await post("/v1/chat/completions", { messages: [{ role: "user", content: "m" }], max_tokens: 3 });
    const res = await mock.app.inject({ method: "GET", url: "/metrics" });
    expect(res.statusCode).toBe(200);
    expect(res.body).toMatch(/^vllm:request_success_total\{.*finished_reason="(length|stop)".*\} [1-9]/m);
    expect(res.body).toContain("vllm:num_requests_running");
  });
});
