import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundlePath, runCli, startLocalStack, type LocalStack } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RequestRecord } from "@symphony/measure";
import { agentReport } from "../../src/domain";

/**
 * Agent sessions through the real stack: 2 mock engines -> 2 node-schedulers -> the scheduler
 * (session-affinity), all built bundles on loopback with port 0.
 */
const agentConfig = `
workload:
  type: agent
  total_duration: 1.3
agent_profiles:
  - profile_name: coder
    weight: 3
    inter_arrival_time_dist_config: { type: Constant, value: 0.25 }
    system_prompt_tokens: 300
    task_prompt_tokens_dist_config: { type: Constant, value: 60 }
    turns_dist_config: { type: Constant, value: 4 }
    output_tokens_dist_config: { type: Constant, value: 12 }
    tool_latency_dist_config: { type: Uniform, low: 0.3, high: 0.5 }
    tool_output_tokens_dist_config: { type: Constant, value: 80 }
    subagent_probability: 0.5
    subagent_fanout_dist_config: { type: Constant, value: 2 }
    subagent_turns_dist_config: { type: Constant, value: 2 }
    subagent_task_tokens_dist_config: { type: Constant, value: 30 }
  - profile_name: reasoner
    weight: 1
    inter_arrival_time_dist_config: { type: Constant, value: 0.25 }
    task_prompt_tokens_dist_config: { type: Constant, value: 60 }
    turns_dist_config: { type: Constant, value: 2 }
    output_tokens_dist_config: { type: Constant, value: 10 }
    reasoning_tokens_dist_config: { type: Constant, value: 40 }
    tool_latency_dist_config: { type: Constant, value: 0.3 }
    tool_output_tokens_dist_config: { type: Constant, value: 50 }
`;

/** A seed whose plan has both profiles and several fan-outs (checked below from the dry run). */
const SEED = "3";

