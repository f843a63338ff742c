/**
 * What one measured point (one configuration at one session count) reports, computed from
 * workloadgen's per-request records so the simulated and the live runs are measured identically.
 */
import { percentileSorted } from "@symphony/measure";

/** The fields of a workloadgen `requests.jsonl` line this experiment reads. */
export interface RecordLine {
  session_id: string;
  turn_index: number;
  kv_tier: string;
  sent_ms: number;
  end_ms: number;
  ttft_ms: number | null;
  e2el_ms: number;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens: number;
  error: string | null;
}

/** Node-side KV movement over the point (summed over nodes). Bytes = tokens × KV bytes per token. */
export interface KvMovement {
  offloads: number;
  offload_bytes: number;
  prefetches: number;
  prefetch_bytes: number;
  restores: number;
  restore_bytes: number;
  evictions: number;
  evicted_bytes: number;
}

export const NO_KV_MOVEMENT: KvMovement = {
  offloads: 0,
  offload_bytes: 0,
  prefetches: 0,
  prefetch_bytes: 0,
  restores: 0,
  restore_bytes: 0,
  evictions: 0,
  evicted_bytes: 0,
};

/** Latency and cache figures of the measured window. Times in ms, rates in 1/s, fractions 0..1. */
export interface LatencyFigures {
  /** Requests that ended in the window without error. */
  completed: number;
  failed: number;
  /** Completed requests per second of the window. */
  request_throughput: number;
  /** Completion tokens per second of the window. */
  output_token_throughput: number;
  ttft_mean_ms: number;
  ttft_p50_ms: number;
  ttft_p99_ms: number;
  e2el_mean_ms: number;
  e2el_p99_ms: number;
  /** Engine prefix-cache hit rate: cached prompt tokens / prompt tokens. */
  prefix_cache_hit_rate: number;
  /** Returning turns (turn_index > 0) whose session's KV was on the node's GPU tier when they arrived. */
  gpu_hit_rate: number;
  /**
   * Prompt tokens the engine computed again although an earlier turn of the same session had
   * already computed them: Σ over returning turns of max(0, previous turn's prompt + completion − cached).
   */
  recomputed_tokens: number;
}

const mean = (xs: readonly number[]) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/**
 * Figures over the requests SENT in [warmupMs, endMs) (ms since the run started). The warm-up is
 * cut because a closed loop starts every session at once: the first turns arrive as one burst
 * that no real steady state has. Recomputation is judged against the session's previous turn
 * even when that turn fell in the warm-up.
 */
export function figuresOf(records: readonly RecordLine[], warmupMs: number, endMs: number): LatencyFigures {
  const windowS = Math.max(endMs - warmupMs, 1) / 1000;
  const previousContext = new Map<string, { turn: number; tokens: number }>();
  const byStart = [...records].sort((a, b) => a.sent_ms - b.sent_ms);
  const ttft: number[] = [];
  const e2el: number[] = [];
  let completed = 0;
  let failed = 0;
  let outputTokens = 0;
  let promptTokens = 0;
  let cachedTokens = 0;
  let returning = 0;
  let gpuHits = 0;
  let recomputed = 0;
  for (const r of byStart) {
    const inWindow = r.sent_ms >= warmupMs && r.sent_ms < endMs;
    const prev = previousContext.get(r.session_id);
    if (r.error === null)
      previousContext.set(r.session_id, {
        turn: r.turn_index,
        tokens: r.prompt_tokens + r.completion_tokens,
      });
    if (!inWindow) continue;
    if (r.error !== null) {
      failed++;
      continue;
    }
    completed++;
    outputTokens += r.completion_tokens;
    promptTokens += r.prompt_tokens;
    cachedTokens += r.cached_tokens;
    if (r.ttft_ms !== null) ttft.push(r.ttft_ms);
    e2el.push(r.e2el_ms);
    if (r.turn_index > 0) {
      returning++;
      if (r.kv_tier === "gpu") gpuHits++;
      if (prev && prev.turn === r.turn_index - 1) recomputed += Math.max(0, prev.tokens - r.cached_tokens);
    }
  }
  ttft.sort((a, b) => a - b);
  e2el.sort((a, b) => a - b);
  return {
    completed,
    failed,
    request_throughput: completed / windowS,
    output_token_throughput: outputTokens / windowS,
    ttft_mean_ms: mean(ttft),
    ttft_p50_ms: percentileSorted(ttft, 50),
    ttft_p99_ms: percentileSorted(ttft, 99),
    e2el_mean_ms: mean(e2el),
    e2el_p99_ms: percentileSorted(e2el, 99),
    prefix_cache_hit_rate: promptTokens > 0 ? cachedTokens / promptTokens : 0,
    gpu_hit_rate: returning > 0 ? gpuHits / returning : 0,
    recomputed_tokens: recomputed,
  };
}

/** One configuration at one session count. */
export interface PointResult extends LatencyFigures, KvMovement {
  mode: "sim" | "live";
  config: string;
  sessions: number;
  /** Wall time the point took, s. */
  wall_s: number;
}

/** The search result for one configuration. */
export interface Capacity {
  config: string;
  /** Highest measured session count whose p99 TTFT met the SLO (0 if none did). */
  max_sessions: number;
  /** The point measured at `max_sessions` (undefined if none met the SLO). */
  at_max: PointResult | undefined;
  /** No measured count failed: the true capacity is at least `max_sessions` (measure higher counts). */
  lower_bound: boolean;
}

/**
 * The highest session count that still meets the p99 TTFT SLO. Points above the first failing
 * count do not count even if they pass (noise must not inflate capacity): capacity is the last
 * count of the unbroken passing run from the smallest count up.
 */
export function capacityOf(config: string, points: readonly PointResult[], sloP99TtftMs: number): Capacity {
  const mine = points.filter((p) => p.config === config).sort((a, b) => a.sessions - b.sessions);
  let best: PointResult | undefined;
  let failed = false;
  for (const p of mine) {
    if (!(p.ttft_p99_ms <= sloP99TtftMs) || p.completed === 0) {
      failed = true;
      break;
    }
    best = p;
  }
  return {
    config,
    max_sessions: best?.sessions ?? 0,
    at_max: best,
    lower_bound: !failed && best !== undefined,
  };
}
