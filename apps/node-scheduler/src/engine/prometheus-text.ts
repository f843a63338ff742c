import type { EngineLoad } from "./engine-adapter";

/**
 * Sums of samples per metric name from Prometheus text exposition (labels are folded together),
 * plus the number of samples seen, so callers can sum counts or average ratios.
 */
export function parsePrometheusText(text: string): Map<string, { sum: number; count: number }> {
  const out = new Map<string, { sum: number; count: number }>();
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    // name, optional {labels} (may contain spaces inside quotes), value, optional timestamp
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = Number(m[3]);
    if (!Number.isFinite(value)) continue;
    const entry = out.get(m[1]!) ?? { sum: 0, count: 0 };
    entry.sum += value;
    entry.count++;
    out.set(m[1]!, entry);
  }
  return out;
}

/**
 * vLLM's load gauges: running and waiting requests (summed over engines/models) and KV-cache
 * usage as a fraction 0..1 (averaged; `vllm:kv_cache_usage_perc` in V1, `vllm:gpu_cache_usage_perc`
 * before). Missing gauges are -1.
 */
export function engineLoadFromMetrics(text: string): EngineLoad {
  const samples = parsePrometheusText(text);
  const sum = (name: string) => samples.get(name)?.sum;
  const mean = (name: string) => {
    const s = samples.get(name);
    return s && s.count > 0 ? s.sum / s.count : undefined;
  };
  // Garbage gauges are unknown (-1): they travel in NodeStatus as int32/double, and one
  // unencodable value would fail every Status and heartbeat of this node.
  const count = (v: number | undefined) =>
    v !== undefined && Number.isInteger(v) && v >= 0 && v <= 0x7fff_ffff ? v : -1;
  const fraction = (v: number | undefined) => (v !== undefined && v >= 0 && v <= 1 ? v : undefined);
  return {
    ...cacheCapacity(text),
    running: count(sum("vllm:num_requests_running")),
    waiting: count(sum("vllm:num_requests_waiting")),
    kvUsage: fraction(mean("vllm:kv_cache_usage_perc")) ?? fraction(mean("vllm:gpu_cache_usage_perc")) ?? -1,
  };
}

/**
 * The engine's KV-cache capacity in tokens from vLLM's `vllm:cache_config_info` info metric
 * (labels `num_gpu_blocks` and `block_size`, values as strings); nothing when absent or garbage.
 */
function cacheCapacity(text: string): { kvCacheTokens?: number } {
  const line = /^vllm:cache_config_info\{([^}]*)\}/m.exec(text);
  if (!line) return {};
  const label = (name: string) => {
    const m = new RegExp(`(?:^|,)\\s*${name}="(\\d+)"`).exec(line[1]!);
    return m ? Number(m[1]) : NaN;
  };
  const tokens = label("num_gpu_blocks") * label("block_size");
  return Number.isSafeInteger(tokens) && tokens > 0 ? { kvCacheTokens: tokens } : {};
}
