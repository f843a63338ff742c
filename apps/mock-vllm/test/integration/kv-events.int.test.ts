import { decodeEventBatch, type BlockStored, type EventBatch, type KvCacheEvent } from "@symphony/kv-events";
import { bundlePath, runCli, type RunningService } from "@symphony/testkit";
import { Unpackr } from "msgpackr";
import { Dealer, Subscriber } from "zeromq";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { metricValue, startMock } from "./helpers";

/** A user message of about `words` tokens, distinct per `salt`. */
function filler(words: number, salt: string): string {
  return Array.from({ length: words }, (_, i) => `${salt}${i % 97}`).join(" ");
}

interface Received {
  topic: string;
  seq: number;
  payload: Buffer;
  batch: EventBatch;
}

/** Reads [topic, seq, payload] messages from a SUB into `into` until closed. */
function collect(sub: Subscriber, into: Received[]): Promise<void> {
  return (async () => {
    try {
      for await (const [topic, seq, payload] of sub) {
        into.push({
          topic: topic!.toString(),
          seq: Number(seq!.readBigInt64BE(0)),
          payload: payload!,
          batch: decodeEventBatch(payload!),
        });
      }
    } catch {
      /* socket closed */
    }
  })();
}

async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for KV events");
    await new Promise((r) => setTimeout(r, 20));
  }
}

const events = (got: Received[]): KvCacheEvent[] => got.flatMap((r) => r.batch.events);
const stored = (got: Received[], medium: string) =>
  events(got).filter((e): e is BlockStored => e.type === "BlockStored" && e.medium === medium);

async function chat(base: string, content: string, maxTokens = 3) {
  const res = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ messages: [{ role: "user", content }], max_tokens: maxTokens }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { usage: { prompt_tokens: number; prompt_tokens_details: unknown } };
}

function kvEventsLog(svc: RunningService) {
  return svc.logs.find((l) => l.message === "listening" && l.kind === "kv-events") as
    { endpoint: string; replayEndpoint: string | null } | undefined;
}

