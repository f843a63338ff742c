import { rngFor, type Rng } from "@symphony/common";
import { z } from "zod";
import {
  distributionConfigSchema,
  interArrivalConfigSchema,
  makeDistribution,
  makeInterArrival,
  type Distribution,
} from "./distributions";
import type { PlannedTurn, SessionPlan, SessionSource } from "./plan";

const probability = z.number().min(0).max(1);

/**
 * One client profile of the design's YAML. Times in seconds; token counts are rounded and at
 * least 1. Follow-up turns (conversational sessions) wait `follow_up_delay_dist_config` seconds
 * after the previous response ends; `follow_up_turns_dist_config` is the number of follow-ups.
 */
export const clientProfileSchema = z.strictObject({
  profile_name: z.string().min(1),
  weight: z.number().positive(),
  inter_arrival_time_dist_config: interArrivalConfigSchema,
  prompt_tokens_dist_config: distributionConfigSchema,
  max_output_tokens_dist_config: distributionConfigSchema,
  conversational_probability: probability.default(0),
  follow_up_delay_dist_config: distributionConfigSchema.default({ type: "Exponential", mean: 30 }),
  follow_up_turns_dist_config: distributionConfigSchema.default({ type: "Constant", value: 2 }),
  streaming_response_probability: probability.default(1),
  priority: z.enum(["high", "normal", "low"]).default("normal"),
});
export type ClientProfileConfig = z.output<typeof clientProfileSchema>;

interface Profile {
  config: ClientProfileConfig;
  interArrival: Distribution;
  promptTokens: Distribution;
  maxOutputTokens: Distribution;
  followUpDelay: Distribution;
  followUpTurns: Distribution;
}

export interface OpenLoopOptions {
  seed: number;
  /** Planned length, seconds: no session starts later. */
  totalDuration: number;
  /** Cap on max_output_tokens. */
  maxOutputTokensCap?: number;
}

const tokens = (x: number) => Math.max(1, Math.round(x));

/** Most follow-up turns of one session (longer draws are capped): one plan can never be endless. */
export const MAX_FOLLOW_UP_TURNS = 10_000;

/**
 * Open-loop arrivals from a weighted mix of client profiles. Each arrival's profile is drawn by
 * weight (so the share of sessions per profile is weight / total weight); the gap before it is
 * drawn from THAT profile's inter-arrival distribution. Arrival times do not depend on how fast
 * the server answers (open loop); only follow-up turns of conversational sessions wait for the
 * previous response. Pure and seeded: separate `rngFor` streams per purpose.
 */
export class OpenLoopSource implements SessionSource {
  private readonly profiles: Profile[];
  private readonly totalWeight: number;
  private readonly arrivals: Rng;
  private readonly choice: Rng;
  private readonly shape: Rng;
  private readonly lengths: Rng;
  private tUs = 0;
  private count = 0;
  private done = false;

  constructor(
    profiles: readonly ClientProfileConfig[],
    private readonly options: OpenLoopOptions,
  ) {
    if (profiles.length === 0) throw new Error("open loop needs at least one client profile");
    this.profiles = profiles.map((config) => ({
      config,
      interArrival: makeInterArrival(
        config.inter_arrival_time_dist_config,
        `client profile "${config.profile_name}": inter_arrival_time_dist_config`,
      ),
      promptTokens: makeDistribution(config.prompt_tokens_dist_config),
      maxOutputTokens: makeDistribution(config.max_output_tokens_dist_config),
      followUpDelay: makeDistribution(config.follow_up_delay_dist_config),
      followUpTurns: makeDistribution(config.follow_up_turns_dist_config),
    }));
    this.totalWeight = profiles.reduce((s, p) => s + p.weight, 0);
    const seed = options.seed;
    this.arrivals = rngFor(seed, "workloadgen.open.arrivals");
    this.choice = rngFor(seed, "workloadgen.open.profiles");
    this.shape = rngFor(seed, "workloadgen.open.sessions");
    this.lengths = rngFor(seed, "workloadgen.open.lengths");
  }

  private pickProfile(): Profile {
    let x = this.choice.next() * this.totalWeight;
    for (const p of this.profiles) {
      x -= p.config.weight;
      if (x < 0) return p;
    }
    return this.profiles[this.profiles.length - 1]!;
  }

  /**
   * How many sessions start before `untilUs` (µs of the plan's time), counting at most `cap`:
   * the first turns an open-loop run sends by then (each is sent at its session's start). Draws
   * only the arrival streams, exactly as `next` does, so call it on a fresh source used for
   * nothing else; cheap (no prompt or length draws).
   */
  countStarts(untilUs: number, cap: number): number {
    let n = 0;
    while (n < cap) {
      const profile = this.pickProfile();
      this.tUs += Math.round(Math.max(0, profile.interArrival.sample(this.arrivals)) * 1e6);
      if (this.tUs > this.options.totalDuration * 1e6 || this.tUs >= untilUs) break;
      n++;
    }
    return n;
  }

  next(): SessionPlan | undefined {
    if (this.done) return undefined;
    const profile = this.pickProfile();
    const gapS = Math.max(0, profile.interArrival.sample(this.arrivals));
    this.tUs += Math.round(gapS * 1e6);
    if (this.tUs > this.options.totalDuration * 1e6) {
      this.done = true;
      return undefined;
    }
    const c = profile.config;
    const conversational = this.shape.next() < c.conversational_probability;
    const followUps = conversational
      ? Math.min(MAX_FOLLOW_UP_TURNS, Math.max(0, Math.round(profile.followUpTurns.sample(this.shape))))
      : 0;
    const stream = this.shape.next() < c.streaming_response_probability;
    const cap = this.options.maxOutputTokensCap ?? Infinity;
    const turns: PlannedTurn[] = [];
    for (let i = 0; i <= followUps; i++) {
      turns.push({
        turnIndex: i,
        promptTokens: tokens(profile.promptTokens.sample(this.lengths)),
        maxOutputTokens: Math.min(cap, tokens(profile.maxOutputTokens.sample(this.lengths))),
        delayUs: i === 0 ? 0 : Math.round(Math.max(0, profile.followUpDelay.sample(this.shape)) * 1e6),
      });
    }
    const n = this.count++;
    return {
      sessionId: `s${String(n).padStart(6, "0")}`,
      clientId: `${c.profile_name}-${n}`,
      profile: c.profile_name,
      startUs: this.tUs,
      priority: c.priority,
      stream,
      ignoreEos: true,
      mode: conversational ? "chat" : "completion",
      turns,
    };
  }
}
