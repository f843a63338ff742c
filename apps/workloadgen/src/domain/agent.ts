import { rngFor, type Rng, type Tokenizer } from "@symphony/common";
import { z } from "zod";
import {
  distributionConfigSchema,
  interArrivalConfigSchema,
  makeDistribution,
  makeInterArrival,
  type Distribution,
  type DistributionConfig,
} from "./distributions";
import type { PlannedTurn, SessionPlan, SessionSource } from "./plan";
import { PromptSynthesizer } from "./prompt-synth";

/**
 * Why a distribution could produce a negative value, or undefined if it cannot. Families that are
 * positive by construction pass; Constant, Uniform, Normal and Empirical need non-negative
 * parameters or a `min` >= 0.
 */
export function negativeValueProblem(d: DistributionConfig): string | undefined {
  if (d.min !== undefined && d.min >= 0) return undefined;
  if (d.max !== undefined && d.max < 0) return `max is ${d.max}`;
  switch (d.type) {
    case "Constant":
      return d.value < 0 ? `value is ${d.value}` : undefined;
    case "Uniform": {
      const low = d.low ?? d.min;
      return low !== undefined && low < 0 ? `low is ${low}` : undefined;
    }
    case "Normal":
      return d.sigma > 0 || d.mean < 0 ? "a Normal can be negative: set min: 0" : undefined;
    case "Empirical": {
      const values = d.samples ?? d.histogram?.edges ?? [];
      const neg = values.find((v) => v < 0);
      return neg !== undefined ? `contains ${neg}` : undefined;
    }
    default:
      return undefined;
  }
}

const probability = z.number().min(0).max(1);

/**
 * One agent profile: agent tasks arriving open-loop, each a chain of LLM calls separated by tool
 * calls, sometimes fanning out into parallel sub-agents. Times in seconds, sizes in tokens.
 */
export const agentProfileSchema = z
  .strictObject({
    profile_name: z.string().min(1).default("agent"),
    weight: z.number().positive().default(1),
    /** Seconds between agent sessions (`Poisson` = a Poisson process). */
    inter_arrival_time_dist_config: interArrivalConfigSchema,
    /** The task: tokens of the first user message. */
    task_prompt_tokens_dist_config: distributionConfigSchema,
    /** Tokens of a system prompt shared by every session of the profile (0 = none). */
    system_prompt_tokens: z.number().int().min(0).default(0),
    /** LLM calls per session (rounded, at least 1). */
    turns_dist_config: distributionConfigSchema,
    /** Tokens the model writes per call (its tool call or answer). */
    output_tokens_dist_config: distributionConfigSchema,
    /** Reasoning models: tokens of thinking streamed before the output (`<think>...</think>`). */
    reasoning_tokens_dist_config: distributionConfigSchema.optional(),
    /** Seconds a tool call takes, from the end of the model's output to the next call. */
    tool_latency_dist_config: distributionConfigSchema,
    /** Tokens of a tool result appended to the context. */
    tool_output_tokens_dist_config: distributionConfigSchema,
    /** Chance that a call's output spawns sub-agents instead of a tool call (not after the last call). */
    subagent_probability: probability.default(0),
    /** Sub-agents per fan-out (rounded, at least 1); required when subagent_probability > 0. */
    subagent_fanout_dist_config: distributionConfigSchema.optional(),
    /** A sub-agent's LLM calls (default: turns_dist_config). */
    subagent_turns_dist_config: distributionConfigSchema.optional(),
    /** A sub-agent's task prompt appended to the parent's context (default: task_prompt_tokens_dist_config). */
    subagent_task_tokens_dist_config: distributionConfigSchema.optional(),
    /** Nesting: sub-agents of sub-agents down to this depth (1 = only the main agent fans out). */
    subagent_max_depth: z.number().int().min(1).max(4).default(1),
    /** What `Advise` announces: the sampled tool latency ("sampled") or the distribution's mean ("mean"). */
    hint_latency: z.enum(["sampled", "mean"]).default("sampled"),
    streaming_response_probability: probability.default(1),
    priority: z.enum(["high", "normal", "low"]).default("normal"),
  })
  .superRefine((p, ctx) => {
    const latency = negativeValueProblem(p.tool_latency_dist_config);
    if (latency)
      ctx.addIssue({
        code: "custom",
        path: ["tool_latency_dist_config"],
        message: `tool latency must be >= 0 s (${latency})`,
      });
    for (const key of [
      "task_prompt_tokens_dist_config",
      "turns_dist_config",
      "output_tokens_dist_config",
      "reasoning_tokens_dist_config",
      "tool_output_tokens_dist_config",
      "subagent_fanout_dist_config",
      "subagent_turns_dist_config",
      "subagent_task_tokens_dist_config",
    ] as const) {
      const d = p[key];
      const problem = d && negativeValueProblem(d);
      if (problem) ctx.addIssue({ code: "custom", path: [key], message: `must be >= 0 (${problem})` });
    }
    if (p.subagent_probability > 0 && !p.subagent_fanout_dist_config)
      ctx.addIssue({
        code: "custom",
        path: ["subagent_fanout_dist_config"],
        message: `required when subagent_probability > 0 (got ${p.subagent_probability})`,
      });
  });