describe("mock-vllm KV events and CPU offload (built bundle)", () => {
  const subs: (Subscriber | Dealer)[] = [];
  afterEach(() => {
    for (const s of subs.splice(0)) s.close();
  });

  describe("binding form (tcp://127.0.0.1:*), tagged_map, replay, native offload", () => {
    let svc: RunningService;
    let base: string;
    beforeAll(async () => {
      ({ svc, base } = await startMock([
        "--time-scale",
        "20",
        "--kv-events-config",
        JSON.stringify({
          enable_kv_cache_events: true,
          publisher: "zmq",
          endpoint: "tcp://127.0.0.1:*",
          replay_endpoint: "tcp://127.0.0.1:*",
          topic: "kv",
        }),
        "--kv-offloading-size",
        "1",
        "--kv-offloading-backend",
        "native",
      ]));
    });
    afterAll(async () => {
      await svc?.stop();
    });

    it("request -> GPU then CPU BlockStored on the wire; the replay socket answers from seq 0; /metrics has the offload series", async () => {
      const log = kvEventsLog(svc)!;
      expect(log.endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
      expect(log.replayEndpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
      const sub = new Subscriber();
      subs.push(sub);
      sub.connect(log.endpoint);
      sub.subscribe("kv");
      const got: Received[] = [];
      void collect(sub, got);
      await new Promise((r) => setTimeout(r, 300)); // ZMQ's slow joiner: let the SUB attach

      const first = await chat(base, filler(300, "a"));
      await until(() => stored(got, "CPU").length > 0);
      const gpu = stored(got, "GPU");
      const cpu = stored(got, "CPU");
      const promptBlocks = Math.floor(first.usage.prompt_tokens / 16);
      expect(gpu[0]).toMatchObject({ parentBlockHash: null, blockSize: 16, loraId: null, loraName: null });
      expect(gpu[0]!.blockHashes).toHaveLength(promptBlocks);
      expect(gpu[0]!.tokenIds).toHaveLength(promptBlocks * 16);
      // Write-through: the same blocks, the same chain, announced for the CPU tier.
      expect(cpu[0]!.blockHashes).toEqual(gpu[0]!.blockHashes);
      expect(cpu[0]!.tokenIds).toEqual(gpu[0]!.tokenIds);
      expect(got.every((r) => r.topic === "kv")).toBe(true);
      expect(got.map((r) => r.seq)).toEqual(got.map((_, i) => i));
      // vLLM's ts is wall-clock seconds.
      expect(Math.abs(got[0]!.batch.ts - Date.now() / 1000)).toBeLessThan(30);
      // Without --enable-prompt-tokens-details vLLM reports no details.
      expect(first.usage.prompt_tokens_details).toBeNull();

      const dealer = new Dealer();
      subs.push(dealer);
      dealer.connect(log.replayEndpoint!);
      const start = Buffer.alloc(8);
      start.writeBigInt64BE(0n);
      await dealer.send([Buffer.alloc(0), start]);
      const replayed: number[] = [];
      for (;;) {
        const [, seqFrame, payload] = await dealer.receive();
        const seq = Number(seqFrame!.readBigInt64BE(0));
        if (seq === -1) break;
        expect(payload!.equals(got[seq]!.payload)).toBe(true);
        replayed.push(seq);
      }
      expect(replayed).toEqual(got.map((r) => r.seq));

      const metrics = await (await fetch(`${base}/metrics`)).text();
      const bytes = 2 * 1024 * 1024; // one 16-token block of Llama 3 8B
      expect(metricValue(metrics, "vllm:kv_offload_total_bytes_total", 'transfer_type="GPU_to_CPU"')).toBe(
        cpu.reduce((n, e) => n + e.blockHashes.length, 0) * bytes,
      );
      expect(
        metricValue(metrics, "vllm:kv_offload_total_time_total", 'transfer_type="GPU_to_CPU"'),
      ).toBeGreaterThan(0);
      expect(
        metricValue(metrics, "vllm:kv_offload_size_count", 'transfer_type="GPU_to_CPU"'),
      ).toBeGreaterThan(0);
      expect(metricValue(metrics, "vllm:kv_offload_cpu_cache_usage_perc")).toBeGreaterThan(0);
      expect(metricValue(metrics, "vllm:external_prefix_cache_queries_total")).toBeGreaterThanOrEqual(
        first.usage.prompt_tokens,
      );
      expect(metricValue(metrics, "vllm:kv_offload_total_bytes_total", 'transfer_type="CPU_to_GPU"')).toBe(0);
    });

    it("POST /reset_prefix_cache without VLLM_SERVER_DEV_MODE -> 404, as vLLM", async () => {
      const res = await fetch(`${base}/reset_prefix_cache`, { method: "POST" });
      expect(res.status).toBe(404);
    });
  });

  describe("connecting form (the consumer binds), array_like", () => {
    let svc: RunningService;
    let base: string;
    let sub: Subscriber;
    let endpoint: string;
    const got: Received[] = [];
    beforeAll(async () => {
      sub = new Subscriber();
      await sub.bind("tcp://127.0.0.1:*");
      sub.subscribe();
      endpoint = sub.lastEndpoint!;
      void collect(sub, got);
      const before = process.env.VLLM_SERVER_DEV_MODE;
      process.env.VLLM_SERVER_DEV_MODE = "1";
      try {
        ({ svc, base } = await startMock([
          "--time-scale",
          "20",
          "--enable-prompt-tokens-details",
          "--kv-events-config",
          JSON.stringify({ enable_kv_cache_events: true, endpoint, event_encoding: "array_like" }),
        ]));
      } finally {
        if (before === undefined) delete process.env.VLLM_SERVER_DEV_MODE;
        else process.env.VLLM_SERVER_DEV_MODE = before;
      }
    });
    afterAll(async () => {
      await svc?.stop();
      sub?.close();
    });

    it("two turns -> array-like batches, the second turn announces only its new blocks; reset -> AllBlocksCleared", async () => {
      expect(kvEventsLog(svc)).toEqual(expect.objectContaining({ endpoint, replayEndpoint: null }));
      await new Promise((r) => setTimeout(r, 300));
      const user1 = filler(200, "b");
      await chat(base, user1);
      await until(() => stored(got, "GPU").length > 0);
      const raw = new Unpackr({ int64AsType: "bigint", mapsAsObjects: true }).unpack(got[0]!.payload);
      expect(Array.isArray(raw)).toBe(true); // [ts, events, data_parallel_rank]
      const firstTurn = stored(got, "GPU").flatMap((e) => e.blockHashes);

      const second = await chat(base, `${user1} and more words to extend the conversation a lot`);
      const cached = (second.usage.prompt_tokens_details as { cached_tokens: number }).cached_tokens;
      expect(cached).toBeGreaterThan(0);
      await until(() => stored(got, "GPU").length > 1);
      const secondTurn = stored(got, "GPU").slice(1);
      // The cached prefix is not announced again; the new blocks chain onto it.
      for (const e of secondTurn) for (const h of e.blockHashes) expect(firstTurn).not.toContainEqual(h);
      expect(firstTurn).toContainEqual(secondTurn[0]!.parentBlockHash);

      const reset = await fetch(`${base}/reset_prefix_cache`, { method: "POST" });
      expect(reset.status).toBe(200);
      await until(() => events(got).some((e) => e.type === "AllBlocksCleared"));
    });
  });

  it.each([
    [["--kv-events-config", "{not json"], /--kv-events-config/],
    [["--kv-events-config", '{"enable_kv_cache_events": true, "hwm": -5}'], /kv-events-config\.hwm/],
    [["--kv-offloading-backend", "lmcache", "--kv-offloading-size", "4"], /--kv-offloading-backend lmcache/],
    [["--kv-offloading-backend", "disk"], /--kv-offloading-backend/],
  ])("%j -> exit 2 with one line naming the flag", async (args, message) => {
    const r = await runCli(bundlePath("mock-vllm"), args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});
