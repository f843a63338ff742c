/** One run of a sweep, as a row of the comparison table. */
export interface SweepRow {
  run: string;
  params: Record<string, string>;
  completed: number;
  failed: number;
  request_throughput: number;
  output_token_throughput: number;
  ttft_mean_ms: number;
  ttft_p50_ms: number;
  ttft_p99_ms: number;
  tpot_mean_ms: number;
  e2el_mean_ms: number;
  e2el_p99_ms: number;
  /** Cached prompt tokens / prompt tokens. */
  prefix_cache_hit: number;
  /** Returning turns that found their session's KV on the node (GPU or CPU tier). */
  session_hit_rate: number;
  virtual_s: number;
  wall_s: number;
}
