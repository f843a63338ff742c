/**
 * How returning turns found their context, counted the same way for a simulated and a live run
 * from workloadgen's records, so the two can be compared figure by figure.
 */
import type { RecordLine } from "./point-metrics";

/** The record fields this breakdown reads beyond `RecordLine`. */
export interface NodeRecordLine extends RecordLine {
  node_id: string;
  queue_time_ms: number | null;
}

/** Shares are of the returning turns (turn_index > 0) sent in the window that completed. */
export interface ReturningTurns {
  returning: number;
  /** Record's `kv_tier` is "gpu": what the server said (simulated stock engine: its prefix cache; live: the node's own accounting). */
  tier_gpu: number;
  /**
   * The engine served every full KV block of the previous turn's context from cache
   * (`cached_tokens` ≥ full blocks of its prompt + completion − 1, the last sampled token never
   * having been computed): a prefix-cache hit, or a CPU-tier load where the engine offloads.
   */
  context_cached: number;
  /** The previous turn of the session ran on the same node. */
  same_node_as_previous: number;
  /** Some earlier turn of the session ran on the same node (the node knows the session). */
  node_saw_session: number;
  /** Mean node queue time of every completed turn in the window, ms. */
  queue_mean_ms: number;
  /** Mean TTFT minus node queue time of every completed turn in the window, ms. */
  ttft_after_queue_mean_ms: number;
}

/** The breakdown over records sent in [warmupMs, endMs); `blockSize` is the engine's KV block size. */
export function returningTurns(
  records: readonly NodeRecordLine[],
  warmupMs: number,
  endMs: number,
  blockSize: number,
): ReturningTurns {
  const byStart = [...records].sort((a, b) => a.sent_ms - b.sent_ms);
  const previous = new Map<string, { turn: number; tokens: number; node: string }>();
  const nodesSeen = new Map<string, Set<string>>();
  let returning = 0;
  let tierGpu = 0;
  let cached = 0;
  let sameNode = 0;
  let sawSession = 0;
  let queueSum = 0;
  let queueN = 0;
  let afterQueueSum = 0;
  let afterQueueN = 0;
  for (const r of byStart) {
    const prev = previous.get(r.session_id);
    const seen = nodesSeen.get(r.session_id);
    const nodeKnew = seen?.has(r.node_id) ?? false;
    if (r.error === null) {
      previous.set(r.session_id, {
        turn: r.turn_index,
        tokens: r.prompt_tokens + r.completion_tokens,
        node: r.node_id,
      });
      if (seen) seen.add(r.node_id);
      else nodesSeen.set(r.session_id, new Set([r.node_id]));
    }
    if (r.error !== null || r.sent_ms < warmupMs || r.sent_ms >= endMs) continue;
    if (r.queue_time_ms !== null) {
      queueSum += r.queue_time_ms;
      queueN++;
      if (r.ttft_ms !== null) {
        afterQueueSum += r.ttft_ms - r.queue_time_ms;
        afterQueueN++;
      }
    }
    if (r.turn_index === 0) continue;
    returning++;
    if (r.kv_tier === "gpu") tierGpu++;
    if (prev && prev.turn === r.turn_index - 1) {
      const fullBlocks = Math.floor(Math.max(0, prev.tokens - 1) / blockSize) * blockSize;
      if (r.cached_tokens >= fullBlocks) cached++;
      if (prev.node === r.node_id) sameNode++;
    }
    if (nodeKnew) sawSession++;
  }
  const share = (n: number) => (returning > 0 ? n / returning : NaN);
  return {
    returning,
    tier_gpu: share(tierGpu),
    context_cached: share(cached),
    same_node_as_previous: share(sameNode),
    node_saw_session: share(sawSession),
    queue_mean_ms: queueN > 0 ? queueSum / queueN : NaN,
    ttft_after_queue_mean_ms: afterQueueN > 0 ? afterQueueSum / afterQueueN : NaN,
  };
}
