import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundlePath, repoRoot, runCli, startLocalStack, type LocalStack } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const simulatorBundle = join(repoRoot, "dist", "apps", "simulator", "main.js");

/** Words that are one cl100k token each with a leading space (so prompt lengths are exact). */
const WORDS =
  "time year people way day thing world school state family group country problem hand part place case week company system program question work number night point home water room area money story fact month book".split(
    " ",
  );

/**
 * A ShareGPT dataset of `conversations` x `turns` turns whose user messages are `promptWords`
 * words long and whose replies are `replyWords` words: long prompts make TTFT engine-bound
 * (prefill of a thousand new tokens per turn), so process and network overheads of the live
 * stack, which the simulation models only as link latency, stay small next to it.
 */
function longPromptDataset(
  conversations: number,
  turns: number,
  promptWords: number,
  replyWords: number,
): unknown {
  let x = 12345;
  const word = () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return WORDS[(x >>> 8) % WORDS.length]!;
  };
  const text = (n: number) => Array.from({ length: n }, word).join(" ");
  return Array.from({ length: conversations }, (_, c) => ({
    id: `long-${c}`,
    conversations: Array.from({ length: turns }, () => [
      { from: "human", value: text(promptWords) },
      { from: "gpt", value: text(replyWords) },
    ]).flat(),
  }));
}

/**
 * Scale of the comparison. The defaults keep the test under a minute; the README's larger run
 * sets VALIDATION_NODES=4 VALIDATION_CLIENTS=32 VALIDATION_REQUESTS=400.
 */
const NODES = Number(process.env.VALIDATION_NODES ?? 2);
const CLIENTS = Number(process.env.VALIDATION_CLIENTS ?? 8);
const REQUESTS = Number(process.env.VALIDATION_REQUESTS ?? 96);
/**
 * The engine profile of both sides: Llama 2 13B on an A100 is compute-heavy enough that a
 * ~1000-token prefill takes ~150 ms and a decode step ~17 ms, so the live stack's own costs
 * (gRPC/HTTP hops, JSON, the node tokenizing every message) are a few percent of each latency,
 * as they are on real GPUs. (With an 8B H100 profile and short prompts they dominate.)
 */
const PROFILE = "llama2-13b-a100";
/** KV bytes per token of that model (40 layers x 40 KV heads x 128 x 2 B x K and V), for the live node. */
const KV_BYTES_PER_TOKEN = 819_200;
/** Words (= tokens) of each user message: 3 turns stay below the model's 4096-token context. */
const PROMPT_WORDS = 1000;

/** Per-process time limit, ms: a minute at the default scale, more for larger runs. */
const RUN_TIMEOUT_MS = 60_000 * Math.max(1, Math.ceil((REQUESTS / 96) * (8 / CLIENTS) * 2) / 2);

/** The workload, a plain workloadgen --config file (the simulator takes it as is). */
function workloadFile(dir: string): string {
  const dataset = join(dir, "long-prompts.json");
  writeFileSync(
    dataset,
    JSON.stringify(longPromptDataset(Math.ceil(REQUESTS / 3) + CLIENTS, 3, PROMPT_WORDS, 24)),
  );
  const path = join(dir, "workload.yaml");
  writeFileSync(
    path,
    [
      "workload:",
      "  type: closed",
      `  dataset: ${JSON.stringify(dataset)}`,
      `  num_clients: ${CLIENTS}`,
      `  max_requests: ${REQUESTS}`,
      "  duration: 0",
      // Think times from reading/typing speeds: ~0.3 s to "type" a 1000-word prompt, /10.
      "  read_speed: 2000",
      "  type_speed: 20000",
      // Per-user speed spread: without it every client thinks exactly as long and the closed
      // loop stays in lock-step (all prefills in the same engine steps), a worst case the
      // live stack's own jitter never shows.
      "  speed_jitter: 0.5",
      "  time_scale: 10",
      "  max_output_tokens: 64",
      "  seed: 7",
      "",
    ].join("\n"),
  );
  return path;
}

interface Summary {
  completed: number;
  failed: number;
  request_throughput: number;
  output_token_throughput: number;
  ttft_ms: { mean: number };
  simulated?: boolean;
}

const readSummary = (dir: string): Summary =>
  JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as Summary;

/** |a - b| relative to b. */
const relDiff = (a: number, b: number) => Math.abs(a - b) / b;

