import { VirtualTimers } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { EngineCore, type EngineConfig, type EngineRequest, type RequestSummary } from "./engine-core";
import { hashBlock, NO_HASH } from "./kv-cache";
import type { KvEvent } from "./kv-events";
import { PROFILES } from "./profiles";
import { coefficientsFor, StepTimeModel } from "./step-time-model";

const model = new StepTimeModel(coefficientsFor(PROFILES["llama3-8b-h100"]!));
const BS = 16;

interface Batch {
  events: KvEvent[];
  nowUs: number;
}

function setup(overrides: Partial<EngineConfig> = {}, withSink = true) {
  const timers = new VirtualTimers();
  const batches: Batch[] = [];
  const engine = new EngineCore(
    {
      maxNumSeqs: 64,
      maxNumBatchedTokens: 2048,
      numGpuBlocks: 1000,
      blockSize: BS,
      enablePrefixCaching: true,
      timeScale: 1,
      ...overrides,
    },
    model,
    timers,
    {},
    withSink ? { publish: (events, nowUs) => batches.push({ events: [...events], nowUs }) } : undefined,
  );
  return { timers, engine, batches };
}

function tokens(n: number, salt: number): number[] {
  return Array.from({ length: n }, (_, i) => (salt * 7919 + i) % 100000);
}

/** The chained hashes of the first `n` full blocks of `seq`. */
function chain(seq: readonly number[], n: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < n; k++)
    out.push(hashBlock(k === 0 ? NO_HASH : out[k - 1]!, (i) => seq[i]!, k * BS, BS));
  return out;
}

function submit(engine: EngineCore, req: EngineRequest) {
  const result: { summary?: RequestSummary; tokens: number } = { tokens: 0 };
  engine.submit(req, { onToken: () => result.tokens++, onFinish: (s) => (result.summary = s) });
  return result;
}

const all = (batches: Batch[]) => batches.flatMap((b) => b.events);

