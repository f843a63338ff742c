import { existsSync } from "node:fs";
import { join } from "node:path";
import { bundlePath, repoRoot, spawnService, type RunningService } from "@symphony/testkit";
import { afterAll, expect, it } from "vitest";
import { FakeEngine } from "../test/fake-engine";
import { nodeClient, submit, chatTurn } from "../test/grpc-client";
import { scrapeNode } from "../test/metrics-scrape";
import { gpuHitRate, runRoundRobin } from "../test/round-robin";

/**
 * End-to-end figures through the built node-scheduler bundle:
 * 1. GPU hit rate of returning turns with and without Advise hints (8 sessions x 6 turns,
 *    round-robin, GPU budget for ~3 sessions), against mock-vllm when built, else the fake engine;
 * 2. per-turn latency the node adds over calling the (instant) fake engine directly.
 */
const stops: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

async function node(engineUrl: string, args: string[]): Promise<RunningService> {
  const n = await spawnService(
    "node-scheduler",
    bundlePath("node-scheduler"),
    ["--port", "0", "--metrics-port", "0", "--engine-url", engineUrl, ...args],
    ["grpc", "metrics"],
  );
  stops.push(() => n.stop());
  return n;
}

it("residency: GPU hit rate with vs without hints", async () => {
  const mockBundle = join(repoRoot, "dist", "apps", "mock-vllm", "main.js");
  let engineUrl: string;
  let engineName: string;
  if (existsSync(mockBundle)) {
    const mock = await spawnService(
      "mock-vllm",
      mockBundle,
      ["--port", "0", "--kv-connector", "--enable-prompt-tokens-details"],
      ["http"],
    );
    stops.push(() => mock.stop());
    engineUrl = `http://127.0.0.1:${mock.ports.http}/v1`;
    engineName = "mock-vllm (llama3-8b-h100, time-scale 1)";
  } else {
    const fake = await new FakeEngine().start();
    fake.chunkDelayMs = 4;
    stops.push(() => fake.stop());
    engineUrl = fake.url;
    engineName = "fake engine";
  }
  const args = [
    "--prefetch-mode",
    "directive",
    "--kv-budget-tokens",
    "1200",
    "--cpu-budget-tokens",
    "100000",
    "--offload-gbps",
    "1",
  ];
  const rows: string[] = [];
  for (const [label, policy, hints, extra] of [
    ["hint-aware + hints", "hint-aware", true, []],
    ["+ --gpu-free-target 0.3", "hint-aware", true, ["--gpu-free-target", "0.3"]],
    ["hint-aware, no hints", "hint-aware", false, []],
    ["lru + hints (ignored)", "lru", true, []],
  ] as const) {
    const n = await node(engineUrl, [...args, "--residency-policy", policy, ...extra]);
    const client = nodeClient(n.ports.grpc!);
    const r = await runRoundRobin({
      client,
      prefix: label.replace(/\W+/g, "-"),
      sessions: 8,
      turns: 6,
      hints,
      maxOutputTokens: 32,
    });
    client.close();
    const m = await scrapeNode(n.ports.metrics!);
    const queueMs =
      (m("symphony_node_queue_seconds_sum") / Math.max(1, m("symphony_node_queue_seconds_count"))) * 1000;
    const sum = m("symphony_node_kv_restore_seconds_sum");
    const count = m("symphony_node_kv_restore_seconds_count");
    rows.push(
      `${label.padEnd(24)} gpu-hit ${(gpuHitRate(r) * 100).toFixed(0).padStart(3)}%  ` +
        `(gpu ${r.returning.gpu}, cpu ${r.returning.cpu}, evicted ${r.returning.evicted})  ` +
        `offloads ${m("symphony_node_offloads_total")}, prefetches ${m("symphony_node_prefetches_total")}, ` +
        `restores ${m("symphony_node_restores_total")}, mean restore wait ${((sum / Math.max(1, count)) * 1000).toFixed(1)} ms, ` +
        `mean queue ${queueMs.toFixed(1)} ms, ` +
        `wall ${(r.wallMs / 1000).toFixed(2)} s, errors ${r.errors.length}`,
    );
    expect(r.errors).toEqual([]);
  }
  console.info(
    `[bench] residency on ${engineName}, 8 sessions x 6 turns, GPU budget 1200 tokens:\n${rows.join("\n")}`,
  );
});

it("overhead: latency the node adds per turn (fake engine, no delay)", async () => {
  const fake = await new FakeEngine().start();
  stops.push(() => fake.stop());
  const n = await node(fake.url, []);
  const client = nodeClient(n.ports.grpc!);
  const N = 300;
  const viaNode: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await submit(client, chatTurn({ sessionId: `o-${i % 20}`, requestId: `o${i}` }));
    viaNode.push(performance.now() - t0);
  }
  const direct: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    const res = await fetch(`${fake.url}/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "fake-model",
        messages: [{ role: "user", content: "hi" }],
        max_tokens: 16,
        stream: true,
      }),
    });
    await res.text();
    direct.push(performance.now() - t0);
  }
  // Throughput: 32 concurrent streams.
  const t0 = performance.now();
  let done = 0;
  await Promise.all(
    Array.from({ length: 32 }, async (_, w) => {
      for (let i = 0; i < 30; i++) {
        await submit(client, chatTurn({ sessionId: `c-${w}`, requestId: `c${w}-${i}` }));
        done++;
      }
    }),
  );
  const tps = done / ((performance.now() - t0) / 1000);
  client.close();
  const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.info(
    `[bench] overhead: p50 via node ${p50(viaNode).toFixed(2)} ms vs direct HTTP ${p50(direct).toFixed(2)} ms ` +
      `(node adds ${(p50(viaNode) - p50(direct)).toFixed(2)} ms); 32 concurrent streams: ${tps.toFixed(0)} turns/s`,
  );
  expect(tps).toBeGreaterThan(50);
});