/**
 * The simulator's claim: the same workload on the same cluster gives the same figures live and
 * simulated. The live side is the real stack (2 mock engines, 2 node-schedulers, the scheduler)
 * driven by the workloadgen bundle; the simulated side is the simulator bundle with the same
 * workload file. Agreement is asserted within 15% on mean TTFT and throughput.
 */
describe("live stack vs simulation, same workload and cluster", () => {
  let stack: LocalStack | undefined;
  const liveDir = mkdtempSync(join(tmpdir(), "sim-live-"));
  const simDir = mkdtempSync(join(tmpdir(), "sim-sim-"));
  const workDir = mkdtempSync(join(tmpdir(), "sim-validation-"));
  const workload = workloadFile(workDir);
  let live: Summary;
  let sim: Summary;

  beforeAll(async () => {
    if (!existsSync(simulatorBundle))
      throw new Error(`${simulatorBundle} is missing: run the simulator build first`);
    stack = await startLocalStack({
      nodes: NODES,
      timeScale: 1,
      // The simulator models a directive engine: node-directed residency (see simulated-node.ts).
      engine: "directive",
      // The simulator counts tokens with cl100k (its word-level token cache): the live stack too,
      // so both sides see the same prompts of the same lengths.
      mockArgs: ["--profile", PROFILE, "--tokenizer", "cl100k"],
      nodeArgs: [...["--kv-bytes-per-token", String(KV_BYTES_PER_TOKEN)], ...["--tokenizer", "cl100k"]],
    });
    // Warm-up (JIT, connections) on the embedded sample dataset, so the measured run's first
    // requests do not pay start-up costs the simulation has no reason to model.
    const warmUp = await runCli(
      bundlePath("workloadgen"),
      [
        "--target",
        `grpc://${stack.schedulerAddress}`,
        "--num-clients",
        "4",
        "--max-requests",
        "12",
        "--time-scale",
        "100",
        "--duration",
        "0",
        "--tokenizer",
        "cl100k",
      ],
      60_000,
    );
    expect(warmUp.code, warmUp.stderr.slice(-2000)).toBe(0);
    const liveRun = await runCli(
      bundlePath("workloadgen"),
      [
        ...["--target", `grpc://${stack.schedulerAddress}`, "--config", workload, "--out", liveDir],
        ...["--tokenizer", "cl100k"],
      ],
      RUN_TIMEOUT_MS,
    );
    expect(liveRun.code, liveRun.stderr.slice(-2000)).toBe(0);
    const simRun = await runCli(
      simulatorBundle,
      [
        "--config",
        workload,
        "--nodes",
        String(NODES),
        "--policy",
        "session-affinity",
        "--profile",
        PROFILE,
        "--out",
        simDir,
      ],
      RUN_TIMEOUT_MS,
    );
    expect(simRun.code, simRun.stderr.slice(-2000)).toBe(0);
    live = readSummary(liveDir);
    sim = readSummary(simDir);
    process.stderr.write(
      `live: ttft ${live.ttft_ms.mean.toFixed(2)} ms, ${live.request_throughput.toFixed(3)} req/s, ` +
        `${live.output_token_throughput.toFixed(1)} tok/s | sim: ttft ${sim.ttft_ms.mean.toFixed(2)} ms, ` +
        `${sim.request_throughput.toFixed(3)} req/s, ${sim.output_token_throughput.toFixed(1)} tok/s\n`,
    );
  }, 3 * RUN_TIMEOUT_MS);

  afterAll(async () => {
    await stack?.stop();
    rmSync(workDir, { recursive: true, force: true });
    if (!process.env.KEEP_SIM_TEST_OUTPUT) rmSync(liveDir, { recursive: true, force: true });
    if (!process.env.KEEP_SIM_TEST_OUTPUT) rmSync(simDir, { recursive: true, force: true });
  });

  it("both runs, same request budget -> same number of completed requests, the simulated one marked", () => {
    expect(live.failed).toBe(0);
    expect(sim.failed).toBe(0);
    expect(sim.completed).toBe(live.completed);
    expect(sim.simulated).toBe(true);
    expect(live.simulated).toBeUndefined();
  });

  it("mean TTFT, live vs simulated -> within 15%", () => {
    expect(relDiff(sim.ttft_ms.mean, live.ttft_ms.mean)).toBeLessThan(0.15);
  });

  it("request and output-token throughput, live vs simulated -> within 15%", () => {
    expect(relDiff(sim.request_throughput, live.request_throughput)).toBeLessThan(0.15);
    expect(relDiff(sim.output_token_throughput, live.output_token_throughput)).toBeLessThan(0.15);
  });
});
