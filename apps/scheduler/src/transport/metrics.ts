import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Router } from "../domain";

type CounterChild = ReturnType<Counter["labels"]>;

/** A counter's per-label-value children, bound once: `labels()` hashes its labels on every call. */
class BoundChildren {
  private readonly children = new Map<string, CounterChild>();
  constructor(private readonly bind: (value: string) => CounterChild) {}

  get(value: string): CounterChild {
    let child = this.children.get(value);
    if (!child) {
      child = this.bind(value);
      this.children.set(value, child);
    }
    return child;
  }
}

/**
 * The scheduler's Prometheus metrics, on an injected registry. Counters updated on every turn
 * are used through pre-bound children (`routedTo(node)`, ...), so the per-turn cost is an
 * increment rather than a label-hashing lookup.
 */
export class SchedulerMetrics {
  readonly routed: Counter<"node" | "policy">;
  readonly decisions: Counter<"policy" | "reason">;
  readonly failovers: Counter<"from_node">;
  readonly moved: Counter<"reason">;
  readonly turnErrors: Counter<"code">;
  /** Turns a node failed retryably before any output, placed on another node instead. */
  readonly redispatched: Counter<"code">;
  /** Turns being relayed now; a plain number read at scrape time (no gauge update per turn). */
  inFlightTurns = 0;
  /** Time from receiving a Submit to issuing the node call (validation + routing + dispatch). */
  readonly routeOverhead: Histogram;
  /** Time from receiving a Submit to relaying its first event. */
  readonly firstEvent: Histogram;

  private readonly routedByNode: BoundChildren;
  private readonly decisionsByReason: BoundChildren;
  private readonly errorsByCode: BoundChildren;

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
    this.redispatched = new Counter({
      name: "scheduler_turns_redispatched_total",
      help: "Turns a node failed retryably before any output (e.g. its engine unreachable), placed on another node",
      labelNames: ["code"],
      registers: [registry],
    });
    const inFlightNow = () => this.inFlightTurns;
    new Gauge({
      name: "scheduler_inflight_requests",
      help: "Turns being relayed now",
      registers: [registry],
      collect() {
        this.set(inFlightNow());
      },
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
    const policy = router.policy.name;
    this.routedByNode = new BoundChildren((node) => this.routed.labels({ node, policy }));
    this.decisionsByReason = new BoundChildren((reason) => this.decisions.labels({ policy, reason }));
    this.errorsByCode = new BoundChildren((code) => this.turnErrors.labels({ code }));
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

  /** A turn was relayed to `nodeId`. */
  routedTo(nodeId: string): void {
    this.routedByNode.get(nodeId).inc();
  }

  /** The policy decided for `reason` (sticky, new-session, ...). */
  decided(reason: string): void {
    this.decisionsByReason.get(reason).inc();
  }

  /** A turn ended with an error of gRPC code name `code`. */
  turnFailed(code: string): void {
    this.errorsByCode.get(code).inc();
  }
}
