/**
 * ZMQ on loopback: the publisher and subscriber against each other, both bind/connect directions,
 * topic filtering, replay of missed batches, publisher restarts, and clean exit after close().
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { Dealer, Publisher, Subscriber } from "zeromq";
import { afterEach, describe, expect, it } from "vitest";
import {
  ZmqEventPublisher,
  ZmqEventSubscriber,
  type EventBatch,
  type KvCacheEvent,
  type SubscriberOptions,
} from "../src/index";

const LOOPBACK_ANY = "tcp://127.0.0.1:*";

/** Polls `cond` every 10 ms; fails the test after `timeoutMs`. */
async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function storedEvent(n: number): KvCacheEvent {
  return {
    type: "BlockStored",
    blockHashes: [BigInt(n) + 2n ** 60n],
    parentBlockHash: null,
    tokenIds: [n, n + 1],
    blockSize: 2,
    loraId: null,
    medium: "GPU",
    loraName: null,
  };
}

/** A subscriber that records what it gets. */
async function recordingSubscriber(opts: Omit<SubscriberOptions, "onBatch" | "onReset" | "onError">) {
  const got: { seq: number; batch: EventBatch }[] = [];
  const resets: string[] = [];
  const errors: Error[] = [];
  const sub = await ZmqEventSubscriber.open({
    ...opts,
    onBatch: (batch, seq) => got.push({ seq, batch }),
    onReset: (reason) => resets.push(reason),
    onError: (err) => errors.push(err),
  });
  cleanups.push(() => sub.close());
  return { sub, got, resets, errors, seqs: () => got.map((g) => g.seq) };
}

async function openPublisher(opts: Parameters<typeof ZmqEventPublisher.open>[0]) {
  const pub = await ZmqEventPublisher.open(opts);
  cleanups.push(() => pub.close());
  return pub;
}