export type AgentProfileConfig = z.output<typeof agentProfileSchema>;

interface AgentProfile {
  config: AgentProfileConfig;
  interArrival: Distribution;
  taskTokens: Distribution;
  turns: Distribution;
  outputTokens: Distribution;
  reasoningTokens?: Distribution;
  toolLatency: Distribution;
  toolOutputTokens: Distribution;
  fanOut?: Distribution;
  subTurns: Distribution;
  subTaskTokens: Distribution;
  /** Mean tool latency in µs, estimated once (hint_latency: mean). */
  meanToolLatencyUs: number;
}

export interface AgentSourceOptions {
  seed: number;
  /** The served model's tokenizer: synthetic texts are exact token counts of it. */
  tokenizer: Tokenizer;
  /** Planned length, seconds: no session starts later. */
  totalDuration: number;
  /** Cap on max_output_tokens (content + reasoning). */
  maxOutputTokensCap?: number;
}

const atLeast1 = (x: number) => Math.max(1, Math.round(x));
const count = (x: number) => Math.max(0, Math.round(x));
/** Samples used to estimate a distribution's mean for hints (a separate stream: plans do not shift). */
const MEAN_SAMPLES = 20_000;

/**
 * Open-loop agent sessions. Each session: turn 0 sends the task (optionally after a shared system
 * prompt); every later turn is either a tool result (sent `tool_latency` after the previous
 * output ended) or, with `subagent_probability`, the join of F parallel sub-agents that start from
 * the parent's context with their own task and tool calls; the parent's next call waits for all
 * of them and carries their answers. Pure and seeded: one `rngFor` stream per purpose, so e.g.
 * changing the tool latency does not change arrival times.
 *
 * Reasoning profiles plan each call's reply as `<think>` + R tokens + `</think>` + the output, sent
 * as `expected_response` (the mock streams it), with max_output_tokens = its exact token count.
 */
export class AgentSessionSource implements SessionSource {
  private readonly profiles: AgentProfile[];
  private readonly totalWeight: number;
  private readonly arrivals: Rng;
  private readonly choice: Rng;
  private readonly shape: Rng;
  private readonly lengths: Rng;
  private readonly tools: Rng;
  private readonly synth: PromptSynthesizer;
  private tUs = 0;
  private count = 0;
  private done = false;

  constructor(
    profiles: readonly AgentProfileConfig[],
    private readonly options: AgentSourceOptions,
  ) {
    if (profiles.length === 0) throw new Error("agent workload needs at least one agent profile");
    this.profiles = profiles.map((config) => {
      const toolLatency = makeDistribution(config.tool_latency_dist_config);
      const meanRng = rngFor(options.seed, `workloadgen.agent.mean:${config.profile_name}`);
      let sum = 0;
      if (config.hint_latency === "mean")
        for (let i = 0; i < MEAN_SAMPLES; i++) sum += Math.max(0, toolLatency.sample(meanRng));
      return {
        config,
        interArrival: makeInterArrival(config.inter_arrival_time_dist_config),
        taskTokens: makeDistribution(config.task_prompt_tokens_dist_config),
        turns: makeDistribution(config.turns_dist_config),
        outputTokens: makeDistribution(config.output_tokens_dist_config),
        ...(config.reasoning_tokens_dist_config
          ? { reasoningTokens: makeDistribution(config.reasoning_tokens_dist_config) }
          : {}),
        toolLatency,
        toolOutputTokens: makeDistribution(config.tool_output_tokens_dist_config),
        ...(config.subagent_fanout_dist_config
          ? { fanOut: makeDistribution(config.subagent_fanout_dist_config) }
          : {}),
        subTurns: makeDistribution(config.subagent_turns_dist_config ?? config.turns_dist_config),
        subTaskTokens: makeDistribution(
          config.subagent_task_tokens_dist_config ?? config.task_prompt_tokens_dist_config,
        ),
        meanToolLatencyUs: Math.round((sum / MEAN_SAMPLES) * 1e6),
      };
    });
    this.totalWeight = profiles.reduce((s, p) => s + p.weight, 0);
    const seed = options.seed;
    this.arrivals = rngFor(seed, "workloadgen.agent.arrivals");
    this.choice = rngFor(seed, "workloadgen.agent.profiles");
    this.shape = rngFor(seed, "workloadgen.agent.sessions");
    this.lengths = rngFor(seed, "workloadgen.agent.lengths");
    this.tools = rngFor(seed, "workloadgen.agent.tools");
    this.synth = new PromptSynthesizer(seed, options.tokenizer);
  }

  private pickProfile(): AgentProfile {
    let x = this.choice.next() * this.totalWeight;
    for (const p of this.profiles) {
      x -= p.config.weight;
      if (x < 0) return p;
    }
    return this.profiles[this.profiles.length - 1]!;
  }