let dir: string;
let stack: LocalStack;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "wg-agent-"));
  writeFileSync(join(dir, "agent.yaml"), agentConfig);
  stack = await startLocalStack({ nodes: 2, timeScale: 10, nodeArgs: ["--log-level", "debug"] });
}, 120_000);
afterAll(async () => {
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const jsonLines = <T>(path: string) =>
  readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as T);

interface PlanSummaryFile {
  plan: { sessions_by_profile: Record<string, number> };
  agents: { requests_with_subagents: number; fan_outs: number; subagent_sessions: number };
}

describe("agent sessions through the scheduler to mock engines", () => {
  let records: RequestRecord[];
  let plan: PlanSummaryFile;
  let summary: { started_at: string; hints: Record<string, number> };

  beforeAll(async () => {
    const cfg = join(dir, "agent.yaml");
    const dry = await runCli(bundlePath("workloadgen"), [
      "--config",
      cfg,
      "--seed",
      SEED,
      "--dry-run",
      "--out",
      dir,
    ]);
    expect(dry.code, dry.stderr).toBe(0);
    plan = JSON.parse(readFileSync(join(dir, "plan-summary.json"), "utf8")) as PlanSummaryFile;
    const run = await runCli(
      bundlePath("workloadgen"),
      ["--config", cfg, "--seed", SEED, "--target", `grpc://${stack.schedulerAddress}`, "--out", dir],
      120_000,
    );
    expect(run.code, run.stderr).toBe(0);
    records = jsonLines<RequestRecord>(join(dir, "requests.jsonl"));
    summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")) as typeof summary;
  }, 180_000);

  it("every planned turn, sub-agents' included -> completed without error", () => {
    // Preconditions of this run (seeded plan): sub-agents and a reasoning profile are in it.
    expect(plan.agents.fan_outs).toBeGreaterThan(1);
    expect(plan.plan.sessions_by_profile.reasoner).toBeGreaterThan(0);
    expect(records).toHaveLength(plan.agents.requests_with_subagents);
    expect(records.filter((r) => r.error)).toEqual([]);
    const subSessions = new Set(records.filter((r) => r.parent_session_id).map((r) => r.session_id));
    expect(subSessions.size).toBe(plan.agents.subagent_sessions);
    for (const r of records) expect(r.session_kind).toBe("agent");
  });

  it("join turns -> sent after every sub-agent of that fan-out ended", () => {
    const joins = records.filter((r) => (r.fan_out ?? 0) > 0);
    expect(joins.length).toBe(plan.agents.fan_outs);
    for (const j of joins) {
      const children = records.filter(
        (r) => r.parent_session_id === j.session_id && r.sent_ms < j.sent_ms && r.sent_ms > 0,
      );
      expect(children.length).toBeGreaterThan(0);
      for (const c of children) expect(c.end_ms).toBeLessThanOrEqual(j.sent_ms);
    }
  });

  it("hints -> one per tool turn, accepted by the session's node before that turn was sent", () => {
    const toolTurns = records.filter((r) => r.tool_wait_ms !== null && r.tool_wait_ms !== undefined);
    expect(summary.hints.hintsAccepted ?? summary.hints.accepted).toBe(toolTurns.length);
    const t0 = Date.parse(summary.started_at);
    const hintLogs = stack.nodes.flatMap((n) =>
      n.logs
        .filter((l) => l.message === "hint")
        .map((l) => ({
          node: n.name,
          session: l.sessionId as string,
          at: Date.parse(l.timestamp as string),
          ok: l.accepted,
        })),
    );
    expect(hintLogs).toHaveLength(toolTurns.length);
    expect(hintLogs.every((h) => h.ok === true)).toBe(true);
    for (const r of toolTurns) {
      const prev = records.find((x) => x.session_id === r.session_id && x.turn_index === r.turn_index - 1)!;
      const hints = hintLogs.filter((h) => h.session === r.session_id);
      // The hint for this turn arrived after the previous one ended and before this one was sent
      // (clock bases differ by a few ms between the run's start and started_at: 50 ms of slack).
      expect(
        hints.some((h) => h.at >= t0 + prev.end_ms - 50 && h.at <= t0 + r.sent_ms + 50),
        `${r.session_id} turn ${r.turn_index}`,
      ).toBe(true);
    }
  });

  it("reasoning replies -> reasoning tokens counted, first content token after the first token", () => {
    const reasoning = records.filter((r) => r.profile === "reasoner");
    expect(reasoning.length).toBeGreaterThan(0);
    for (const r of reasoning) {
      expect(r.reasoning_tokens).toBeGreaterThanOrEqual(40);
      expect(r.ttfct_ms!).toBeGreaterThan(r.ttft_ms!);
    }
    for (const r of records.filter((x) => x.profile === "coder")) expect(r.ttfct_ms).toBe(r.ttft_ms);
  });

  it("a sub-agent on its parent's node -> its first turn is served from the parent's cached context", () => {
    const onParentNode = records.filter((r) => {
      if (!r.parent_session_id || r.turn_index !== 0) return false;
      return records.some((p) => p.session_id === r.parent_session_id && p.node_id === r.node_id);
    });
    expect(onParentNode.length).toBeGreaterThan(0);
    for (const r of onParentNode) {
      // The parent's last turn before the spawn: its prompt and reply are this turn's prefix.
      const parent = records
        .filter((p) => p.session_id === r.parent_session_id && p.end_ms <= r.sent_ms)
        .sort((a, b) => b.end_ms - a.end_ms)[0]!;
      expect(r.cached_tokens, r.session_id).toBeGreaterThanOrEqual(parent.prompt_tokens - 32);
    }
  });

  // Needs the scheduler to place a new session with its parent's node (see the README, "Agent
  // sessions"): today session-affinity sends a new session to the least-loaded node.
  it("sub-agents -> land on their parent's node under session affinity", () => {
    const report = agentReport(records);
    writeFileSync(join(dir, "agent-report.json"), JSON.stringify(report, null, 2));
    expect(report.subagent_sessions).toBeGreaterThan(0);
    expect(report.subagents_off_parent_node).toBe(0);
  });
});

describe("agent trace replay through the stack", () => {
  it("the sample trace at 10x -> every turn completes, sub-agents join, tool waits scaled", async () => {
    const out = join(dir, "trace");
    mkdirSync(out);
    const trace = join(__dirname, "../../data/sample-agent-trace.jsonl");
    const r = await runCli(
      bundlePath("workloadgen"),
      [
        "--agent-trace",
        trace,
        "--time-scale",
        "10",
        "--target",
        `grpc://${stack.schedulerAddress}`,
        "--out",
        out,
      ],
      120_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const recs = jsonLines<RequestRecord>(join(out, "requests.jsonl"));
    // fix-bug 5 turns, research 2 (+ sub-0: 2, sub-1: 3), shell 3
    expect(recs).toHaveLength(15);
    expect(recs.filter((x) => x.error)).toEqual([]);
    const shellTool = recs.find((x) => x.session_id === "shell" && x.turn_index === 1)!;
    expect(shellTool.tool_wait_ms).toBeCloseTo(1200, 3); // latency_ms 12000 / 10
    const join_ = recs.find((x) => x.session_id === "research" && x.turn_index === 1)!;
    expect(join_.fan_out).toBe(2);
    for (const c of recs.filter((x) => x.parent_session_id === "research"))
      expect(c.end_ms).toBeLessThanOrEqual(join_.sent_ms);
    expect(
      recs.find((x) => x.session_id === "research" && x.turn_index === 0)!.reasoning_tokens,
    ).toBeGreaterThanOrEqual(120);
  });
});

describe("agent plan, built bundle", () => {
  it("dry run twice with the same seed -> byte-identical plan.jsonl; another seed -> different", async () => {
    const cfg = join(dir, "plan.yaml");
    writeFileSync(cfg, agentConfig.replace("total_duration: 1.3", "total_duration: 60"));
    const plan = async (seed: string, name: string) => {
      const out = join(dir, name);
      mkdirSync(out);
      const r = await runCli(bundlePath("workloadgen"), [
        "--config",
        cfg,
        "--seed",
        seed,
        "--dry-run",
        "--out",
        out,
      ]);
      expect(r.code, r.stderr).toBe(0);
      return readFileSync(join(out, "plan.jsonl"), "utf8");
    };
    const [a, b, c] = [await plan("1", "p1"), await plan("1", "p2"), await plan("2", "p3")];
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(a).toMatch(/"subagents":\[\{"session_id":"a\d+\/sub-0"/);
  });
});

describe("agent bad input, built bundle", () => {
  it.each<[string, string, string, RegExp]>([
    [
      "a negative tool latency",
      "neg.yaml",
      agentConfig.replace("{ type: Uniform, low: 0.3, high: 0.5 }", "{ type: Constant, value: -2 }"),
      /^error: .*neg\.yaml: agent_profiles\[0\]\.tool_latency_dist_config: tool latency must be >= 0 s \(value is -2\)$/,
    ],
    [
      "fan-out without a distribution",
      "fan.yaml",
      agentConfig.replace(/ *subagent_fanout_dist_config.*\n/, ""),
      /^error: .*fan\.yaml: agent_profiles\[0\]\.subagent_fanout_dist_config: required when subagent_probability > 0 \(got 0\.5\)$/,
    ],
    [
      "a trace line with an unknown role",
      "bad.jsonl",
      '{"session_id":"s","role":"user","content":"hi"}\n{"session_id":"s","role":"planner","content":"x"}\n',
      /^error: .*bad\.jsonl: line 2: role: expected one of system, user, assistant, tool \(got "planner"\)$/,
    ],
  ])("%s -> exit 2 with one line naming the file and key", async (_name, fileName, text, pattern) => {
    const path = join(dir, fileName);
    writeFileSync(path, text);
    const args = fileName.endsWith(".jsonl") ? ["--agent-trace", path] : ["--config", path];
    const r = await runCli(bundlePath("workloadgen"), [...args, "--dry-run"]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(pattern);
  });
});
