import { loadTokenizer, parseWithSchema } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { AgentSessionSource, agentProfileSchema, mergeByStart, type AgentProfileConfig } from "./agent";
import { arraySource } from "./plan";
import type { SessionPlan } from "./plan";

type ProfileInput = Record<string, unknown>;

const tokenizer = loadTokenizer("llama3");
const countTokens = (text: string) => tokenizer.countTokens(text);

const base: ProfileInput = {
  profile_name: "coder",
  inter_arrival_time_dist_config: { type: "Poisson", rate: 2 },
  task_prompt_tokens_dist_config: { type: "Constant", value: 200 },
  turns_dist_config: { type: "Uniform", low: 2, high: 6, is_int: true },
  output_tokens_dist_config: { type: "Constant", value: 40 },
  tool_latency_dist_config: { type: "Exponential", mean: 2 },
  tool_output_tokens_dist_config: { type: "Uniform", low: 100, high: 300, is_int: true },
};

const profile = (over: ProfileInput = {}): AgentProfileConfig =>
  parseWithSchema(agentProfileSchema, { ...base, ...over }, "test.yaml");

function drain(profiles: AgentProfileConfig[], seed = 1, totalDuration = 5000): SessionPlan[] {
  const source = new AgentSessionSource(profiles, { seed, totalDuration, tokenizer });
  const plans: SessionPlan[] = [];
  for (let p = source.next(); p; p = source.next()) plans.push(p);
  return plans;
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const sd = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2)));
};
/** |sample mean - theory| within 4 standard errors. */
function expectMean(xs: number[], theory: number, theorySd: number) {
  expect(Math.abs(mean(xs) - theory)).toBeLessThan((4 * theorySd) / Math.sqrt(xs.length));
}

describe("AgentSessionSource", () => {
  it("same seed -> identical plans; another seed -> different plans", () => {
    const p = profile({
      subagent_probability: 0.3,
      subagent_fanout_dist_config: { type: "Constant", value: 2 },
    });
    expect(JSON.stringify(drain([p], 7, 300))).toBe(JSON.stringify(drain([p], 7, 300)));
    expect(JSON.stringify(drain([p], 8, 300))).not.toBe(JSON.stringify(drain([p], 7, 300)));
  });

  it("arrivals Poisson rate 2/s -> 2 sessions per second over 5000 s", () => {
    const plans = drain([profile()]);
    expect(Math.abs(plans.length / 5000 - 2)).toBeLessThan(4 * Math.sqrt(2 / 5000));
  });

  it("turn counts -> follow the turns distribution (Uniform 2..6 rounded: mean 4, ends half weight)", () => {
    const turns = drain([profile()]).map((p) => p.turns.length);
    expect(Math.min(...turns)).toBe(2);
    expect(Math.max(...turns)).toBe(6);
    // P(2)=P(6)=1/8, P(3..5)=1/4: variance = 2*(4/8) + 2*(1/4) = 1.5
    expectMean(turns, 4, Math.sqrt(1.5));
  });

  it("tool calls -> every later turn waits an Exponential(mean 2 s) latency and adds 100..300 tool tokens", () => {
    const tools = drain([profile()]).flatMap((p) => p.turns.filter((t) => t.kind === "tool"));
    const latencies = tools.map((t) => t.delayUs! / 1e6);
    expectMean(latencies, 2, 2);
    expect(Math.abs(sd(latencies) - 2)).toBeLessThan(0.1);
    const tokens = tools.map((t) => t.promptTokens);
    expect(Math.min(...tokens)).toBeGreaterThanOrEqual(100);
    expect(Math.max(...tokens)).toBeLessThanOrEqual(300);
    expectMean(tokens, 200, 200 / Math.sqrt(12));
  });

  it("first turn -> the task prompt, sent at once; every call -> output_tokens max_output_tokens", () => {
    for (const p of drain([profile()], 1, 100)) {
      expect(p.turns[0]).toMatchObject({ kind: "user", promptTokens: 200, delayUs: 0, maxOutputTokens: 40 });
      expect(p.kind).toBe("agent");
      expect(p.ignoreEos).toBe(true);
    }
  });

  it("fan-out p=0.3, Uniform 1..4 sub-agents -> 30% of later calls join, fan-out mean 2.5", () => {
    const p = profile({
      subagent_probability: 0.3,
      subagent_fanout_dist_config: { type: "Uniform", low: 1, high: 4, is_int: true },
      subagent_turns_dist_config: { type: "Constant", value: 2 },
    });
    const plans = drain([p], 3, 1500);
    const later = plans.flatMap((s) => s.turns.slice(1));
    const joins = later.filter((t) => t.kind === "join");
    expect(Math.abs(joins.length / later.length - 0.3)).toBeLessThan(
      4 * Math.sqrt((0.3 * 0.7) / later.length),
    );
    const fanOuts = joins.map((t) => t.subAgents!.length);
    // Uniform(1,4) rounded: P(1)=P(4)=1/6, P(2)=P(3)=1/3 -> mean 2.5, variance 11/12
    expectMean(fanOuts, 2.5, Math.sqrt(11 / 12));
    for (const plan of plans) {
      let k = 0;
      for (const t of plan.turns.filter((x) => x.kind === "join")) {
        expect(t.delayUs).toBe(0);
        for (const child of t.subAgents!) {
          expect(child.sessionId).toBe(`${plan.sessionId}/sub-${k++}`);
          expect(child.parentSessionId).toBe(plan.sessionId);
          expect(child.clientId).toBe(plan.clientId);
          expect(child.turns).toHaveLength(2);
          // max depth 1: sub-agents do not fan out again
          expect(child.turns.some((c) => c.kind === "join")).toBe(false);
        }
        expect(t.promptTokens).toBe(t.subAgents!.reduce((s, c) => s + c.turns.at(-1)!.maxOutputTokens, 0));
      }
    }
  });

  it("subagent_max_depth 2 -> sub-agents fan out too, never deeper", () => {
    const p = profile({
      subagent_probability: 0.5,
      subagent_fanout_dist_config: { type: "Constant", value: 2 },
      subagent_turns_dist_config: { type: "Constant", value: 3 },
      subagent_max_depth: 2,
    });
    const depthOf = (plan: SessionPlan): number =>
      Math.max(0, ...plan.turns.flatMap((t) => (t.subAgents ?? []).map((c) => 1 + depthOf(c))));
    const depths = drain([p], 2, 200).map(depthOf);
    expect(Math.max(...depths)).toBe(2);
  });

  it("reasoning profile -> each reply is <think>R</think> + output, max_output_tokens its exact token count", () => {
    const p = profile({ reasoning_tokens_dist_config: { type: "Constant", value: 30 } });
    for (const t of drain([p], 1, 20).flatMap((s) => s.turns)) {
      expect(t.expectedResponse).toMatch(/^<think>.+<\/think>.+/);
      expect(t.maxOutputTokens).toBe(countTokens(t.expectedResponse!));
      const [think, answer] = t.expectedResponse!.slice("<think>".length).split("</think>");
      expect(countTokens(think!)).toBe(30);
      expect(countTokens(answer!)).toBe(40);
    }
  });

  it("hint_latency mean -> hints announce the distribution mean, turns still wait the sampled latency", () => {
    const tools = drain([profile({ hint_latency: "mean" })], 1, 200).flatMap((s) =>
      s.turns.filter((t) => t.kind === "tool"),
    );
    const advised = new Set(tools.map((t) => t.adviseDelayUs));
    expect(advised.size).toBe(1);
    expect(Math.abs([...advised][0]! / 1e6 - 2)).toBeLessThan(0.1);
    expect(new Set(tools.map((t) => t.delayUs)).size).toBeGreaterThan(10);
  });

  it("system_prompt_tokens -> every session shares the same system prompt of that size", () => {
    const plans = drain([profile({ system_prompt_tokens: 64 })], 1, 20);
    expect(new Set(plans.map((p) => p.system)).size).toBe(1);
    expect(countTokens(plans[0]!.system!)).toBe(64);
  });
});

