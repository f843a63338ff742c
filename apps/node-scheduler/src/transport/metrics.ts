import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { NodeCore, NodeCoreStats, WarmupPlanner } from "../domain";
import type { EngineLoad } from "../engine/engine-adapter";
import type { EngineKvEvents } from "../engine/kv-events-feed";

/** Histograms and counters the transport observes directly; the rest is read from the core on scrape. */
export interface NodeMetrics {
  queueSeconds: Histogram;
  restoreSeconds: Histogram;
  engineTtftSeconds: Histogram;
  engineE2eSeconds: Histogram;
  turns: Counter<"outcome">;
  engineRetries: Counter;
  hints: Counter<"accepted">;
  /** Turns by how the engine's reported cached tokens compared with what its events predicted. */
  residencyPredictions: Counter<"result">;
  /** Returning turns by where the engine held their session's context at dispatch (from its events). */
  contextResidency: Counter<"where">;
  tokenizeFailures: Counter;
}

/** Optional parts of a node whose metrics are read at scrape time. */
export interface StockEngineParts {
  warmups?: WarmupPlanner;
  kvEvents?: EngineKvEvents;
}

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * Registers the node's metrics (prefix `symphony_node_`) on `registry`. Gauges and the
 * core-owned counters are computed at scrape time from `core.status()` / `core.stats`, so the
 * domain stays free of prom-client.
 */
