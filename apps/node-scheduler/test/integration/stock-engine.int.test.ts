import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeClient, status } from "../grpc-client";
import { runRoundRobin, type RoundRobinResult } from "../round-robin";
import { scrape, startStockStack, type StockStack } from "../stock-stack";

/**
 * The node in front of a stock engine: mock-vllm with vLLM's KV-cache events (ZMQ) and native CPU
 * offload, a GPU cache too small for every session, and the node in `warmup` mode reading the
 * engine's events. Sessions are visited round-robin, so each returns after the others pushed its
 * context off the GPU (into the CPU tier).
 */
const SESSIONS = 6;
const TURNS = 4;
const GPU_BLOCKS = 80; // 1,280 tokens: room for two or three sessions' contexts
const MOCK_ARGS = [
  "--num-gpu-blocks",
  String(GPU_BLOCKS),
  "--max-model-len",
  String(GPU_BLOCKS * 16),
  "--kv-offloading-size",
  "1", // 512 blocks: every session fits the CPU tier
  "--enable-prompt-tokens-details",
  "--eos-mean-tokens",
  "0",
  "--seed",
  "3",
  // Slower than real time: turn times come from the model more than from this machine's load.
  "--time-scale",
  "0.5",
];

async function run(stack: StockStack, prefix: string, hints: boolean): Promise<RoundRobinResult> {
  const client = nodeClient(stack.node.ports.grpc!);
  try {
    return await runRoundRobin({
      client,
      prefix,
      sessions: SESSIONS,
      turns: TURNS,
      hints,
      maxOutputTokens: 24,
      padWords: 60,
    });
  } finally {
    client.close();
  }
}

const RETURNING = SESSIONS * (TURNS - 1);

describe("node-scheduler in warmup mode against mock-vllm with KV events and CPU offload", () => {
  let hinted: StockStack;
  let plain: StockStack;
  let withHints: RoundRobinResult;
  let withoutHints: RoundRobinResult;

  beforeAll(async () => {
    [hinted, plain] = await Promise.all([
      startStockStack(MOCK_ARGS, [
        "--prefetch-mode",
        "warmup",
        "--warmup-timing",
        "just-in-time",
        "--warmup-lead-ms",
        "0",
        "--warmup-min-gap-ms",
        "0",
      ]),
      startStockStack(MOCK_ARGS, ["--prefetch-mode", "off"]),
    ]);
    withHints = await run(hinted, "hinted", true);
    withoutHints = await run(plain, "plain", false);
  }, 180_000);

  afterAll(async () => {
    await hinted?.stop();
    await plain?.stop();
  });

  it("every turn finishes", () => {
    for (const r of [withHints, withoutHints]) {
      expect(r.errors).toEqual([]);
      expect(r.finished).toBe(SESSIONS * TURNS);
    }
  });

  it("the node's cached-prefix prediction from the events equals what the engine reports", async () => {
    // Turns run one at a time without hints: nothing changes the cache between dispatch and the
    // engine's lookup, so every prediction must be exact.
    const p = await scrape(plain.node.ports.metrics!);
    expect(p("symphony_node_residency_predictions_total", { result: "exact" })).toBe(RETURNING);
    // With hints a warm-up may still be running (or its events in flight) when its turn is
    // dispatched; most predictions are still exact.
    const h = await scrape(hinted.node.ports.metrics!);
    expect(h("symphony_node_residency_predictions_total")).toBe(RETURNING);
    expect(h("symphony_node_residency_predictions_total", { result: "exact" })).toBeGreaterThanOrEqual(
      RETURNING * 0.75,
    );
    for (const m of [p, h]) {
      expect(m("symphony_node_kv_events_total", { kind: "received" })).toBeGreaterThan(0);
      expect(m("symphony_node_kv_events_total", { kind: "decode_errors" })).toBe(0);
    }
  });

  it("without hints, returning contexts were pushed off the GPU into the CPU tier and loaded from there", async () => {
    const m = await scrape(plain.node.ports.metrics!);
    const engine = await scrape(plain.mock.ports.http!);
    expect(m("symphony_node_context_residency_total", { where: "gpu" })).toBeLessThan(RETURNING / 2);
    expect(m("symphony_node_context_residency_total", { where: "cpu" })).toBeGreaterThan(RETURNING / 2);
    expect(engine("vllm:external_prefix_cache_hits_total")).toBeGreaterThan(0);
    expect(m("symphony_node_warmups_total")).toBe(0);
  });

  it("with hints, warm-ups bring returning contexts back to the GPU before their turns", async () => {
    const m = await scrape(hinted.node.ports.metrics!);
    const p = await scrape(plain.node.ports.metrics!);
    const where = (w: string) => m("symphony_node_context_residency_total", { where: w });
    expect(withHints.hintsAccepted).toBe(RETURNING);
    const sent = m("symphony_node_warmups_total", { outcome: "sent" });
    // Every hint planned one warm-up: sent, or dropped because its turn came first.
    expect(sent + m("symphony_node_warmups_total", { outcome: "cancelled" })).toBe(RETURNING);
    // Every sent warm-up was scored once (all turns have finished).
    expect(
      m("symphony_node_warmups_total", { outcome: "useful" }) +
        m("symphony_node_warmups_total", { outcome: "wasted" }),
    ).toBe(sent);
    expect(where("gpu")).toBeGreaterThanOrEqual(RETURNING / 3);
    expect(where("gpu")).toBeGreaterThan(p("symphony_node_context_residency_total", { where: "gpu" }));
  });

  it("node status reports the engine's real cache: the GPU and CPU tokens its events describe", async () => {
    for (const stack of [hinted, plain]) {
      const client = nodeClient(stack.node.ports.grpc!);
      try {
        const s = await status(client);
        const gpu = s.kvTiers.find((t) => t.name === "gpu")!;
        const cpu = s.kvTiers.find((t) => t.name === "cpu")!;
        const engine = await scrape(stack.mock.ports.http!);
        // The mock's own count of cached blocks (its block pool and CPU tier), in tokens.
        expect(gpu.usedTokens).toBe(engine("symphony_mock_kv_cached_blocks", { medium: "GPU" }) * 16);
        expect(cpu.usedTokens).toBe(engine("symphony_mock_kv_cached_blocks", { medium: "CPU" }) * 16);
        expect(gpu.usedTokens).toBeGreaterThan(0);
        // No --kv-budget-tokens: the node took the engine's real capacity from its /metrics.
        expect(gpu.budgetTokens).toBe(GPU_BLOCKS * 16);
        // Per session: how much of its context the engine holds (what the scheduler routes on).
        expect(s.residencyFromEngine).toBe(true);
        expect(s.sessionResidency).toHaveLength(SESSIONS);
        for (const r of s.sessionResidency) {
          expect(r.contextTokens).toBeGreaterThan(0);
          expect(r.cachedTokens).toBeLessThanOrEqual(r.contextTokens);
          expect(r.cachedTokens % 16).toBe(0);
        }
        expect(cpu.usedTokens).toBeGreaterThan(0);
      } finally {
        client.close();
      }
    }
  });
});
