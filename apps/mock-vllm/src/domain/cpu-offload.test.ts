import { VirtualTimers } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { cpuBlocksFor, CpuOffloadTier, type BlockSource, type CpuOffloadConfig } from "./cpu-offload";
import { EngineCore, type EngineConfig, type EngineRequest, type RequestSummary } from "./engine-core";
import { hashBlock, NO_HASH } from "./kv-cache";
import { KvEventQueue, type KvEvent } from "./kv-events";
import { kvBytesPerToken, PROFILES } from "./profiles";
import { coefficientsFor, StepTimeModel } from "./step-time-model";

const profile = PROFILES["llama3-8b-h100"]!;
const model = new StepTimeModel(coefficientsFor(profile));
const BS = 16;
const BLOCK_BYTES = BS * kvBytesPerToken(profile.model); // 2 MiB for Llama 3 8B

function tokens(n: number, salt: number): number[] {
  return Array.from({ length: n }, (_, i) => (salt * 7919 + i) % 100000);
}

function chain(seq: readonly number[], n: number): number[] {
  const out: number[] = [];
  for (let k = 0; k < n; k++)
    out.push(hashBlock(k === 0 ? NO_HASH : out[k - 1]!, (i) => seq[i]!, k * BS, BS));
  return out;
}

function source(seq: readonly number[]): BlockSource {
  const hashes = chain(seq, Math.floor(seq.length / BS));
  return { hashAt: (k) => hashes[k]!, tokenAt: (i) => seq[i]! };
}

describe("cpuBlocksFor", () => {
  it("--kv-offloading-size 1 GiB, Llama 3 8B, block 16 -> 512 blocks of 2 MiB", () => {
    expect(cpuBlocksFor(1, 16, kvBytesPerToken(profile.model))).toBe(512);
    expect(cpuBlocksFor(0.5, 16, kvBytesPerToken(profile.model))).toBe(256);
  });
});

describe("CpuOffloadTier (vLLM's CPU backend with the LRU manager)", () => {
  const config: CpuOffloadConfig = { numCpuBlocks: 4, bytesPerBlock: 1000, linkBytesPerUs: 10 };

  it("store -> findable and announced only when the copy completes; already stored blocks are not copied again", () => {
    const events = new KvEventQueue();
    const tier = new CpuOffloadTier<string>(config, BS, 1, events);
    const seq = source(tokens(48, 1));
    expect(tier.store(0, seq, 0, 2)).toBe(true);
    expect(tier.lookup(seq, 0, 3)).toBe(0); // copy in flight
    expect(tier.nextCompletionUs()).toBe(200); // 2 blocks x 1000 B / 10 B/µs
    tier.advance(199);
    expect(events.length).toBe(0);
    tier.advance(200);
    expect(tier.lookup(seq, 0, 3)).toBe(2);
    expect(events.take()).toMatchObject([
      {
        type: "BlockStored",
        medium: "CPU",
        blockHashes: [seq.hashAt(0), seq.hashAt(1)],
        parentBlockHash: null,
      },
    ]);
    // Blocks 0-1 are there: only block 2 is copied, announced with block 1 as its parent.
    expect(tier.store(300, seq, 0, 3)).toBe(true);
    expect(tier.nextCompletionUs()).toBe(400);
    tier.advance(400);
    expect(events.take()).toMatchObject([
      {
        type: "BlockStored",
        blockHashes: [seq.hashAt(2)],
        parentBlockHash: seq.hashAt(1),
        tokenIds: tokens(48, 1).slice(32),
      },
    ]);
    expect(tier.stats()).toMatchObject({ gpuToCpuBytes: 3000, gpuToCpuTimeUs: 300, numUsedCpuBlocks: 3 });
  });

  it("full tier -> LRU blocks evicted in one BlockRemoved(CPU); blocks a load holds are not evictable", () => {
    const events = new KvEventQueue();
    const tier = new CpuOffloadTier<string>(config, BS, 1, events);
    const a = source(tokens(32, 1));
    const b = source(tokens(32, 2));
    const c = source(tokens(32, 3));
    tier.store(0, a, 0, 2);
    tier.store(0, b, 0, 2);
    tier.advance(1e6);
    events.take();
    tier.touch(a, 0, 2); // a becomes most recently used: b is evicted first
    expect(tier.store(1e6, c, 0, 2)).toBe(true);
    expect(events.take()).toEqual([
      { type: "BlockRemoved", blockHashes: [b.hashAt(0), b.hashAt(1)], medium: "CPU" },
    ]);
    tier.advance(2e6);
    // a is being loaded, c is all that could go: not enough room for 3 blocks -> store skipped.
    tier.load(2e6, a, 0, 2, "req-a");
    const d = source(tokens(48, 4));
    expect(tier.store(2e6, d, 0, 3)).toBe(false);
    expect(tier.stats().storesSkipped).toBe(1);
    expect(events.take().filter((e) => e.type === "BlockRemoved")).toEqual([]);
    expect(tier.advance(2e6 + 200)).toEqual(["req-a"]);
    expect(tier.store(2e6 + 200, d, 0, 3)).toBe(true);
  });

  it("loads and stores -> one FIFO stream per direction, durations divided by the time scale", () => {
    const tier = new CpuOffloadTier<number>(config, BS, 2, null);
    const a = source(tokens(64, 1));
    tier.store(0, a, 0, 2);
    tier.store(0, a, 2, 4); // queued behind the first copy
    expect(tier.nextCompletionUs()).toBe(100);
    tier.advance(100);
    expect(tier.nextCompletionUs()).toBe(200);
    tier.advance(200);
    expect(tier.load(300, a, 0, 4, 1)).toBe(500);
    expect(tier.stats()).toMatchObject({ cpuToGpuBytes: 4000, cpuToGpuTimeUs: 200 });
  });
});