export function createNodeMetrics(
  registry: Registry,
  core: NodeCore,
  engineLoad: () => EngineLoad,
  stock: StockEngineParts = {},
): NodeMetrics {
  const bytesPerToken = core.gpu.bytesPerToken;
  new Gauge({
    name: "symphony_node_queue_depth",
    help: "Turns waiting in the node queue",
    registers: [registry],
    collect() {
      this.set(core.queueDepth);
    },
  });
  new Gauge({
    name: "symphony_node_running",
    help: "Turns admitted (restoring KV or running on the engine)",
    registers: [registry],
    collect() {
      this.set(core.running);
    },
  });
  const tierGauge = (
    name: string,
    help: string,
    pick: (t: ReturnType<NodeCore["status"]>["tiers"][number]) => number,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ["tier"],
      registers: [registry],
      collect() {
        for (const t of core.status().tiers) this.set({ tier: t.name }, pick(t));
      },
    });
  tierGauge("symphony_node_kv_used_tokens", "KV tokens held per tier", (t) => t.usedTokens);
  tierGauge("symphony_node_kv_budget_tokens", "KV token budget per tier", (t) => t.budgetTokens);
  tierGauge("symphony_node_kv_used_bytes", "KV bytes held per tier", (t) => t.usedBytes);
  tierGauge("symphony_node_sessions", "Sessions holding KV per tier", (t) => t.sessions);
  new Gauge({
    name: "symphony_node_engine_load",
    help: "Engine load from its /metrics (-1 = unknown): kv_usage fraction, waiting and running requests",
    labelNames: ["gauge"],
    registers: [registry],
    collect() {
      const l = engineLoad();
      this.set({ gauge: "kv_usage" }, l.kvUsage);
      this.set({ gauge: "waiting" }, l.waiting);
      this.set({ gauge: "running" }, l.running);
    },
  });

  // Monotonic counters owned by the core: mirrored at scrape time.
  const mirror = (name: string, help: string, read: (s: NodeCoreStats) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(core.stats));
      },
    });
  new Counter({
    name: "symphony_node_session_lookups_total",
    help: "Arriving turns by where their session's KV was: gpu (hit), cpu (hit after restore), miss, new",
    labelNames: ["result"],
    registers: [registry],
    collect() {
      const s = core.stats;
      this.reset();
      this.inc({ result: "gpu" }, s.hitsGpu);
      this.inc({ result: "cpu" }, s.hitsCpu);
      this.inc({ result: "miss" }, s.misses);
      this.inc({ result: "new" }, s.newSessions);
    },
  });
  mirror("symphony_node_offloads_total", "KV offloads started (gpu -> cpu)", (s) => s.offloads);
  mirror("symphony_node_offload_bytes_total", "KV bytes offloaded", (s) => s.offloadTokens * bytesPerToken);
  mirror(
    "symphony_node_offloads_cancelled_total",
    "Offloads abandoned because the session came back",
    (s) => s.offloadsCancelled,
  );
  mirror("symphony_node_prefetches_total", "Hinted prefetches started (cpu -> gpu)", (s) => s.prefetches);
  mirror(
    "symphony_node_prefetch_bytes_total",
    "KV bytes prefetched",
    (s) => s.prefetchTokens * bytesPerToken,
  );
  mirror(
    "symphony_node_restores_total",
    "On-demand restores for arrived turns (cpu -> gpu)",
    (s) => s.restores,
  );
  mirror(
    "symphony_node_restore_bytes_total",
    "KV bytes restored on demand",
    (s) => s.restoreTokens * bytesPerToken,
  );
  mirror(
    "symphony_node_evictions_total",
    "Sessions whose KV was dropped (must recompute)",
    (s) => s.evictions,
  );
  mirror("symphony_node_evicted_bytes_total", "KV bytes dropped", (s) => s.evictedTokens * bytesPerToken);
  mirror(
    "symphony_node_rejected_total",
    "Turns refused at submit (queue full or larger than the budget)",
    (s) => s.rejectedQueueFull + s.rejectedTooLarge,
  );

  const { warmups, kvEvents } = stock;
  if (warmups) {
    new Counter({
      name: "symphony_node_warmups_total",
      help:
        "Warm-up requests by outcome: planned, skipped (session due back too soon, or at capacity), " +
        "cancelled (turn came first), sent, overtaken (turn arrived " +
        "while it ran), useful (the turn found the warmed context cached), wasted",
      labelNames: ["outcome"],
      registers: [registry],
      collect() {
        const w = warmups.stats;
        this.reset();
        this.inc({ outcome: "planned" }, w.planned);
        this.inc({ outcome: "skipped" }, w.skipped);
        this.inc({ outcome: "cancelled" }, w.cancelled);
        this.inc({ outcome: "sent" }, w.sent);
        this.inc({ outcome: "overtaken" }, w.overtaken);
        this.inc({ outcome: "useful" }, w.useful);
        this.inc(
          { outcome: "wasted" },
          Object.values(w.wasted).reduce((a, b) => a + b, 0),
        );
      },
    });
    new Counter({
      name: "symphony_node_warmups_wasted_total",
      help: "Sent warm-ups that did not help, by reason: not_cached, failed, session_closed, turn_failed",
      labelNames: ["reason"],
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(warmups.stats.wasted)) this.inc({ reason }, n);
      },
    });
  }
  if (kvEvents) {
    new Gauge({
      name: "symphony_node_engine_kv_cached_tokens",
      help: "Tokens in blocks the engine caches, per medium, from its KV-cache events",
      labelNames: ["medium"],
      registers: [registry],
      collect() {
        const bs = kvEvents.index.blockSize ?? 0;
        const st = kvEvents.index.stats();
        this.set({ medium: "GPU" }, st.gpuBlocks * bs);
        this.set({ medium: "CPU" }, st.cpuBlocks * bs);
      },
    });
    new Counter({
      name: "symphony_node_kv_events_total",
      help: "KV-cache event batches: received, replayed, gaps, resets (engine restart or unrecoverable gap), decode_errors",
      labelNames: ["kind"],
      registers: [registry],
      collect() {
        const st = kvEvents.stats();
        this.reset();
        this.inc({ kind: "received" }, st.batches);
        this.inc({ kind: "replayed" }, st.replayedBatches);
        this.inc({ kind: "gaps" }, st.gaps);
        this.inc({ kind: "resets" }, st.resets);
        this.inc({ kind: "decode_errors" }, st.decodeErrors);
      },
    });
  }

  return {
    residencyPredictions: new Counter({
      name: "symphony_node_residency_predictions_total",
      help:
        "Turns by how the engine's cached_tokens compared with the cached prefix its KV events predicted " +
        "at dispatch: exact, over (predicted more), under",
      labelNames: ["result"],
      registers: [registry],
    }),
    contextResidency: new Counter({
      name: "symphony_node_context_residency_total",
      help:
        "Turns of sessions with a known context, by where the engine's KV events put that context at " +
        "dispatch: gpu (all of it), cpu (the rest in the CPU offload tier), partial, miss",
      labelNames: ["where"],
      registers: [registry],
    }),
    tokenizeFailures: new Counter({
      name: "symphony_node_tokenize_failures_total",
      help: "Engine /tokenize calls for a session's context that failed (its residency stays unknown)",
      registers: [registry],
    }),
    queueSeconds: new Histogram({
      name: "symphony_node_queue_seconds",
      help: "Time from arrival to admission",
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    restoreSeconds: new Histogram({
      name: "symphony_node_kv_restore_seconds",
      help: "Time from admission to dispatch spent moving the session's KV back to GPU",
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    engineTtftSeconds: new Histogram({
      name: "symphony_node_engine_ttft_seconds",
      help: "Engine time to first token, from hand-off",
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    engineE2eSeconds: new Histogram({
      name: "symphony_node_engine_e2e_seconds",
      help: "Engine time to last token, from hand-off",
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    }),
    turns: new Counter({
      name: "symphony_node_turns_total",
      help: "Turns ended, by outcome (finished or the gRPC code name of the error)",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    engineRetries: new Counter({
      name: "symphony_node_engine_retries_total",
      help: "Engine calls retried after a retryable failure",
      registers: [registry],
    }),
    hints: new Counter({
      name: "symphony_node_hints_total",
      help: "Advise hints received, by whether the session was known here",
      labelNames: ["accepted"],
      registers: [registry],
    }),
  };
}
