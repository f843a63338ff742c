import { VirtualTimers } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { EngineCore, type EngineConfig, type EngineRequest, type RequestSummary } from "./engine-core";
import { PROFILES } from "./profiles";
import { coefficientsFor, StepTimeModel } from "./step-time-model";

const model = new StepTimeModel(coefficientsFor(PROFILES["llama3-8b-h100"]!));

function setup(overrides: Partial<EngineConfig> = {}) {
  const timers = new VirtualTimers();
  const config: EngineConfig = {
    maxNumSeqs: 64,
    maxNumBatchedTokens: 2048,
    numGpuBlocks: 1000,
    blockSize: 16,
    enablePrefixCaching: true,
    timeScale: 1,
    ...overrides,
  };
  const ttfts: number[] = [];
  const engine = new EngineCore(config, model, timers, { onFirstToken: (us) => ttfts.push(us) });
  return { timers, engine, ttfts };
}

/** Distinct token ids so unrelated prompts never share a block. */
function tokens(n: number, salt: number): number[] {
  return Array.from({ length: n }, (_, i) => (salt * 7919 + i) % 100000);
}

interface Trace {
  tokens: { index: number; tokenId: number; tUs: number }[];
  summary?: RequestSummary;
}

function submit(engine: EngineCore, timers: VirtualTimers, req: EngineRequest): Trace {
  const trace: Trace = { tokens: [] };
  engine.submit(req, {
    onToken: (index, tokenId) => trace.tokens.push({ index, tokenId, tUs: timers.nowUs() }),
    onFinish: (s) => (trace.summary = s),
  });
  return trace;
}

function request(id: string, prompt: number[], outputLen: number): EngineRequest {
  return { id, promptTokenIds: prompt, outputTokenIds: tokens(outputLen, 999), finishReason: "length" };
}