interface Batch {
  events: KvEvent[];
  nowUs: number;
}

function engineSetup(overrides: Partial<EngineConfig> = {}, linkGBs = 50) {
  const timers = new VirtualTimers();
  const batches: Batch[] = [];
  const transfers: { type: string; bytes: number; durationUs: number }[] = [];
  const config: EngineConfig = {
    maxNumSeqs: 64,
    maxNumBatchedTokens: 2048,
    numGpuBlocks: 1000,
    blockSize: BS,
    enablePrefixCaching: true,
    timeScale: 1,
    cpuOffload: { numCpuBlocks: 64, bytesPerBlock: BLOCK_BYTES, linkBytesPerUs: linkGBs * 1e3 },
    ...overrides,
  };
  const engine = new EngineCore(
    config,
    model,
    timers,
    { onKvTransfer: (type, bytes, durationUs) => transfers.push({ type, bytes, durationUs }) },
    { publish: (events, nowUs) => batches.push({ events: [...events], nowUs }) },
  );
  return { timers, engine, batches, transfers };
}

function submit(engine: EngineCore, timers: VirtualTimers, req: EngineRequest) {
  const r: { summary?: RequestSummary; tokenUs: number[] } = { tokenUs: [] };
  engine.submit(req, { onToken: () => r.tokenUs.push(timers.nowUs()), onFinish: (s) => (r.summary = s) });
  return r;
}

const req = (id: string, prompt: number[], outputs = 1): EngineRequest => ({
  id,
  promptTokenIds: prompt,
  outputTokenIds: tokens(outputs, 99),
  finishReason: "length",
});

