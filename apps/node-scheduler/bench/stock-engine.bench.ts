import { afterAll, expect, it } from "vitest";
import { percentileSorted } from "@symphony/measure";
import { nodeClient } from "../test/grpc-client";
import { runRoundRobin, type ReturningTurn } from "../test/round-robin";
import { scrape, startStockStack, type StockStack } from "../test/stock-stack";

/**
 * Warm-up prefetch against a stock engine: mock-vllm (Llama 3 8B on one H100, real time) with
 * vLLM's KV events, a GPU cache too small for the sessions, and the node in `warmup` vs `off`
 * mode. Sessions are visited round-robin (each returns after every other had a turn), the client
 * announces each return with Advise. Reported per configuration: mean and p99 TTFT of returning
 * turns (node queue + engine time to first token), where the engine held their context at
 * dispatch, and the warm-ups sent, useful and wasted.
 *
 *   npm run build && npm run bench -w @symphony/node-scheduler -- stock-engine
 */
const SESSIONS = Number(process.env.STOCK_BENCH_SESSIONS ?? 12);
const TURNS = Number(process.env.STOCK_BENCH_TURNS ?? 6);
/** GPU KV cache in blocks of 16 tokens (default 1,024 = 16k tokens: late contexts are ~4k tokens, about four sessions fit). */
const GPU_BLOCKS = Number(process.env.STOCK_BENCH_GPU_BLOCKS ?? 1024);
/** Words added to every user message (about 2.3 tokens each): the context grows by ~1k tokens a turn. */
const PAD_WORDS = Number(process.env.STOCK_BENCH_PAD_WORDS ?? 400);
const mockArgs = (cpuOffloadGiB: number) => [
  "--num-gpu-blocks",
  String(GPU_BLOCKS),
  "--max-model-len",
  String(GPU_BLOCKS * 16),
  ...(cpuOffloadGiB > 0 ? ["--kv-offloading-size", String(cpuOffloadGiB)] : []),
  "--enable-prompt-tokens-details",
  "--eos-mean-tokens",
  "0",
  "--seed",
  "7",
];

const stacks: StockStack[] = [];
afterAll(async () => {
  for (const s of stacks) await s.stop();
});

function ttftRow(turns: ReturningTurn[]): { mean: number; p99: number } {
  const ms = turns.map((t) => t.ttftMs).sort((a, b) => a - b);
  return { mean: ms.reduce((a, b) => a + b, 0) / ms.length, p99: percentileSorted(ms, 99) };
}

/** Warm-ups sent when the hint says the session is about due (sessions here return within a second). */
const JUST_IN_TIME = [
  ...["--prefetch-mode", "warmup", "--warmup-timing", "just-in-time"],
  ...["--warmup-lead-ms", "0", "--warmup-min-gap-ms", "0"],
];

it("stock engine: returning-turn TTFT with warm-ups vs without", async () => {
  const rows: string[] = [];
  const results = new Map<string, { mean: number; p99: number }>();
  for (const [label, offload, nodeArgs] of [
    ["CPU offload, no warm-ups", 4, ["--prefetch-mode", "off"]],
    ["CPU offload, warm-up just in time", 4, JUST_IN_TIME],
    ["CPU offload, warm-up at the hint", 4, ["--prefetch-mode", "warmup", "--warmup-min-gap-ms", "0"]],
    ["no offload, no warm-ups", 0, ["--prefetch-mode", "off"]],
    ["no offload, warm-up just in time", 0, JUST_IN_TIME],
  ] as const) {
    const stack = await startStockStack(mockArgs(offload), [...nodeArgs]);
    stacks.push(stack);
    const client = nodeClient(stack.node.ports.grpc!);
    const r = await runRoundRobin({
      client,
      prefix: label.replace(/\W+/g, "-"),
      sessions: SESSIONS,
      turns: TURNS,
      hints: true,
      maxOutputTokens: 32,
      padWords: PAD_WORDS,
      hintFraction: 0.9,
    });
    client.close();
    expect(r.errors).toEqual([]);
    const m = await scrape(stack.node.ports.metrics!);
    const t = ttftRow(r.returningTurns);
    results.set(label, t);
    const where = ["gpu", "cpu", "partial", "miss"]
      .map((w) => `${w} ${m("symphony_node_context_residency_total", { where: w })}`)
      .join(", ");
    const sent = m("symphony_node_warmups_total", { outcome: "sent" });
    const wasted = m("symphony_node_warmups_total", { outcome: "wasted" });
    rows.push(
      `${label.padEnd(34)} TTFT mean ${t.mean.toFixed(1).padStart(6)} ms, p99 ${t.p99.toFixed(1).padStart(6)} ms | ` +
        `context at dispatch: ${where} | warm-ups sent ${sent}, useful ${m("symphony_node_warmups_total", { outcome: "useful" })}, ` +
        `wasted ${wasted} (${sent > 0 ? ((wasted / sent) * 100).toFixed(0) : "0"} %), overtaken ${m("symphony_node_warmups_total", { outcome: "overtaken" })}`,
    );
    await stack.stop();
    stacks.pop();
  }
  const ratio = (a: string, b: string) => results.get(a)!.mean / results.get(b)!.mean;
  console.info(
    `[bench] stock engine (mock-vllm llama3-8b-h100, ${GPU_BLOCKS * 16}-token GPU cache), ${SESSIONS} sessions x ${TURNS} turns round-robin, ` +
      `returning turns only:\n${rows.join("\n")}\n` +
      `mean TTFT without / with just-in-time warm-ups: CPU offload ${ratio("CPU offload, no warm-ups", "CPU offload, warm-up just in time").toFixed(2)}x, ` +
      `no offload ${ratio("no offload, no warm-ups", "no offload, warm-up just in time").toFixed(2)}x`,
  );
});
