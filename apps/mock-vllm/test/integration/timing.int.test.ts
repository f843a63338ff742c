import type { RunningService } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { metricValue, startMock, streamRequest } from "./helpers";

/** A user message of roughly `words` tokens, distinct per `salt` (so no accidental cache hits). */
function filler(words: number, salt: string): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) out.push(`${salt}${i % 97}`);
  return out.join(" ");
}

describe("mock-vllm timing model (built bundle)", () => {
  let svc: RunningService;
  let base: string;

  beforeAll(async () => {
    // The A100 profile has the slowest prefill, which makes cache effects large and robust.
    // --kv-connector: Symphony's directive mode (resident tokens); cached_tokens only with the
    // details flag, as in vLLM.
    ({ svc, base } = await startMock([
      "--profile",
      "llama3-8b-a100",
      "--max-num-seqs",
      "2",
      "--time-scale",
      "2",
      "--kv-connector",
      "--enable-prompt-tokens-details",
    ]));
  });
  afterAll(async () => {
    await svc?.stop();
  });

  it("x-symphony-resident-tokens from a node (KV connector) -> those prompt tokens are loaded, reported as cached", async () => {
    const post = (content: string, headers: Record<string, string>) =>
      fetch(`${base}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ messages: [{ role: "user", content }], max_tokens: 2 }),
      }).then((r) => r.json() as Promise<{ usage: { prompt_tokens_details: { cached_tokens: number } } }>);
    const loaded = await post(filler(1500, "resident"), { "x-symphony-resident-tokens": "1000" });
    const plain = await post(filler(1500, "nothing"), {});
    expect(loaded.usage.prompt_tokens_details.cached_tokens).toBeGreaterThanOrEqual(1000);
    expect(plain.usage.prompt_tokens_details.cached_tokens).toBeLessThan(64);
  });

  it("second turn of a conversation -> cached_tokens > 0 and a lower TTFT than a cold prompt of the same length", async () => {
    const user1 = filler(1500, "alpha");
    const answer = "Sure, here is a short answer.";
    const turn1 = await streamRequest(`${base}/v1/chat/completions`, {
      messages: [{ role: "user", content: user1 }],
      max_tokens: 20,
      expected_response: answer,
    });
    const history = [
      { role: "user", content: user1 },
      { role: "assistant", content: answer },
      { role: "user", content: "And then?" },
    ];
    const turn2 = await streamRequest(`${base}/v1/chat/completions`, { messages: history, max_tokens: 5 });
    const usage2 = turn2.chunks.at(-1)!.usage as {
      prompt_tokens: number;
      prompt_tokens_details: { cached_tokens: number };
    };
    // A cold conversation with the same token count: same shape, different words.
    const cold = await streamRequest(`${base}/v1/chat/completions`, {
      messages: [
        { role: "user", content: filler(1500, "omega") },
        { role: "assistant", content: answer },
        { role: "user", content: "And then?" },
      ],
      max_tokens: 5,
    });
    const usageCold = cold.chunks.at(-1)!.usage as typeof usage2;
    expect(turn1.done && turn2.done && cold.done).toBe(true);
    expect(usage2.prompt_tokens_details.cached_tokens).toBeGreaterThan(usage2.prompt_tokens * 0.9);
    // Only the template's shared system block (BOS + system header + date preamble) is reused.
    expect(usageCold.prompt_tokens_details.cached_tokens).toBeLessThan(64);
    expect(Math.abs(usageCold.prompt_tokens - usage2.prompt_tokens)).toBeLessThan(
      usage2.prompt_tokens * 0.05,
    );
    expect(turn2.ttftMs).toBeLessThan(cold.ttftMs / 2);
  });

  it("more concurrent requests than max-num-seqs -> later requests queue and their TTFT rises", async () => {
    const one = async (i: number) =>
      streamRequest(`${base}/v1/chat/completions`, {
        messages: [{ role: "user", content: `load ${i}` }],
        max_tokens: 40,
        ignore_eos: true,
      });
    const alone = await one(-1);
    const metricsDuring = (async () => {
      await new Promise((r) => setTimeout(r, 60));
      return (await fetch(`${base}/metrics`)).text();
    })();
    const loaded = await Promise.all(Array.from({ length: 8 }, (_, i) => one(i)));
    const during = await metricsDuring;
    const ttfts = loaded.map((r) => r.ttftMs).sort((a, b) => a - b);
    expect(loaded.every((r) => r.done)).toBe(true);
    // 8 requests, 2 at a time: the slowest waits for three earlier pairs of 40-token decodes.
    expect(ttfts.at(-1)!).toBeGreaterThan(alone.ttftMs * 4);
    expect(metricValue(during, "vllm:num_requests_running")).toBe(2);
    expect(metricValue(during, "vllm:num_requests_waiting")).toBeGreaterThan(0);
    expect(metricValue(during, "vllm:kv_cache_usage_perc")).toBeGreaterThan(0);
    const after = await (await fetch(`${base}/metrics`)).text();
    expect(metricValue(after, "vllm:request_queue_time_seconds_sum")).toBeGreaterThan(0);
  });
});

describe("mock-vllm fault injection and CLI errors (built bundle)", () => {
  it.each([
    [500, ["--fault-error-rate", "1", "--fault-error-status", "500"]],
    [503, ["--fault-error-rate", "1"]],
  ])(
    "error rate 1, status %i -> every request answered with it in vLLM's error shape",
    async (status, args) => {
      const { svc, base } = await startMock(args);
      try {
        const res = await fetch(`${base}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 3 }),
        });
        expect(res.status).toBe(status);
        expect(((await res.json()) as { error: { code: number } }).error.code).toBe(status);
      } finally {
        await svc.stop();
      }
    },
  );

  it("--fault-drop-rate 1 -> streams are cut before [DONE], and the server keeps serving", async () => {
    const { svc, base } = await startMock(["--fault-drop-rate", "1", "--time-scale", "10"]);
    try {
      for (let i = 0; i < 3; i++) {
        const r = await streamRequest(`${base}/v1/chat/completions`, {
          messages: [{ role: "user", content: `drop ${i}` }],
          max_tokens: 30,
          ignore_eos: true,
        });
        expect(r.done).toBe(false);
        expect(r.chunks.length).toBeLessThan(32);
      }
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metricValue(metrics, "vllm:request_success_total", 'finished_reason="abort"')).toBe(3);
    } finally {
      await svc.stop();
    }
  });

  it("--fault-latency-rate 1 -> TTFT at least the injected delay", async () => {
    const { svc, base } = await startMock(["--fault-latency-rate", "1", "--fault-latency-ms", "300"]);
    try {
      const r = await streamRequest(`${base}/v1/chat/completions`, {
        messages: [{ role: "user", content: "slow" }],
        max_tokens: 2,
      });
      expect(r.done).toBe(true);
      expect(r.ttftMs).toBeGreaterThanOrEqual(300);
    } finally {
      await svc.stop();
    }
  });
});