describe("EngineCore KV-cache events (vLLM block_pool.py)", () => {
  it("two-turn conversation -> first turn's blocks stored once per step, second turn stores only its new blocks", () => {
    const { timers, engine, batches } = setup();
    const prompt1 = tokens(40, 1);
    const out1 = tokens(10, 2);
    submit(engine, { id: "t1", promptTokenIds: prompt1, outputTokenIds: out1, finishReason: "stop" });
    timers.runAll();
    // Computed KV of turn 1: the prompt and 9 of its 10 outputs (the last is sampled, never fed back).
    const seq1 = [...prompt1, ...out1];
    const h1 = chain(seq1, 3);
    expect(all(batches)).toEqual([
      // The prefill step fills blocks 0 and 1: one event for both.
      {
        type: "BlockStored",
        blockHashes: [h1[0], h1[1]],
        parentBlockHash: null,
        tokenIds: seq1.slice(0, 32),
        blockSize: BS,
        loraId: null,
        medium: "GPU",
        loraName: null,
      },
      // Decode fills block 2 (8 prompt + 8 generated tokens) eight steps later.
      {
        type: "BlockStored",
        blockHashes: [h1[2]],
        parentBlockHash: h1[1],
        tokenIds: seq1.slice(32, 48),
        blockSize: BS,
        loraId: null,
        medium: "GPU",
        loraName: null,
      },
    ]);
    expect(batches.map((b) => b.events.length)).toEqual([1, 1]);

    batches.length = 0;
    const prompt2 = [...seq1, ...tokens(30, 3)];
    const t2 = submit(engine, {
      id: "t2",
      promptTokenIds: prompt2,
      outputTokenIds: [7],
      finishReason: "stop",
    });
    timers.runAll();
    expect(t2.summary!.cachedTokens).toBe(48);
    const h2 = chain(prompt2, 5);
    expect(h2.slice(0, 3)).toEqual(h1);
    // Blocks 0-2 were prefix hits: not announced again. Blocks 3-4 come in one event after block 2.
    expect(all(batches)).toEqual([
      {
        type: "BlockStored",
        blockHashes: [h2[3], h2[4]],
        parentBlockHash: h1[2],
        tokenIds: prompt2.slice(48, 80),
        blockSize: BS,
        loraId: null,
        medium: "GPU",
        loraName: null,
      },
    ]);
  });

  it("cached blocks freed -> no event; reallocated -> BlockRemoved(GPU), one per evicted cached block", () => {
    const { timers, engine, batches } = setup({ numGpuBlocks: 4 });
    const a = tokens(33, 1);
    submit(engine, { id: "a", promptTokenIds: a, outputTokenIds: [1], finishReason: "stop" });
    timers.runAll();
    const ha = chain(a, 2);
    // "a" finished and freed its blocks: only its store was published.
    expect(all(batches).map((e) => e.type)).toEqual(["BlockStored"]);
    expect(engine.stats().numFreeBlocks).toBe(4);

    batches.length = 0;
    const b = tokens(64, 2);
    submit(engine, { id: "b", promptTokenIds: b, outputTokenIds: [1], finishReason: "stop" });
    // The free queue hands out the never-cached block, a's partial block, then a's cached blocks
    // tail first (freed in reverse order).
    expect(batches).toEqual([
      {
        events: [
          { type: "BlockRemoved", blockHashes: [ha[1]], medium: "GPU" },
          { type: "BlockRemoved", blockHashes: [ha[0]], medium: "GPU" },
        ],
        nowUs: timers.nowUs(),
      },
    ]);
    timers.runAll();
    expect(all(batches).slice(2)).toMatchObject([{ type: "BlockStored", blockHashes: chain(b, 4) }]);
  });

  it("two requests computing the same prompt at once -> its blocks announced once", () => {
    const { timers, engine, batches } = setup();
    const p = tokens(40, 5);
    submit(engine, { id: "x", promptTokenIds: p, outputTokenIds: [1], finishReason: "stop" });
    submit(engine, { id: "y", promptTokenIds: p, outputTokenIds: [1], finishReason: "stop" });
    timers.runAll();
    const stored = all(batches).filter((e) => e.type === "BlockStored");
    expect(stored).toMatchObject([{ blockHashes: chain(p, 2), parentBlockHash: null }]);
  });

  it("reset_prefix_cache -> AllBlocksCleared at once; blocks cached again are announced again", () => {
    const { timers, engine, batches } = setup();
    const p = tokens(40, 1);
    submit(engine, { id: "a", promptTokenIds: p, outputTokenIds: [1], finishReason: "stop" });
    timers.runAll();
    batches.length = 0;
    timers.runUntil(timers.nowUs() + 1000);
    engine.resetPrefixCache();
    expect(batches).toEqual([{ events: [{ type: "AllBlocksCleared" }], nowUs: timers.nowUs() }]);
    const again = submit(engine, { id: "b", promptTokenIds: p, outputTokenIds: [1], finishReason: "stop" });
    timers.runAll();
    expect(again.summary!.cachedTokens).toBe(0);
    expect(all(batches).slice(1)).toMatchObject([{ type: "BlockStored", blockHashes: chain(p, 2) }]);
  });

  it("batches carry the engine clock of the step that produced them, one per step, never empty", () => {
    const { timers, engine, batches } = setup({ maxNumBatchedTokens: 32 });
    submit(engine, { id: "a", promptTokenIds: tokens(100, 1), outputTokenIds: [1, 2], finishReason: "stop" });
    timers.runAll();
    // Chunks of 32 tokens fill 2 blocks per step: 3 chunked-prefill steps with events, then the
    // last 4 tokens fill nothing.
    expect(batches.map((b) => b.events.length)).toEqual([1, 1, 1]);
    const times = batches.map((b) => b.nowUs);
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(new Set(times).size).toBe(3);
    expect(times[0]).toBeGreaterThan(0);
  });

  it("with a sink vs without -> identical token timelines (events change no behaviour)", () => {
    const run = (withSink: boolean) => {
      const { timers, engine } = setup({ numGpuBlocks: 40, maxNumSeqs: 3 }, withSink);
      const out: string[] = [];
      for (let i = 0; i < 8; i++)
        engine.submit(
          {
            id: `r${i}`,
            promptTokenIds: tokens(30 + i * 7, i % 3),
            outputTokenIds: tokens(20 + i, 9),
            finishReason: "stop",
          },
          { onToken: (index) => out.push(`${i}:${index}@${timers.nowUs()}`), onFinish: () => {} },
        );
      timers.runAll();
      return { out, stats: engine.stats() };
    };
    const a = run(true);
    const b = run(false);
    expect(a.out).toEqual(b.out);
    expect(a.stats).toEqual(b.stats);
  });
});
