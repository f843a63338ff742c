import { CommanderError } from "commander";
import { UsageError } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { parseRegimeConfig } from "./config";

const quiet = (argv: string[]) => {
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return parseRegimeConfig(["paper-regime", ...argv]);
  } finally {
    process.stderr.write = write;
  }
};

describe("parseRegimeConfig", () => {
  it("no flags -> the paper's model (Llama-2-13B on A100), both think-time models, five configurations, three seeds, ShareGPT shape", () => {
    const c = quiet([]);
    expect(c.profiles).toEqual(["llama2-13b-a100"]);
    expect(c.thinkTimes).toEqual(["chat-gaps", "typing"]);
    // Typing users wait minutes per turn: their points run longer.
    expect(c.windows).toEqual({
      "chat-gaps": { durationS: 150, warmupS: 50 },
      typing: { durationS: 600, warmupS: 300 },
    });
    expect(c.configs.map((x) => x.number)).toEqual([1, 2, 3, 4, 5]);
    expect(c.seeds).toEqual([1, 2, 3]);
    expect(c.chats).toMatchObject({
      turnsGeometricP: 0.285,
      maxTurns: 40,
      promptMedianTokens: 40,
      replyMedianTokens: 275,
    });
    expect(c.searchStart).toBe(32 * c.gpus);
    expect(c.latencyTolerance).toBeCloseTo(0.25);
  });

  it("every parameter from the command line", () => {
    const c = quiet([
      "--profiles",
      "llama3-8b-a100",
      "--gpus",
      "8",
      "--think-time",
      "typing,chat-gaps",
      "--configs",
      "warmup,round-robin",
      "--seeds",
      "7,8",
      "--slo-p99-ttft-ms",
      "500",
      "--latency-tolerance-pct",
      "5",
      "--turns-p",
      "0.5",
      "--reply-median",
      "100",
      "--max-context-tokens",
      "2000",
      "--cpu-offload-gib",
      "128",
      "--warmup-timing",
      "just-in-time",
      "--hint-eta-error",
      "0.3",
      "--no-capacity",
    ]);
    expect(c).toMatchObject({
      profiles: ["llama3-8b-a100"],
      gpus: 8,
      thinkTimes: ["typing", "chat-gaps"],
      seeds: [7, 8],
      sloP99TtftMs: 500,
      cpuOffloadGiB: 128,
      warmupTiming: "just-in-time",
      hintEtaError: 0.3,
      capacity: false,
    });
    // Always in 1..5 order.
    expect(c.configs.map((x) => x.name)).toEqual(["round-robin", "warmup"]);
    expect(c.chats).toMatchObject({ turnsGeometricP: 0.5, replyMedianTokens: 100, maxContextTokens: 2000 });
    expect(c.latencyTolerance).toBeCloseTo(0.05);
  });

  it("--duration and --warmup set every think-time model's window", () => {
    expect(quiet(["--duration", "400"]).windows).toEqual({
      "chat-gaps": { durationS: 400, warmupS: 50 },
      typing: { durationS: 400, warmupS: 300 },
    });
    expect(quiet(["--duration", "90", "--warmup", "30"]).windows.typing).toEqual({
      durationS: 90,
      warmupS: 30,
    });
  });

  it("--live -> the live point's shape; without it none", () => {
    expect(quiet([]).live).toBe(false);
    expect(
      quiet(["--live", "--live-sessions-per-gpu", "2", "--live-duration", "120", "--live-time-scale", "5"])
        .live,
    ).toEqual({
      sessionsPerGpu: 2,
      durationS: 120,
      timeScale: 5,
    });
  });

  it.each([
    [["--gpus", "0"], CommanderError],
    [["--profiles", "gpt-5-on-a-toaster"], UsageError],
    [["--think-time", "telepathy"], CommanderError],
    [["--configs", "fastest"], CommanderError],
    [["--seeds", "x"], CommanderError],
    [["--slo-p99-ttft-ms", "0"], CommanderError],
    [["--hint-eta-error", "2"], CommanderError],
    [["--warmup-timing", "later"], CommanderError],
    [["--reply-min", "50", "--reply-max", "20"], UsageError],
    [["--max-context-tokens", "10"], UsageError],
    [["--warmup", "200", "--duration", "100"], UsageError],
    // typing's default 300-s warm-up does not fit a 200-s point
    [["--duration", "200"], UsageError],
    [["--search-start-per-gpu", "5000", "--search-max", "100"], UsageError],
    [["--live", "--live-duration", "30"], UsageError],
    [["--live-time-scale", "0.5"], CommanderError],
    [["--jobs", "0"], CommanderError],
  ])("bad input %j -> one line, %o (exit 2)", (argv, kind) => {
    let err: unknown;
    try {
      quiet(argv);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(kind);
    expect((err as Error).message.split("\n")).toHaveLength(1);
  });
});
