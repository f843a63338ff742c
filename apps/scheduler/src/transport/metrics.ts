import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Router } from "../domain";

/** The scheduler's Prometheus metrics, on an injected registry. */
export class SchedulerMetrics {
  readonly routed: Counter<"node" | "policy">;
  readonly decisions: Counter<"policy" | "reason">;
  readonly failovers: Counter<"from_node">;
  readonly moved: Counter<"reason">;
  readonly turnErrors: Counter<"code">;
  readonly inFlight: Gauge;
  /** Time from receiving a Submit to issuing the node call (validation + routing + dispatch). */
  readonly routeOverhead: Histogram;
  /** Time from receiving a Submit to relaying its first event. */
  readonly firstEvent: Histogram;

  constructor(
    readonly registry: Registry,
    router: Router,
  ) {
    this.routed = new Counter({
      name: "scheduler_requests_routed_total",
      help: "Turns relayed, per node and policy",
      labelNames: ["node", "policy"],
      registers: [registry],
    });
    this.decisions = new Counter({
      name: "scheduler_route_decisions_total",
      help: "Routing decisions by reason (sticky, new-session, failover, ...)",
      labelNames: ["policy", "reason"],
      registers: [registry],
    });
    this.failovers = new Counter({
      name: "scheduler_failovers_total",
      help: "Sessions whose node died and whose next turn went to another node (KV recomputed)",
      labelNames: ["from_node"],
      registers: [registry],
    });
    this.moved = new Counter({
      name: "scheduler_sessions_moved_total",
      help: "Idle sessions moved by rebalancing",
      labelNames: ["reason"],
      registers: [registry],
    });
    this.turnErrors = new Counter({
      name: "scheduler_turn_errors_total",
      help: "Turns that ended with an error event or status, by gRPC code name",
      labelNames: ["code"],
      registers: [registry],
    });
    this.inFlight = new Gauge({
      name: "scheduler_inflight_requests",
      help: "Turns being relayed now",
      registers: [registry],
    });
    this.routeOverhead = new Histogram({
      name: "scheduler_route_overhead_seconds",
      help: "Submit received -> node call issued (validation, routing, dispatch)",
      buckets: [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01],
      registers: [registry],
    });
    this.firstEvent = new Histogram({
      name: "scheduler_relay_first_event_seconds",
      help: "Submit received -> first event relayed to the client (includes the node's queue)",
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    });
    new Gauge({
      name: "scheduler_sessions",
      help: "Sessions assigned per node",
      labelNames: ["node"],
      registers: [registry],
      collect() {
        this.reset();
        for (const n of router.registry.all())
          this.set({ node: n.nodeId }, router.sessions.countOn(n.nodeId));
      },
    });
    new Gauge({
      name: "scheduler_nodes",
      help: "Known nodes by state (up, down, draining)",
      labelNames: ["state"],
      registers: [registry],
      collect() {
        const counts = { up: 0, down: 0, draining: 0 };
        for (const n of router.registry.all()) counts[router.registry.state(n)]++;
        for (const [state, v] of Object.entries(counts)) this.set({ state }, v);
      },
    });
  }
}