describe("agentProfileSchema", () => {
  it.each<[string, ProfileInput, RegExp]>([
    [
      "negative constant latency",
      { tool_latency_dist_config: { type: "Constant", value: -1 } },
      /^test\.yaml: tool_latency_dist_config: tool latency must be >= 0 s \(value is -1\)$/,
    ],
    [
      "a Normal latency without min",
      { tool_latency_dist_config: { type: "Normal", mean: 1, sigma: 0.5 } },
      /tool_latency_dist_config: tool latency must be >= 0 s \(a Normal can be negative: set min: 0\)/,
    ],
    [
      "fan-out without a distribution",
      { subagent_probability: 0.2 },
      /^test\.yaml: subagent_fanout_dist_config: required when subagent_probability > 0 \(got 0\.2\)$/,
    ],
    ["probability above 1", { subagent_probability: 1.5 }, /subagent_probability/],
    ["an unknown key", { tool_latency: 3 }, /tool_latency/],
  ])("%s -> one precise error naming the key", (_name, over, pattern) => {
    expect(() => profile(over)).toThrow(pattern);
  });

  it("a Normal latency with min 0 -> accepted", () => {
    expect(() =>
      profile({ tool_latency_dist_config: { type: "Normal", mean: 1, sigma: 0.5, min: 0 } }),
    ).not.toThrow();
  });
});

describe("mergeByStart", () => {
  it("two open-loop sources -> one stream in start order, every plan once", () => {
    const plan = (id: string, startUs: number) => ({
      ...drain([profile()], 1, 1)[0]!,
      sessionId: id,
      startUs,
    });
    const a = arraySource([plan("a1", 0), plan("a2", 30), plan("a3", 31)]);
    const b = arraySource([plan("b1", 10), plan("b2", 30), plan("b3", 99)]);
    const merged = mergeByStart([a, b]);
    const ids: string[] = [];
    for (let p = merged.next(); p; p = merged.next()) ids.push(p.sessionId);
    expect(ids).toEqual(["a1", "b1", "a2", "b2", "a3", "b3"]);
  });
});
