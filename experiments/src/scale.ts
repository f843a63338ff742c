/** One scale of the experiment: the cluster shape and the workload, shared by every configuration. */
export interface Scale {
  /** "sim" (virtual time, the real domain code) or "live" (processes on loopback). */
  readonly mode: "sim" | "live";
  readonly nodes: number;
  /** Engine KV cache per node = node GPU budget, tokens (the engine gets exactly this many blocks). */
  readonly kvTokens: number;
  /** Node CPU offload tier per node, tokens (configurations 3 and 4 only; 1 and 2 have none). */
  readonly cpuTokens: number;
  /** Concurrent sessions (closed-loop clients) to measure, ascending. */
  readonly sessions: readonly number[];
  /** Seconds of traffic per point (virtual in sim, wall in live). */
  readonly durationS: number;
  /** Seconds at the start of each point left out of the figures (the closed loop's start burst). */
  readonly warmupS: number;
  /** User think times are divided by this (workloadgen --time-scale). */
  readonly thinkTimeScale: number;
  /** Engine durations are divided by this (mock-vllm --time-scale); live only, to fit a small machine. */
  readonly engineTimeScale: number;
}
