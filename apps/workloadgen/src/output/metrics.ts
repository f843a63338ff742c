import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { RequestRecord } from "@symphony/measure";

const LATENCY_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const TOKEN_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64];

/**
 * Client-side Prometheus metrics (`--metrics-port`), so a long run can be watched live next to
 * the servers' own metrics. Names use the `workloadgen_` prefix; times in seconds.
 */
export class WorkloadMetrics {
  private readonly requests: Counter<"status">;
  private readonly ttft: Histogram;
  private readonly tpot: Histogram;
  private readonly e2el: Histogram;
  private readonly lag: Histogram;
  private readonly outputTokens: Counter;
  private readonly cachedTokens: Counter;
  readonly inFlight: Gauge;
  readonly activeSessions: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: "workloadgen_requests_total",
      help: "Requests finished, by status (ok or the error code)",
      labelNames: ["status"],
      registers,
    });
    this.ttft = new Histogram({
      name: "workloadgen_ttft_seconds",
      help: "Time to first token",
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.tpot = new Histogram({
      name: "workloadgen_tpot_seconds",
      help: "Time per output token after the first",
      buckets: TOKEN_BUCKETS_S,
      registers,
    });
    this.e2el = new Histogram({
      name: "workloadgen_e2el_seconds",
      help: "End-to-end request latency",
      buckets: LATENCY_BUCKETS_S,
      registers,
    });
    this.lag = new Histogram({
      name: "workloadgen_schedule_lag_seconds",
      help: "Actual minus scheduled send time (client saturation)",
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.outputTokens = new Counter({
      name: "workloadgen_output_tokens_total",
      help: "Tokens generated",
      registers,
    });
    this.cachedTokens = new Counter({
      name: "workloadgen_cached_prompt_tokens_total",
      help: "Prompt tokens served from the prefix cache",
      registers,
    });
    this.inFlight = new Gauge({
      name: "workloadgen_in_flight",
      help: "Requests sent and not finished",
      registers,
    });
    this.activeSessions = new Gauge({
      name: "workloadgen_active_sessions",
      help: "Sessions started and not closed",
      registers,
    });
  }

  observe(r: RequestRecord): void {
    this.requests.inc({ status: r.error === null ? "ok" : r.error.split(":")[0]! });
    this.lag.observe(r.schedule_lag_ms / 1000);
    if (r.error !== null) return;
    if (r.ttft_ms !== null) this.ttft.observe(r.ttft_ms / 1000);
    if (r.tpot_ms !== null) this.tpot.observe(r.tpot_ms / 1000);
    this.e2el.observe(r.e2el_ms / 1000);
    this.outputTokens.inc(r.completion_tokens);
    this.cachedTokens.inc(r.cached_tokens);
  }
}