/** PUB/SUB drops what is sent before the subscription arrives: publish until something gets through. */
async function publishUntilReceived(pub: ZmqEventPublisher, received: () => number): Promise<void> {
  const before = received();
  const deadline = Date.now() + 5000;
  while (received() === before) {
    if (Date.now() > deadline) throw new Error("timed out waiting for the subscription to connect");
    pub.publish([{ type: "AllBlocksCleared" }], Date.now() / 1000);
    await sleep(20);
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

describe("ZmqEventPublisher → ZmqEventSubscriber", () => {
  it.each(["tagged_map", "array_like"] as const)(
    "publisher binds tcp://127.0.0.1:*, subscriber connects (%s) → every batch in order, decoded",
    async (encoding) => {
      const pub = await openPublisher({ endpoint: LOOPBACK_ANY, encoding, dataParallelRank: 2 });
      expect(pub.bound).toBe(true);
      expect(pub.endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
      const s = await recordingSubscriber({ endpoint: pub.endpoint });
      await publishUntilReceived(pub, () => s.got.length);
      const first = pub.nextSeq;
      for (let i = 0; i < 50; i++)
        pub.publish(
          [storedEvent(i), { type: "BlockRemoved", blockHashes: [BigInt(i)], medium: "CPU" }],
          1000 + i,
        );
      await waitFor("50 batches", () => s.got.length >= 50 + 1);
      const tail = s.got.slice(-50);
      expect(tail.map((g) => g.seq)).toEqual(Array.from({ length: 50 }, (_, i) => first + i));
      expect(tail[7]?.batch).toEqual({
        ts: 1007,
        dataParallelRank: 2,
        events: [storedEvent(7), { type: "BlockRemoved", blockHashes: [7n], medium: "CPU" }],
      });
      expect(s.resets).toEqual([]);
      expect(s.errors).toEqual([]);
      expect(s.sub.stats()).toMatchObject({ gaps: 0, resets: 0, decodeErrors: 0, lastSeq: first + 49 });
    },
  );

  it("subscriber binds tcp://127.0.0.1:*, publisher connects to it", async () => {
    const s = await recordingSubscriber({ endpoint: LOOPBACK_ANY, bind: true });
    expect(s.sub.endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const pub = await openPublisher({ endpoint: s.sub.endpoint });
    expect(pub.bound).toBe(false);
    expect(pub.endpoint).toBe(s.sub.endpoint);
    await publishUntilReceived(pub, () => s.got.length);
    for (let i = 0; i < 10; i++) pub.publish([storedEvent(i)], i);
    await waitFor("10 more batches", () => s.got.length >= 11);
    expect(s.got.at(-1)?.batch.events).toEqual([storedEvent(9)]);
    expect(s.resets).toEqual([]);
  });

  it("a burst that fills ZMQ's pipe waits its turn: no throw, every batch in order; past hwm, dropped with a warning", async () => {
    const warnings: string[] = [];
    const pub = await openPublisher({
      endpoint: LOOPBACK_ANY,
      hwm: 3000,
      onWarning: (m) => warnings.push(m),
    });
    const s = await recordingSubscriber({ endpoint: pub.endpoint });
    await publishUntilReceived(pub, () => s.got.length);
    // 2,000 batches of ~20 KB in one tick: zeromq.js alone throws EBUSY after a few hundred.
    const tokenIds = Array.from({ length: 4000 }, (_, i) => i);
    const big = (n: number): KvCacheEvent => ({
      type: "BlockStored",
      blockHashes: [BigInt(n)],
      parentBlockHash: null,
      tokenIds,
      blockSize: 4000,
      loraId: null,
      medium: "GPU",
      loraName: null,
    });
    const first = pub.nextSeq;
    for (let i = 0; i < 2000; i++) pub.publish([big(i)], i);
    expect(pub.pendingSends).toBeGreaterThan(0);
    await waitFor("2,000 large batches", () => s.got.length >= 2001, 20_000);
    expect(s.seqs().slice(-2000)).toEqual(Array.from({ length: 2000 }, (_, i) => first + i));
    expect(warnings).toEqual([]);
    // Beyond the high-water mark of waiting batches the newest are dropped, once warned.
    for (let i = 0; i < 5000; i++) pub.publish([big(i)], i);
    expect(pub.pendingSends).toBeLessThanOrEqual(3000);
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings[0]).toMatch(/batches dropped .*3000 already waiting/);
  });

  it("topic prefix → a matching subscription gets the batches, another gets none", async () => {
    const pub = await openPublisher({ endpoint: LOOPBACK_ANY, topic: "kv@node-1" });
    const match = await recordingSubscriber({ endpoint: pub.endpoint, topic: "kv@" });
    const other = await recordingSubscriber({ endpoint: pub.endpoint, topic: "kv@node-2" });
    await publishUntilReceived(pub, () => match.got.length);
    for (let i = 0; i < 5; i++) pub.publish([storedEvent(i)], i);
    await waitFor("5 more batches", () => match.got.length >= 6);
    await sleep(100);
    expect(other.got).toEqual([]);
  });

  it("missed batches → fetched from the replay socket, delivered once each, in order, no reset", async () => {
    const pub = await openPublisher({ endpoint: LOOPBACK_ANY, replayEndpoint: LOOPBACK_ANY });
    expect(pub.replayEndpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    // A relay between publisher and subscriber that loses 3 batches, as a lossy network or a full HWM would.
    const relay = await lossyRelay(pub.endpoint);
    const s = await recordingSubscriber({ endpoint: relay.endpoint, replayEndpoint: pub.replayEndpoint });
    await publishUntilReceived(pub, () => s.got.length);
    const start = pub.nextSeq;
    for (const seq of [start + 2, start + 3, start + 4]) relay.lose.add(seq);
    while (pub.nextSeq < start + 10) pub.publish([storedEvent(pub.nextSeq)], pub.nextSeq);
    await waitFor("the last batch", () => s.got.at(-1)?.seq === start + 9);
    const seqs = s.seqs();
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => (seqs[0] as number) + i));
    expect(s.resets).toEqual([]);
    expect(s.sub.stats()).toMatchObject({ gaps: 1, replayedBatches: expect.any(Number), resets: 0 });
    expect(s.sub.stats().replayedBatches).toBeGreaterThanOrEqual(3);
    expect(s.got.find((g) => g.seq === start + 3)?.batch.events).toEqual([storedEvent(start + 3)]);
  });

  it("the replay buffer no longer has the missed batches → reset gap, continue from the live seq", async () => {
    const pub = await openPublisher({ endpoint: LOOPBACK_ANY, replayEndpoint: LOOPBACK_ANY, bufferSteps: 2 });
    const relay = await lossyRelay(pub.endpoint);
    const s = await recordingSubscriber({ endpoint: relay.endpoint, replayEndpoint: pub.replayEndpoint });
    await publishUntilReceived(pub, () => s.got.length);
    const start = pub.nextSeq;
    for (let seq = start; seq < start + 10; seq++) relay.lose.add(seq);
    while (pub.nextSeq < start + 12) pub.publish([storedEvent(pub.nextSeq)], pub.nextSeq);
    await waitFor("the last batch", () => s.got.at(-1)?.seq === start + 11);
    expect(s.resets).toEqual(["gap"]);
    const seqs = s.seqs();
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it("no answer from the replay endpoint → reset gap after the timeout", async () => {
    const pub = await openPublisher({ endpoint: LOOPBACK_ANY });
    const relay = await lossyRelay(pub.endpoint);
    // Nothing listens on the discard port: the request is never answered.
    const s = await recordingSubscriber({
      endpoint: relay.endpoint,
      replayEndpoint: "tcp://127.0.0.1:9",
      replayTimeoutMs: 300,
    });
    await publishUntilReceived(pub, () => s.got.length);
    const lost = pub.nextSeq + 1;
    relay.lose.add(lost);
    while (pub.nextSeq < lost + 3) pub.publish([storedEvent(pub.nextSeq)], pub.nextSeq);
    await waitFor("the last batch", () => s.got.at(-1)?.seq === lost + 2);
    expect(s.resets).toEqual(["gap"]);
    expect(s.seqs()).not.toContain(lost);
  });

  it("publisher restarts (a new one, seq from 0) → reset restart, then its batches", async () => {
    const s = await recordingSubscriber({ endpoint: LOOPBACK_ANY, bind: true });
    const first = await openPublisher({ endpoint: s.sub.endpoint });
    await publishUntilReceived(first, () => s.got.length);
    while (first.nextSeq < 30) first.publish([storedEvent(first.nextSeq)], 0);
    await waitFor("seq 29", () => s.got.at(-1)?.seq === 29);
    await first.close();
    const second = await openPublisher({ endpoint: s.sub.endpoint });
    await publishUntilReceived(second, () => s.resets.length);
    expect(s.resets).toEqual(["restart"]);
    const after = s.got.at(-1)?.seq as number;
    expect(after).toBeLessThan(29);
    second.publish([storedEvent(1)], 0);
    await waitFor("the next batch", () => s.got.at(-1)?.seq === after + 1);
  });

  it('replay requests: ["", seq] and [seq] (no delimiter) answered in kind; bad shapes ignored with a warning', async () => {
    const warnings: string[] = [];
    const pub = await openPublisher({
      endpoint: LOOPBACK_ANY,
      replayEndpoint: LOOPBACK_ANY,
      onWarning: (m) => warnings.push(m),
    });
    for (let i = 0; i < 3; i++) pub.publish([storedEvent(i)], i);
    const dealer = new Dealer({ linger: 0 });
    cleanups.push(async () => dealer.close());
    dealer.connect(pub.replayEndpoint as string);
    const seq8 = (n: bigint) => {
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(n);
      return b;
    };
    /** Reads answers up to the end marker: [seq, payload length] per answer. */
    const readAnswers = async (delimited: boolean) => {
      const answers: [number, number][] = [];
      for await (const frames of dealer) {
        expect(frames).toHaveLength(delimited ? 3 : 2);
        if (delimited) expect((frames[0] as Buffer).length).toBe(0);
        const seq = Number((frames.at(-2) as Buffer).readBigInt64BE(0));
        answers.push([seq, (frames.at(-1) as Buffer).length]);
        if (seq === -1) break;
      }
      return answers;
    };
    await dealer.send(["", "x", "y"]);
    await dealer.send(["", Buffer.from([0, 0, 0, 1])]);
    await dealer.send(["", seq8(1n)]);
    const delimited = await readAnswers(true);
    expect(delimited.map(([seq]) => seq)).toEqual([1, 2, -1]);
    expect(delimited.at(-1)?.[1]).toBe(0);
    expect(delimited[0]?.[1]).toBeGreaterThan(0);
    await dealer.send(seq8(2n));
    expect((await readAnswers(false)).map(([seq]) => seq)).toEqual([2, -1]);
    expect(warnings).toEqual([
      `kv-events replay: ignored a request of 4 frames (want [identity, "", start_seq])`,
      "kv-events replay: ignored a start_seq of 4 bytes (want 8)",
    ]);
  });
});

/** A raw SUB → PUB relay that drops the seqs in `lose` (the subscriber connects to `endpoint`). */
async function lossyRelay(upstream: string) {
  const lose = new Set<number>();
  const sub = new Subscriber({ linger: 0 });
  sub.connect(upstream);
  sub.subscribe();
  const pub = new Publisher({ linger: 0 });
  await pub.bind(LOOPBACK_ANY);
  const loop = (async () => {
    for await (const frames of sub) {
      const seq = Number((frames[1] as Buffer).readBigInt64BE(0));
      if (!lose.has(seq)) await pub.send(frames);
    }
  })();
  cleanups.push(async () => {
    sub.close();
    pub.close();
    await loop;
  });
  return { endpoint: pub.lastEndpoint as string, lose };
}

describe("bundled with --external:zeromq", () => {
  const script = `
    import { encodeEventBatch, decodeEventBatch, ZmqEventPublisher, ZmqEventSubscriber } from "../src/index";
    const mode = process.argv[2];
    const batch = decodeEventBatch(encodeEventBatch({ ts: 1, events: [{ type: "AllBlocksCleared" }], dataParallelRank: 0 }, "tagged_map"));
    if (mode === "codec-only") {
      console.log("codec ok " + batch.events.length);
    } else {
      (async () => {
        const pub = await ZmqEventPublisher.open({ endpoint: "tcp://127.0.0.1:*", replayEndpoint: "tcp://127.0.0.1:*" });
        let got = 0;
        const sub = await ZmqEventSubscriber.open({ endpoint: pub.endpoint, replayEndpoint: pub.replayEndpoint, onBatch: () => got++ });
        while (got === 0) { pub.publish([{ type: "AllBlocksCleared" }], 1); await new Promise((r) => setTimeout(r, 20)); }
        await sub.close();
        await pub.close();
        console.log("zmq ok");
        // No process.exit: the process must end by itself, with no handle left open.
      })();
    }
  `;

  async function bundle(dir: string): Promise<string> {
    const entry = join(__dirname, "..", ".tmp", `bundle-entry-${process.pid}.ts`);
    mkdirSync(join(__dirname, "..", ".tmp"), { recursive: true });
    writeFileSync(entry, script);
    const outfile = join(dir, "main.js");
    try {
      await build({
        entryPoints: [entry],
        bundle: true,
        platform: "node",
        target: "node24",
        format: "cjs",
        external: ["zeromq"],
        outfile,
        logLevel: "silent",
      });
    } finally {
      rmSync(entry, { force: true });
    }
    return outfile;
  }

  function run(file: string, arg: string): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [file, arg], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`still running after 10 s (open handles?): ${out}`));
      }, 10_000);
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
  }

  it("without node_modules, a bundle that never opens a socket runs (zeromq is loaded lazily)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kv-events-bundle-"));
    try {
      const file = await bundle(dir);
      expect(await run(file, "codec-only")).toEqual({ code: 0, out: "codec ok 1\n" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("beside node_modules, publisher and subscriber work and the process exits by itself after close()", async () => {
    const dir = join(__dirname, "..", ".tmp", `bundle-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    try {
      const file = await bundle(dir);
      expect(await run(file, "zmq")).toEqual({ code: 0, out: "zmq ok\n" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
