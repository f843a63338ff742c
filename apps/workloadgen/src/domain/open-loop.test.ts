import { parseWithSchema } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { clientProfileSchema, OpenLoopSource, type ClientProfileConfig } from "./open-loop";
import { planLine, summarizePlan } from "./plan-summary";
import type { SessionPlan } from "./plan";

const profile = (over: Record<string, unknown>): ClientProfileConfig =>
  parseWithSchema(
    clientProfileSchema,
    {
      profile_name: "p",
      weight: 1,
      inter_arrival_time_dist_config: { type: "Poisson", rate: 50 },
      prompt_tokens_dist_config: { type: "LogNormal", mean: 128, sigma: 64, is_int: true, min: 1 },
      max_output_tokens_dist_config: { type: "Uniform", low: 10, high: 30, is_int: true },
      ...over,
    },
    "test",
  );

function drain(source: OpenLoopSource): SessionPlan[] {
  const out: SessionPlan[] = [];
  for (let p = source.next(); p; p = source.next()) out.push(p);
  return out;
}

describe("OpenLoopSource", () => {
  it("Poisson 50/s for 200 s -> about 10000 sessions, in time order, within the duration", () => {
    const plans = drain(new OpenLoopSource([profile({})], { seed: 1, totalDuration: 200 }));
    // Count is Poisson(10000): sd 100.
    expect(Math.abs(plans.length - 10_000)).toBeLessThan(400);
    for (let i = 1; i < plans.length; i++)
      expect(plans[i]!.startUs!).toBeGreaterThanOrEqual(plans[i - 1]!.startUs!);
    expect(plans[plans.length - 1]!.startUs!).toBeLessThanOrEqual(200e6);
  });

  it.each([
    [Infinity, Infinity],
    [50e6, Infinity],
    [Infinity, 700],
  ])(
    "countStarts before %d µs, cap %d -> the number of sessions next() gives that start by then",
    (untilUs, cap) => {
      const profiles = [
        profile({ profile_name: "a", weight: 3, conversational_probability: 0.5 }),
        profile({
          profile_name: "b",
          weight: 1,
          inter_arrival_time_dist_config: { type: "Constant", value: 0.05 },
        }),
      ];
      const options = { seed: 4, totalDuration: 100 };
      const plans = drain(new OpenLoopSource(profiles, options)).filter((p) => p.startUs! < untilUs);
      expect(plans.length).toBeGreaterThan(1000);
      expect(new OpenLoopSource(profiles, options).countStarts(untilUs, cap)).toBe(
        Math.min(cap, plans.length),
      );
    },
  );

  it("weights 3:1 -> 75% / 25% of sessions", () => {
    const source = new OpenLoopSource(
      [profile({ profile_name: "a", weight: 3 }), profile({ profile_name: "b", weight: 1 })],
      { seed: 2, totalDuration: 200 },
    );
    const s = summarizePlan(source);
    const share = s.sessions_by_profile.a! / s.sessions;
    // Binomial sd at n~10000, p=.75 is ~0.0043.
    expect(Math.abs(share - 0.75)).toBeLessThan(0.02);
  });

  it("mixed inter-arrivals -> rate is 1 / weighted mean gap", () => {
    const source = new OpenLoopSource(
      [
        profile({ profile_name: "fast", inter_arrival_time_dist_config: { type: "Constant", value: 0.01 } }),
        profile({ profile_name: "slow", inter_arrival_time_dist_config: { type: "Constant", value: 0.03 } }),
      ],
      { seed: 3, totalDuration: 100 },
    );
    const s = summarizePlan(source);
    expect(s.session_rate_per_s).toBeGreaterThan(47);
    expect(s.session_rate_per_s).toBeLessThan(53); // theory 1 / 0.02 = 50
  });

  it("conversational 0.3 with 2 follow-ups -> 30% sessions of 3 turns, chat mode, delays from the distribution", () => {
    const plans = drain(
      new OpenLoopSource(
        [
          profile({
            conversational_probability: 0.3,
            follow_up_turns_dist_config: { type: "Constant", value: 2 },
            follow_up_delay_dist_config: { type: "Constant", value: 4 },
          }),
        ],
        { seed: 4, totalDuration: 200 },
      ),
    );
    const conv = plans.filter((p) => p.turns.length > 1);
    expect(Math.abs(conv.length / plans.length - 0.3)).toBeLessThan(0.02);
    for (const p of conv) {
      expect(p.turns).toHaveLength(3);
      expect(p.mode).toBe("chat");
      expect(p.turns.map((t) => t.delayUs)).toEqual([0, 4e6, 4e6]);
    }
    expect(plans.filter((p) => p.turns.length === 1).every((p) => p.mode === "completion")).toBe(true);
  });

  it("streaming probability 0.2 -> about 20% streamed", () => {
    const s = summarizePlan(
      new OpenLoopSource([profile({ streaming_response_probability: 0.2 })], { seed: 5, totalDuration: 200 }),
    );
    expect(Math.abs(s.stream_fraction - 0.2)).toBeLessThan(0.02);
  });

  it("token lengths -> LogNormal mean 128 and Uniform 10..30 integers, capped by maxOutputTokensCap", () => {
    const s = summarizePlan(new OpenLoopSource([profile({})], { seed: 6, totalDuration: 200 }));
    expect(Math.abs(s.prompt_tokens.mean - 128)).toBeLessThan(3);
    expect(Math.abs(s.max_output_tokens.mean - 20)).toBeLessThan(0.5);
    const capped = summarizePlan(
      new OpenLoopSource([profile({})], { seed: 6, totalDuration: 20, maxOutputTokensCap: 15 }),
    );
    expect(capped.max_output_tokens.max).toBe(15);
  });

  it("same seed -> identical plan lines; different seed -> different", () => {
    const lines = (seed: number) =>
      drain(
        new OpenLoopSource([profile({ conversational_probability: 0.5 })], { seed, totalDuration: 20 }),
      ).map(planLine);
    expect(lines(9)).toEqual(lines(9));
    expect(lines(10)).not.toEqual(lines(9));
  });
});