describe("EngineCore", () => {
  it("single request -> every output token in order, TTFT = one prefill step, then one token per decode step", () => {
    const { timers, engine } = setup();
    const t = submit(engine, timers, request("a", tokens(100, 1), 5));
    timers.runAll();
    expect(t.tokens.map((x) => x.index)).toEqual([0, 1, 2, 3, 4]);
    expect(t.tokens.map((x) => x.tokenId)).toEqual(tokens(5, 999));
    expect(t.summary).toMatchObject({
      finishReason: "length",
      promptTokens: 100,
      completionTokens: 5,
      cachedTokens: 0,
    });
    const expectedTtft = model.stepUs({
      prefillTokens: 100,
      prefillAttentionPairs: 100 * 50,
      decodeSeqs: 0,
      kvTokensRead: 0,
      numSeqs: 1,
    });
    expect(t.tokens[0]!.tUs).toBe(Math.ceil(expectedTtft));
    const gap = t.tokens[2]!.tUs - t.tokens[1]!.tUs;
    expect(gap).toBeGreaterThanOrEqual(Math.floor(model.decodeItlUs(1, 101)));
    expect(gap).toBeLessThanOrEqual(Math.ceil(model.decodeItlUs(1, 103)));
  });

  it.each([1, 4, 10])("time scale %d -> every duration divided by it", (scale) => {
    const { timers, engine } = setup({ timeScale: scale });
    const t = submit(engine, timers, request("a", tokens(500, 1), 20));
    timers.runAll();
    const { timers: t1, engine: e1 } = setup({ timeScale: 1 });
    const ref = submit(e1, t1, request("a", tokens(500, 1), 20));
    t1.runAll();
    const end = t.summary!.finishUs;
    expect(Math.abs(end - ref.summary!.finishUs / scale)).toBeLessThanOrEqual(20);
  });

  it("second turn extending the first conversation -> cached_tokens covers the old prompt's full blocks, lower TTFT", () => {
    const { timers, engine, ttfts } = setup();
    const turn1 = tokens(1000, 1);
    const out1 = tokens(50, 2);
    const first = submit(engine, timers, {
      id: "t1",
      promptTokenIds: turn1,
      outputTokenIds: out1,
      finishReason: "stop",
    });
    timers.runAll();
    // Turn 2 = turn 1's prompt + the answer + a new user message.
    const turn2 = [...turn1, ...out1, ...tokens(30, 3)];
    const second = submit(engine, timers, {
      id: "t2",
      promptTokenIds: turn2,
      outputTokenIds: [1],
      finishReason: "stop",
    });
    timers.runAll();
    // A cold prompt of the same length, nothing shared.
    const cold = submit(engine, timers, request("cold", tokens(turn2.length, 4), 1));
    timers.runAll();
    expect(first.summary!.cachedTokens).toBe(0);
    // Prompt and generated tokens were cached: all full blocks of turn 1 prompt + 49 computed outputs.
    expect(second.summary!.cachedTokens).toBe(Math.floor((1000 + 49) / 16) * 16);
    expect(cold.summary!.cachedTokens).toBe(0);
    expect(ttfts[1]!).toBeLessThan(ttfts[2]! / 3);
    expect(engine.stats().prefixCacheHits).toBe(second.summary!.cachedTokens);
  });

  it("externalKvTokens (KV loaded from the node's tier) -> counted as cached, prefill skipped, not a prefix-cache hit", () => {
    const prompt = tokens(1200, 3);
    const cold = setup();
    const c = submit(cold.engine, cold.timers, request("cold", prompt, 2));
    cold.timers.runAll();
    const warm = setup();
    const w = submit(warm.engine, warm.timers, { ...request("warm", prompt, 2), externalKvTokens: 1000 });
    warm.timers.runAll();
    expect(w.summary?.cachedTokens).toBe(1000);
    expect(c.summary?.cachedTokens).toBe(0);
    expect(warm.ttfts[0]!).toBeLessThan(cold.ttfts[0]! / 2);
    expect(warm.engine.stats().prefixCacheHits).toBe(0);
    // Never more than prompt - 1: the last prompt token is computed to produce logits.
    const all = setup();
    const a = submit(all.engine, all.timers, { ...request("all", prompt, 2), externalKvTokens: 5000 });
    all.timers.runAll();
    expect(a.summary?.cachedTokens).toBe(1199);
  });

  it("prefix caching disabled -> the second turn reports no cached tokens", () => {
    const { timers, engine } = setup({ enablePrefixCaching: false });
    const p = tokens(200, 1);
    submit(engine, timers, request("a", p, 3));
    timers.runAll();
    const again = submit(engine, timers, request("b", [...p, 5, 6], 3));
    timers.runAll();
    expect(again.summary!.cachedTokens).toBe(0);
  });

  it("identical prompt -> the last token is recomputed, so at most prompt-1 tokens (whole blocks) hit", () => {
    const { timers, engine } = setup();
    const p = tokens(64, 1);
    submit(engine, timers, request("a", p, 2));
    timers.runAll();
    const again = submit(engine, timers, request("b", p, 2));
    timers.runAll();
    expect(again.summary!.cachedTokens).toBe(48);
  });

  it("more requests than max-num-seqs -> the rest wait, and queueing raises their TTFT", () => {
    const { timers, engine, ttfts } = setup({ maxNumSeqs: 2 });
    const traces = Array.from({ length: 6 }, (_, i) =>
      submit(engine, timers, request(`r${i}`, tokens(50, i + 1), 10)),
    );
    // The first submit starts a step at once (idle engine); the rest queue behind it.
    expect(engine.stats()).toMatchObject({ numRunning: 1, numWaiting: 5 });
    let maxRunning = 0;
    while (timers.pendingCount > 0) {
      timers.runAll(1);
      maxRunning = Math.max(maxRunning, engine.stats().numRunning);
    }
    expect(maxRunning).toBe(2);
    expect(traces.every((t) => t.summary?.completionTokens === 10)).toBe(true);
    expect(ttfts[5]!).toBeGreaterThan(ttfts[0]! * 3);
  });

  it("prompt longer than the token budget -> chunked prefill over several steps, first token after the last chunk", () => {
    const { timers, engine } = setup({ maxNumBatchedTokens: 256 });
    const t = submit(engine, timers, request("long", tokens(1000, 1), 2));
    timers.runAll();
    expect(engine.stats().steps).toBe(Math.ceil(1000 / 256) + 1);
    expect(t.summary!.completionTokens).toBe(2);
  });

  it("KV blocks run out during decode -> preemption by recompute, counted, and every request still completes", () => {
    // 3 requests of 40 prompt + 60 output tokens need 7 blocks each; 12 blocks hold fewer than 2.
    const { timers, engine } = setup({ numGpuBlocks: 12, enablePrefixCaching: false });
    const traces = Array.from({ length: 3 }, (_, i) =>
      submit(engine, timers, request(`r${i}`, tokens(40, i + 1), 60)),
    );
    timers.runAll();
    expect(engine.stats().numPreemptions).toBeGreaterThan(0);
    for (const t of traces) {
      expect(t.summary!.completionTokens).toBe(60);
      expect(t.tokens.map((x) => x.index)).toEqual(Array.from({ length: 60 }, (_, i) => i));
    }
    expect(traces.some((t) => t.summary!.numPreemptions > 0)).toBe(true);
    expect(engine.stats().kvCacheUsage).toBe(0);
  });

  it("request that cannot fit yet -> waits for blocks instead of failing", () => {
    const { timers, engine } = setup({ numGpuBlocks: 10, enablePrefixCaching: false });
    const a = submit(engine, timers, request("a", tokens(100, 1), 40)); // up to 9 blocks
    const b = submit(engine, timers, request("b", tokens(100, 2), 2));
    timers.runAll();
    expect(a.summary!.completionTokens).toBe(40);
    expect(b.summary!.completionTokens).toBe(2);
    expect(b.summary!.firstTokenUs).toBeGreaterThan(a.summary!.firstTokenUs);
  });

  it("abort mid-stream -> onFinish with abort, blocks freed, no more tokens", () => {
    const { timers, engine } = setup();
    const t = submit(engine, timers, request("a", tokens(100, 1), 50));
    timers.runUntil(Math.ceil(model.coldTtftUs(100)) + 1);
    expect(t.tokens.length).toBe(1);
    expect(engine.stats().kvCacheUsage).toBeGreaterThan(0);
    expect(engine.abort("a")).toBe(true);
    timers.runAll();
    expect(t.summary!.finishReason).toBe("abort");
    expect(t.tokens.length).toBe(1);
    expect(engine.stats().kvCacheUsage).toBe(0);
    expect(engine.abort("a")).toBe(false);
  });

  it.each([
    ["empty prompt", { promptTokenIds: [], outputTokenIds: [1] }, /empty prompt/],
    ["no output", { promptTokenIds: [1], outputTokenIds: [] }, /no output/],
    [
      "longer than the KV cache",
      { promptTokenIds: tokens(200, 1), outputTokenIds: [1] },
      /exceed the KV cache/,
    ],
  ])("submit, %s -> RangeError", (_name, req, message) => {
    const { engine } = setup({ numGpuBlocks: 4 });
    expect(() =>
      engine.submit({ id: "x", finishReason: "stop", ...req }, { onToken: () => {}, onFinish: () => {} }),
    ).toThrow(message);
  });

  describe("step loop running late (a busy event loop fires the step timer after the step's end)", () => {
    /** VirtualTimers whose next timer set with at() fires `lateUs` after the time asked for. */
    class LateTimers extends VirtualTimers {
      lateUs = 0;
      override at(tUs: number, cb: () => void) {
        const late = this.lateUs;
        this.lateUs = 0;
        return super.at(tUs + late, cb);
      }
    }

    function lateSetup() {
      const timers = new LateTimers();
      const ttfts: number[] = [];
      const engine = new EngineCore(
        {
          maxNumSeqs: 64,
          maxNumBatchedTokens: 2048,
          numGpuBlocks: 1000,
          blockSize: 16,
          enablePrefixCaching: true,
          timeScale: 1,
        },
        model,
        timers,
        { onFirstToken: (us) => ttfts.push(us) },
      );
      const trace = (req: EngineRequest): Trace => {
        const t: Trace = { tokens: [] };
        engine.submit(req, {
          onToken: (index, tokenId) => t.tokens.push({ index, tokenId, tUs: timers.nowUs() }),
          onFinish: (s) => (t.summary = s),
        });
        return t;
      };
      return { timers, engine, ttfts, trace };
    }

    const PROMPT = 64;
    /** The shortest step that can give a request its first token: its prefill alone. */
    const coldTtftUs = model.coldTtftUs(PROMPT);

    it.each([
      ["the chain continues (the other request still decodes)", 30],
      ["the chain ends (the other request finishes in the late step)", 1],
    ])(
      "request arriving after the next step's modelled start, %s -> it waits for a step starting after it: TTFT >= one step",
      (_name, otherOutputLen) => {
        const { timers, ttfts, trace } = lateSetup();
        const firstEndUs = Math.ceil(coldTtftUs);
        // The timer ending the first step fires one step late; `late` arrives at 90 % of that
        // delay, after the step that follows the first one has (in the model) already begun.
        timers.lateUs = firstEndUs;
        const other = trace(request("other", tokens(PROMPT, 1), otherOutputLen));
        const arrivalUs = firstEndUs + Math.round(0.9 * firstEndUs);
        let late: Trace | undefined;
        timers.at(arrivalUs, () => (late = trace(request("late", tokens(PROMPT, 2), 3))));
        timers.runAll();
        expect(other.summary?.finishReason).toBe("length");
        expect(late!.summary?.finishReason).toBe("length");
        expect(late!.summary!.firstScheduledUs).toBeGreaterThanOrEqual(arrivalUs);
        expect(late!.tokens[0]!.tUs - arrivalUs).toBeGreaterThanOrEqual(Math.floor(coldTtftUs));
        expect(Math.min(...ttfts)).toBeGreaterThanOrEqual(Math.floor(coldTtftUs));
      },
    );
  });

  it("same workload twice -> identical token timelines (deterministic on virtual time)", () => {
    const run = () => {
      const { timers, engine } = setup({ numGpuBlocks: 40, maxNumSeqs: 3 });
      const traces = Array.from({ length: 8 }, (_, i) =>
        submit(engine, timers, request(`r${i}`, tokens(30 + i * 7, i), 20 + i)),
      );
      timers.runAll();
      return JSON.stringify(traces);
    };
    expect(run()).toBe(run());
  });
});