  next(): SessionPlan | undefined {
    if (this.done) return undefined;
    const profile = this.pickProfile();
    this.tUs += Math.round(Math.max(0, profile.interArrival.sample(this.arrivals)) * 1e6);
    if (this.tUs > this.options.totalDuration * 1e6) {
      this.done = true;
      return undefined;
    }
    const n = this.count++;
    const c = profile.config;
    const sessionId = `a${String(n).padStart(6, "0")}`;
    const system =
      c.system_prompt_tokens > 0
        ? this.synth.text(`system:${c.profile_name}`, c.system_prompt_tokens)
        : undefined;
    const stream = this.shape.next() < c.streaming_response_probability;
    return this.session(profile, sessionId, `${c.profile_name}-${n}`, 0, {
      startUs: this.tUs,
      stream,
      ...(system !== undefined ? { system } : {}),
    });
  }

  /** One agent (depth 0) or sub-agent (depth >= 1) and, recursively, its sub-agents. */
  private session(
    profile: AgentProfile,
    sessionId: string,
    clientId: string,
    depth: number,
    extra: { startUs?: number; stream: boolean; system?: string; parentSessionId?: string },
  ): SessionPlan {
    const c = profile.config;
    const calls = atLeast1((depth === 0 ? profile.turns : profile.subTurns).sample(this.shape));
    const taskTokens = atLeast1(
      (depth === 0 ? profile.taskTokens : profile.subTaskTokens).sample(this.lengths),
    );
    const turns: PlannedTurn[] = [];
    let subAgents = 0;
    for (let i = 0; i < calls; i++) {
      const reply = this.reply(profile, `${sessionId}:${i}`);
      if (i === 0) {
        turns.push({ turnIndex: 0, promptTokens: taskTokens, delayUs: 0, kind: "user", ...reply });
        continue;
      }
      const fanOut =
        profile.fanOut && depth < c.subagent_max_depth && this.shape.next() < c.subagent_probability
          ? atLeast1(profile.fanOut.sample(this.shape))
          : 0;
      if (fanOut > 0) {
        const children: SessionPlan[] = [];
        for (let k = 0; k < fanOut; k++) {
          children.push(
            this.session(profile, `${sessionId}/sub-${subAgents++}`, clientId, depth + 1, {
              stream: extra.stream,
              ...(extra.system !== undefined ? { system: extra.system } : {}),
              parentSessionId: sessionId,
            }),
          );
        }
        // The join's prompt is the sub-agents' answers; plan it as their last calls' output.
        const joined = children.reduce((s, ch) => s + ch.turns[ch.turns.length - 1]!.maxOutputTokens, 0);
        turns.push({
          turnIndex: i,
          promptTokens: joined,
          delayUs: 0,
          kind: "join",
          subAgents: children,
          ...reply,
        });
      } else {
        const latencyUs = Math.round(Math.max(0, profile.toolLatency.sample(this.tools)) * 1e6);
        turns.push({
          turnIndex: i,
          promptTokens: atLeast1(profile.toolOutputTokens.sample(this.tools)),
          delayUs: latencyUs,
          kind: "tool",
          ...(c.hint_latency === "mean" ? { adviseDelayUs: profile.meanToolLatencyUs } : {}),
          ...reply,
        });
      }
    }
    return {
      sessionId,
      clientId,
      profile: c.profile_name,
      ...(extra.startUs !== undefined ? { startUs: extra.startUs } : {}),
      priority: c.priority,
      stream: extra.stream,
      ignoreEos: true,
      mode: "chat",
      ...(extra.system !== undefined ? { system: extra.system } : {}),
      kind: "agent",
      ...(extra.parentSessionId !== undefined ? { parentSessionId: extra.parentSessionId } : {}),
      turns,
    };
  }

  /** The call's output length, and for reasoning profiles the exact reply to replay. */
  private reply(profile: AgentProfile, key: string): { maxOutputTokens: number; expectedResponse?: string } {
    const cap = this.options.maxOutputTokensCap ?? Infinity;
    const output = atLeast1(profile.outputTokens.sample(this.lengths));
    if (!profile.reasoningTokens) return { maxOutputTokens: Math.min(cap, output) };
    const reasoning = count(profile.reasoningTokens.sample(this.lengths));
    const text =
      (reasoning > 0 ? `<think>${this.synth.text(`think:${key}`, reasoning)}</think>` : "") +
      this.synth.text(`reply:${key}`, output);
    return {
      maxOutputTokens: Math.min(cap, this.options.tokenizer.countTokens(text)),
      expectedResponse: text,
    };
  }
}

/**
 * Several open-loop sources as one, in `startUs` order (e.g. chat client profiles beside agent
 * profiles, for a chat-vs-agent comparison in one run). Lazy: holds one pending plan per source.
 */
export function mergeByStart(sources: readonly SessionSource[]): SessionSource {
  const heads = sources.map((s) => s.next());
  return {
    next() {
      let best = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h && (best < 0 || (h.startUs ?? 0) < (heads[best]!.startUs ?? 0))) best = i;
      }
      if (best < 0) return undefined;
      const plan = heads[best]!;
      heads[best] = sources[best]!.next();
      return plan;
    },
  };
}
