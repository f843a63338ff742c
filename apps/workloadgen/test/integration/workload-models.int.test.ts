import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadTokenizer } from "@symphony/common";
import { bundlePath, runCli } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FAILING_SESSION, startFakeScheduler, type FakeScheduler } from "./fake-scheduler";

/** workloadgen's default --tokenizer: synthetic prompts are exact token counts of it. */
const countTokens = (text: string) => loadTokenizer("llama3").countTokens(text);

let dir: string;
let fake: FakeScheduler;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "wg-models-"));
  fake = await startFakeScheduler();
});
afterAll(async () => {
  await fake?.server.stop(100);
  rmSync(dir, { recursive: true, force: true });
});

const openConfig = `
workload:
  total_duration: 2
client_profiles:
  - profile_name: chat
    weight: 1
    inter_arrival_time_dist_config: { type: Poisson, rate: 10 }
    prompt_tokens_dist_config: { type: Uniform, low: 20, high: 60, is_int: true }
    max_output_tokens_dist_config: { type: Constant, value: 8 }
    conversational_probability: 0.5
    follow_up_delay_dist_config: { type: Constant, value: 0.2 }
    follow_up_turns_dist_config: { type: Constant, value: 1 }
`;

const lines = (path: string) =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("open loop and trace replay, built bundle", () => {
  it("dry run twice with the same seed -> byte-identical plan; another seed -> different", async () => {
    const cfg = join(dir, "open.yaml");
    writeFileSync(cfg, openConfig.replace("total_duration: 2", "total_duration: 600"));
    const plan = async (seed: number, out: string) => {
      const r = await runCli(bundlePath("workloadgen"), [
        "--config",
        cfg,
        "--dry-run",
        "--seed",
        String(seed),
        "--out",
        join(dir, out),
      ]);
      expect(r.code, r.stderr).toBe(0);
      return readFileSync(join(dir, out, "plan.jsonl"), "utf8");
    };
    const [a, b, c] = [await plan(1, "a"), await plan(1, "b"), await plan(2, "c")];
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    const summary = JSON.parse(readFileSync(join(dir, "a", "plan-summary.json"), "utf8"));
    expect(Math.abs(summary.plan.session_rate_per_s - 10)).toBeLessThan(1);
    expect(Math.abs(summary.plan.conversation_fraction - 0.5)).toBeLessThan(0.05);
  });

  it("open-loop run -> every planned turn sent with synthesized prompts of the planned length", async () => {
    const cfg = join(dir, "run.yaml");
    writeFileSync(cfg, openConfig);
    const out = join(dir, "open-run");
    const before = fake.submits.length;
    const r = await runCli(bundlePath("workloadgen"), [
      "--config",
      cfg,
      "--seed",
      "5",
      "--out",
      out,
      "--target",
      `127.0.0.1:${fake.server.port}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const planned = await runCli(bundlePath("workloadgen"), [
      "--config",
      cfg,
      "--seed",
      "5",
      "--dry-run",
      "--out",
      join(dir, "open-plan"),
    ]);
    expect(planned.code).toBe(0);
    const plan = lines(join(dir, "open-plan", "plan.jsonl")) as { session_id: string; turns: unknown[] }[];
    const sent = fake.submits.slice(before);
    // The fake fails FAILING_SESSION's first turn, so that user never sends a follow-up.
    const expected = plan.reduce((n, p) => n + (p.session_id === FAILING_SESSION ? 1 : p.turns.length), 0);
    expect(sent).toHaveLength(expected);
    expect(lines(join(out, "requests.jsonl"))).toHaveLength(sent.length);
    for (const req of sent) {
      expect(req.ignoreEos).toBe(true);
      expect(req.maxOutputTokens).toBe(8);
      const text = req.prompt || req.messages.at(-1)!.content;
      const tokens = countTokens(text);
      expect(tokens).toBeGreaterThanOrEqual(20);
      expect(tokens).toBeLessThanOrEqual(60);
    }
    // Conversational sessions send their follow-up with the first exchange as history.
    expect(sent.some((q) => q.turnIndex === 1 && q.messages.length === 3)).toBe(true);
  });

  it("Mooncake trace replay -> requests at scaled offsets, equal hash ids share prefix text", async () => {
    const trace = join(dir, "trace.jsonl");
    writeFileSync(
      trace,
      [
        { timestamp: 0, input_length: 40, output_length: 3, hash_ids: [1, 2] },
        { timestamp: 1000, input_length: 40, output_length: 3, hash_ids: [1, 3] },
        { timestamp: 2000, input_length: 30, output_length: 3, hash_ids: [4] },
      ]
        .map((x) => JSON.stringify(x))
        .join("\n"),
    );
    const before = fake.submits.length;
    const out = join(dir, "trace-run");
    const r = await runCli(bundlePath("workloadgen"), [
      "--trace",
      trace,
      "--block-size",
      "16",
      "--time-scale",
      "10",
      "--out",
      out,
      "--target",
      `127.0.0.1:${fake.server.port}`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const sent = fake.submits.slice(before).map((q) => q.prompt);
    expect(sent.map(countTokens)).toEqual([40, 40, 30]);
    const block1 = sent[0]!.split(" ").slice(0, 17).join(" ");
    expect(sent[1]!.startsWith(block1)).toBe(true);
    expect(sent[2]!.startsWith(block1)).toBe(false);
    const recs = lines(join(out, "requests.jsonl")) as { scheduled_ms: number }[];
    expect(recs.map((x) => x.scheduled_ms).sort((a, b) => a - b)).toEqual([0, 100, 200]);
  });

  it.each([
    ["--tokenizer llama2", ["--tokenizer", "llama2"], ""],
    ["workload.tokenizer: llama2 in the config file", [], "  tokenizer: llama2\n"],
  ])(
    "%s -> the dataset's replies are counted in Llama 2 tokens (max_output_tokens)",
    async (_n, flags, yaml) => {
      const cfg = join(dir, "closed-llama2.yaml");
      writeFileSync(cfg, `workload:\n  type: closed\n  max_requests: 12\n  num_clients: 4\n${yaml}`);
      const before = fake.submits.length;
      const r = await runCli(bundlePath("workloadgen"), [
        ...["--config", cfg, "--time-scale", "1000", "--duration", "0"],
        ...["--target", `127.0.0.1:${fake.server.port}`, ...flags],
      ]);
      expect(r.code, r.stderr).toBe(0);
      const sent = fake.submits.slice(before);
      expect(sent.length).toBeGreaterThan(0);
      const llama2 = loadTokenizer("llama2");
      const want = (q: (typeof sent)[number]) => Math.max(1, llama2.countTokens(q.expectedResponse!));
      expect(sent.map((q) => q.maxOutputTokens)).toEqual(sent.map(want));
      // Llama 3 counts the same replies differently: the flag is what made these counts.
      expect(sent.some((q) => q.maxOutputTokens !== Math.max(1, countTokens(q.expectedResponse!)))).toBe(
        true,
      );
    },
  );

  it("config with a bad distribution -> exit 2, one line naming file and key", async () => {
    const cfg = join(dir, "bad.yaml");
    writeFileSync(cfg, openConfig.replace("type: Poisson, rate: 10", "type: Poisson"));
    const r = await runCli(bundlePath("workloadgen"), ["--config", cfg, "--dry-run"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toEqual([
      `error: ${cfg}: client_profiles[0].inter_arrival_time_dist_config: give exactly one of mean or rate`,
    ]);
  });
});
