import type { SessionPlan, SessionSource } from "./plan";
import { summarize, type MetricSummary } from "@symphony/measure";

/** Aggregate shape of a plan, for `--dry-run`. Rates are per second of user time. */
export interface PlanSummary {
  sessions: number;
  requests: number;
  /** Start of the last session, s (open loop / trace). */
  span_s: number;
  session_rate_per_s: number;
  /** All planned turns / span. */
  request_rate_per_s: number;
  conversation_fraction: number;
  stream_fraction: number;
  turns_per_session: MetricSummary;
  prompt_tokens: MetricSummary;
  max_output_tokens: MetricSummary;
  sessions_by_profile: Record<string, number>;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

function estimateThinkMs(plan: SessionPlan, turn: number): number {
  const speeds = plan.speeds!;
  const previousReply = turn > 0 ? (plan.turns[turn - 1]!.expectedResponse?.length ?? 0) : 0;
  const prompt = plan.turns[turn]!.text?.length ?? 0;
  return (previousReply / speeds.readCharsPerSec + prompt / speeds.typeCharsPerSec) * 1000;
}

/** One plan line: the session with times in ms, as written to plan.jsonl. */
export function planLine(plan: SessionPlan): string {
  return JSON.stringify({
    session_id: plan.sessionId,
    client_id: plan.clientId,
    profile: plan.profile,
    start_ms: plan.startUs === undefined ? null : plan.startUs / 1000,
    priority: plan.priority,
    stream: plan.stream,
    mode: plan.mode,
    ...(plan.speeds
      ? { read_cps: round3(plan.speeds.readCharsPerSec), type_cps: round3(plan.speeds.typeCharsPerSec) }
      : {}),
    turns: plan.turns.map((t, i) => ({
      turn_index: t.turnIndex,
      delay_ms: t.delayUs === undefined ? null : t.delayUs / 1000,
      // Closed loop: the wait if the reply received equals the dataset's (before --time-scale).
      ...(t.delayUs === undefined && plan.speeds
        ? { think_ms_estimate: round3(estimateThinkMs(plan, i)) }
        : {}),
      prompt_tokens: t.promptTokens,
      max_output_tokens: t.maxOutputTokens,
      ...(t.hashIds ? { hash_ids: t.hashIds } : {}),
    })),
  });
}

/**
 * Drains up to `limit` sessions from `source`, calling `each` per session, and summarizes them.
 * Token figures count every turn's new user tokens and its max_output_tokens.
 */
export function summarizePlan(
  source: SessionSource,
  limit = Infinity,
  each: (plan: SessionPlan, index: number) => void = () => {},
): PlanSummary {
  const prompt: number[] = [];
  const output: number[] = [];
  const turns: number[] = [];
  const byProfile: Record<string, number> = {};
  let sessions = 0;
  let conversational = 0;
  let streamed = 0;
  let lastStartUs = 0;
  for (
    let plan = source.next();
    plan && sessions < limit;
    plan = sessions < limit ? source.next() : undefined
  ) {
    each(plan, sessions);
    sessions++;
    turns.push(plan.turns.length);
    if (plan.turns.length > 1) conversational++;
    if (plan.stream) streamed++;
    byProfile[plan.profile] = (byProfile[plan.profile] ?? 0) + 1;
    if (plan.startUs !== undefined) lastStartUs = plan.startUs;
    for (const t of plan.turns) {
      prompt.push(t.promptTokens);
      output.push(t.maxOutputTokens);
    }
  }
  const span = lastStartUs / 1e6;
  return {
    sessions,
    requests: prompt.length,
    span_s: span,
    session_rate_per_s: span > 0 ? sessions / span : NaN,
    request_rate_per_s: span > 0 ? prompt.length / span : NaN,
    conversation_fraction: sessions > 0 ? conversational / sessions : NaN,
    stream_fraction: sessions > 0 ? streamed / sessions : NaN,
    turns_per_session: summarize(turns),
    prompt_tokens: summarize(prompt),
    max_output_tokens: summarize(output),
    sessions_by_profile: byProfile,
  };
}
