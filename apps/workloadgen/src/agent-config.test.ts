import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "@symphony/common";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "./config";
import { buildWorkload } from "./workload";

let dir: string;
beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "wg-agent-config-"))));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const profile = (extra = "") => `
agent_profiles:
  - inter_arrival_time_dist_config: { type: Poisson, rate: 1 }
    task_prompt_tokens_dist_config: { type: Constant, value: 100 }
    turns_dist_config: { type: Constant, value: 3 }
    output_tokens_dist_config: { type: Constant, value: 20 }
    tool_latency_dist_config: { type: Exponential, mean: 1 }
    tool_output_tokens_dist_config: { type: Constant, value: 50 }
${extra}`;

describe("agent workload config", () => {
  it("agent_profiles -> workload agent implied, profile defaults filled", () => {
    const c = parseConfig(["--config", file("ok.yaml", profile())]);
    expect(c.workload).toBe("agent");
    expect(c.agentProfiles[0]).toMatchObject({ profile_name: "agent", weight: 1, subagent_probability: 0 });
    expect(buildWorkload(c).source.next()?.kind).toBe("agent");
  });

  it("client_profiles beside agent_profiles -> chat and agent sessions in one run, in start order", () => {
    const chat = `
client_profiles:
  - profile_name: chat
    weight: 1
    inter_arrival_time_dist_config: { type: Poisson, rate: 1 }
    prompt_tokens_dist_config: { type: Constant, value: 50 }
    max_output_tokens_dist_config: { type: Constant, value: 20 }
`;
    const c = parseConfig(["--config", file("mixed.yaml", profile() + chat), "--total-duration", "100"]);
    expect(c.workload).toBe("agent");
    const { source } = buildWorkload(c);
    const kinds = new Set<string>();
    let last = -1;
    for (let p = source.next(); p; p = source.next()) {
      kinds.add(p.kind ?? "chat");
      expect(p.startUs!).toBeGreaterThanOrEqual(last);
      last = p.startUs!;
    }
    expect([...kinds].sort()).toEqual(["agent", "chat"]);
  });

  it("--agent-trace -> workload agent, the trace's sessions as the source", () => {
    const c = parseConfig(["--agent-trace", join(__dirname, "../data/sample-agent-trace.jsonl")]);
    expect(c.workload).toBe("agent");
    const w = buildWorkload(c);
    expect(w.info).toMatchObject({ agent_sessions: 3, subagent_sessions: 2 });
    expect(w.source.next()?.sessionId).toBe("fix-bug");
  });

  it.each<[string, string, RegExp]>([
    [
      "negative tool latency",
      profile().replace("{ type: Exponential, mean: 1 }", "{ type: Constant, value: -0.5 }"),
      /neg\.yaml: agent_profiles\[0\]\.tool_latency_dist_config: tool latency must be >= 0 s \(value is -0\.5\)/,
    ],
    [
      "fan-out without a distribution",
      profile("    subagent_probability: 0.3"),
      /fan\.yaml: agent_profiles\[0\]\.subagent_fanout_dist_config: required when subagent_probability > 0/,
    ],
    [
      "a missing tool latency",
      profile().replace(/ *tool_latency.*\n/, ""),
      /agent_profiles\[0\]\.tool_latency_dist_config/,
    ],
  ])("%s -> one UsageError line naming the file and key", (name, text, pattern) => {
    const path = file(
      name.startsWith("neg") ? "neg.yaml" : name.startsWith("fan") ? "fan.yaml" : "x.yaml",
      text,
    );
    let error: unknown;
    try {
      parseConfig(["--config", path]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(pattern);
    expect((error as Error).message.split("\n")).toHaveLength(1);
  });

  it("a trace line with an unknown role -> UsageError naming file and line", () => {
    const path = file(
      "bad.jsonl",
      '{"session_id":"s","role":"user","content":"a"}\n{"session_id":"s","role":"critic","content":"b"}\n',
    );
    const c = parseConfig(["--agent-trace", path]);
    expect(() => buildWorkload(c)).toThrow(
      new UsageError(`${path}: line 2: role: expected one of system, user, assistant, tool (got "critic")`),
    );
  });

  it("--workload agent without profiles or trace -> UsageError", () => {
    expect(() => parseConfig(["--workload", "agent"])).toThrow(/--workload agent needs agent_profiles/);
  });
});