describe("EngineCore with native CPU offload", () => {
  it("write-through -> BlockStored(CPU) with the GPU event's hashes and chain, after the modelled copy, without delaying steps", () => {
    const { timers, engine, batches } = engineSetup();
    const p = tokens(40, 1);
    const t = submit(engine, timers, req("a", p, 2));
    timers.runAll();
    const events = batches.flatMap((b) => b.events);
    const gpu = events.filter((e) => e.type === "BlockStored" && e.medium === "GPU");
    const cpu = events.filter((e) => e.type === "BlockStored" && e.medium === "CPU");
    expect(cpu).toEqual(gpu.map((e) => ({ ...e, medium: "CPU" })));
    expect(cpu).toMatchObject([
      { blockHashes: chain(p, 2), parentBlockHash: null, tokenIds: p.slice(0, 32) },
    ]);
    const gpuAt = batches.find((b) =>
      b.events.some((e) => e.type === "BlockStored" && e.medium === "GPU"),
    )!.nowUs;
    const cpuAt = batches.find((b) =>
      b.events.some((e) => e.type === "BlockStored" && e.medium === "CPU"),
    )!.nowUs;
    expect(cpuAt - gpuAt).toBeGreaterThanOrEqual((2 * BLOCK_BYTES) / 50e3);
    expect(engine.cpuTierHas(chain(p, 1)[0]!)).toBe(true);
    // Same token times as an engine without offload: stores never delay a step.
    const plain = new VirtualTimers();
    const ref: number[] = [];
    new EngineCore({ ...engine.config, cpuOffload: undefined }, model, plain).submit(req("a", p, 2), {
      onToken: () => ref.push(plain.nowUs()),
      onFinish: () => {},
    });
    plain.runAll();
    expect(t.tokenUs).toEqual(ref);
    expect(engine.stats().offload).toMatchObject({ gpuToCpuBytes: 2 * BLOCK_BYTES, numUsedCpuBlocks: 2 });
  });

  it("CPU tier full -> its LRU blocks evicted with BlockRemoved(CPU)", () => {
    const { timers, engine, batches } = engineSetup({
      cpuOffload: { numCpuBlocks: 4, bytesPerBlock: BLOCK_BYTES, linkBytesPerUs: 50e3 },
    });
    const prompts = [tokens(40, 1), tokens(40, 2), tokens(40, 3)];
    for (const [i, p] of prompts.entries()) {
      submit(engine, timers, req(`r${i}`, p));
      timers.runAll();
    }
    const removed = batches.flatMap((b) => b.events).filter((e) => e.type === "BlockRemoved");
    expect(removed).toEqual([{ type: "BlockRemoved", blockHashes: chain(prompts[0]!, 2), medium: "CPU" }]);
    expect(engine.stats().offload!.cpuCacheUsage).toBe(1);
  });

  it("returning request after its GPU blocks were evicted -> prefix loaded from the CPU tier, cached_tokens = CPU hits, waits the PCIe copy", () => {
    // 8 GPU blocks: a 120-token filler evicts everything turn 1 cached. Slow link (1 GB/s) so the
    // 4-block load (8 MiB) takes 8.4 ms, longer than a decode step.
    const { timers, engine, batches, transfers } = engineSetup({ numGpuBlocks: 8 }, 1);
    const p1 = tokens(64, 1);
    submit(engine, timers, req("t1", p1));
    timers.runAll();
    submit(engine, timers, req("filler", tokens(120, 2)));
    timers.runAll();
    const h = chain(p1, 4);
    expect(batches.flatMap((b) => b.events)).toContainEqual({
      type: "BlockRemoved",
      blockHashes: [h[0]],
      medium: "GPU",
    });

    batches.length = 0;
    const p2 = [...p1, ...tokens(21, 3)];
    const loadUs = (4 * BLOCK_BYTES) / 1e3;
    const start = timers.nowUs();
    const t2 = submit(engine, timers, req("t2", p2));
    expect(engine.stats().numWaiting).toBe(1); // waiting for the copy, not running
    timers.runAll();
    expect(t2.summary!.cachedTokens).toBe(64);
    expect(engine.stats()).toMatchObject({ externalPrefixCacheHits: 64 });
    expect(transfers.filter((x) => x.type === "CPU_to_GPU")).toEqual([
      { type: "CPU_to_GPU", bytes: 4 * BLOCK_BYTES, durationUs: loadUs },
    ]);
    // TTFT = the copy, then one prefill step of the 21 uncached tokens over 64 loaded ones.
    const prefill = model.stepUs({
      prefillTokens: 21,
      prefillAttentionPairs: 21 * (64 + 21 / 2),
      decodeSeqs: 0,
      kvTokensRead: 64,
      numSeqs: 1,
    });
    const ttft = t2.tokenUs[0]! - start;
    expect(ttft).toBeGreaterThanOrEqual(loadUs + prefill - 1);
    expect(ttft).toBeLessThanOrEqual(loadUs + prefill + 2);
    // After the load the blocks are GPU-cached again (announced), then the new block 4 is stored.
    const gpuStored = batches
      .flatMap((b) => b.events)
      .filter((e) => e.type === "BlockStored" && e.medium === "GPU");
    expect(gpuStored).toMatchObject([
      { blockHashes: h, parentBlockHash: null },
      { blockHashes: [chain(p2, 5)[4]], parentBlockHash: h[3] },
    ]);
  });

  it("while a request waits for its CPU load -> other requests keep stepping", () => {
    const { timers, engine } = engineSetup({ numGpuBlocks: 8 }, 0.5);
    const p1 = tokens(64, 1);
    submit(engine, timers, req("t1", p1));
    timers.runAll();
    submit(engine, timers, req("filler", tokens(120, 2)));
    timers.runAll();
    const bg = submit(engine, timers, req("bg", tokens(20, 5), 20));
    timers.runUntil(timers.nowUs() + 100);
    const submitted = timers.nowUs();
    const t2 = submit(engine, timers, req("t2", [...p1, 1, 2, 3]));
    const loadUs = (4 * BLOCK_BYTES) / 500; // 16.8 ms, about 2.5 decode steps
    timers.runAll();
    expect(t2.summary!.cachedTokens).toBe(64);
    expect(t2.tokenUs[0]! - submitted).toBeGreaterThan(loadUs);
    expect(bg.tokenUs.filter((t) => t > submitted && t < t2.tokenUs[0]!).length).toBeGreaterThanOrEqual(3);
  });

  it("preempted request -> its recompute finds the blocks it wrote through in the CPU tier", () => {
    // 12 GPU blocks, no prefix caching: 3 requests of 40 + 60 tokens cannot all stay resident.
    const { timers, engine } = engineSetup({ numGpuBlocks: 12, enablePrefixCaching: false });
    const traces = Array.from({ length: 3 }, (_, i) =>
      submit(engine, timers, req(`r${i}`, tokens(40, i + 1), 60)),
    );
    timers.runAll();
    const s = engine.stats();
    expect(s.numPreemptions).toBeGreaterThan(0);
    expect(s.offload!.cpuToGpuBytes).toBeGreaterThan(0);
    expect(s.externalPrefixCacheHits).toBeGreaterThan(0);
    for (const t of traces) expect(t.summary!.completionTokens).toBe(60);
    expect(s.kvCacheUsage).toBe(0);
  });

  it("abort while its KV is loading -> finished as abort, blocks freed, the load's completion is ignored", () => {
    const { timers, engine } = engineSetup({ numGpuBlocks: 8 }, 0.5);
    const p1 = tokens(64, 1);
    submit(engine, timers, req("t1", p1));
    timers.runAll();
    submit(engine, timers, req("filler", tokens(120, 2)));
    timers.runAll();
    const t2 = submit(engine, timers, req("t2", [...p1, 1, 2, 3]));
    expect(engine.abort("t2")).toBe(true);
    timers.runAll();
    expect(t2.summary!.finishReason).toBe("abort");
    expect(engine.stats()).toMatchObject({ numWaiting: 0, numRunning: 0, kvCacheUsage: 0 });
  });
});
