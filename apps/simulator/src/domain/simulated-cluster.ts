import { rngFor, type TimerHandle, type VirtualTimers } from "@symphony/common";
import type { EngineConfig, StepTimeModel } from "@symphony/mock-vllm/domain";
import {
  createResidencyPolicy,
  type NodeCoreConfig,
  type ResidencyPolicyName,
} from "@symphony/node-scheduler/domain";
import {
  createPolicy,
  Router,
  TurnPlacement,
  type PolicyParams,
  type RouterOptions,
} from "@symphony/scheduler/domain";
import type { SessionHint, Target, TurnHandlers, TurnRequest } from "@symphony/workloadgen/domain";
import { NetworkModel, type NetworkConfig } from "./network-model";
import { requestWireBytes, SimTurn } from "./sim-turn";
import { SimulatedNode, type EngineDrive, type EngineText, type NodeSink } from "./simulated-node";

/** Everything that shapes the simulated cluster (the workload is separate). Times in µs. */
export interface ClusterSpec {
  readonly nodes: number;
  readonly routing: {
    readonly policy: string;
    readonly params: Partial<PolicyParams>;
    readonly router: RouterOptions;
    /** How often the scheduler learns each node's load (its Status poll period), µs. */
    readonly pollIntervalUs: number;
    /** Seed of the scheduler's tie-breaking stream. */
    readonly seed: number;
  };
  readonly node: Omit<NodeCoreConfig, "policy"> & {
    readonly residencyPolicy: ResidencyPolicyName;
    readonly hintStaleAfterUs: number;
    /** How the node drives its engine (default: the directive engine, exact hints). */
    readonly drive?: EngineDrive;
  };
  readonly engine: EngineConfig;
  readonly network: NetworkConfig;
}

/** Advisory-call counters, the same shape as workloadgen's gRPC target reports. */
export interface AdviceCounters {
  hintsAccepted: number;
  hintsRejected: number;
  hintErrors: number;
  closeErrors: number;
}

/**
 * The whole Symphony cluster on one virtual clock: the scheduler's real `Router` and routing
 * policy, N nodes each with the real `NodeCore` and the mock engine's real `EngineCore`, and a
 * `NetworkModel` delaying every message between client, scheduler, node and engine. Nothing
 * sleeps and nothing opens a socket: every hop is a timer event on `VirtualTimers`. Turns are
 * placed by the scheduler's own `TurnPlacement`, as the live relay places them (prompt blocks,
 * placed again on another node after a retryable failure before any output).
 *
 * It is a workloadgen `Target`, so workloadgen's own `LoadRunner` and session sources drive it
 * exactly as they drive the live scheduler over gRPC.
 */
export class SimulatedCluster implements Target {
  readonly router: Router;
  readonly nodes: SimulatedNode[] = [];
  readonly net: NetworkModel;
  readonly counters: AdviceCounters = { hintsAccepted: 0, hintsRejected: 0, hintErrors: 0, closeErrors: 0 };
  private readonly byId = new Map<string, SimulatedNode>();
  private pollTimer: TimerHandle | undefined;
  private stopped = false;

  constructor(
    private readonly timers: VirtualTimers,
    readonly spec: ClusterSpec,
    stepModel: StepTimeModel,
    text: EngineText,
  ) {
    if (!(spec.nodes >= 1)) throw new RangeError(`nodes must be >= 1, got ${spec.nodes}`);
    this.net = new NetworkModel(spec.network);
    this.router = new Router(
      timers,
      rngFor(spec.routing.seed, "scheduler.routing"),
      createPolicy(spec.routing.policy, spec.routing.params),
      spec.routing.router,
    );
    this.router.setListener({
      moved: (moves) => {
        for (const m of moves) this.releaseOn(m.fromNodeId, m.sessionId);
      },
      expired: (sessions) => {
        for (const s of sessions) this.releaseOn(s.nodeId, s.sessionId);
      },
    });
    const sink: NodeSink = {
      started: (turn, info) => {
        turn.startedSent = true;
        this.toClient(turn, this.net.eventNodeToClientUs, () => turn.handlers.started(info));
      },
      finished: (turn, info, contextTokens) => {
        const placement = turn.placement!;
        this.atSchedulerFromNode(() => placement.end(contextTokens));
        this.toClient(turn, this.net.eventNodeToClientUs, () => {
          turn.phase = "done";
          const h = turn.handlers;
          if (turn.request.stream) turn.deliverTokens();
          else if (h.wholeText) h.wholeText(turn.pieces!, info.completionTokens);
          else h.token(turn.pieces!.text(), info.completionTokens);
          turn.handlers.finished(info);
        });
      },
      failed: (turn, failure) => {
        const placement = turn.placement!;
        // Nothing reached the client yet: the scheduler places the turn on another node (as the relay does).
        if (failure.retryable && !turn.startedSent && placement.mayPlaceAgain) {
          turn.phase = "to-scheduler";
          this.atSchedulerFromNode(() => {
            placement.end(0);
            if (turn.cancelled) return;
            placement.failedBeforeOutput(`${failure.code}: ${failure.message}`);
            this.place(turn);
          });
          return;
        }
        this.atSchedulerFromNode(() => placement.end(0));
        this.toClient(turn, this.net.eventNodeToClientUs, () => {
          turn.phase = "done";
          if (turn.plan) turn.deliverTokens();
          turn.handlers.failed({ code: failure.code, message: failure.message });
        });
      },
    };
    const { residencyPolicy, hintStaleAfterUs, drive, ...core } = spec.node;
    for (let i = 1; i <= spec.nodes; i++) {
      const nodeId = `node-${i}`;
      const node = new SimulatedNode(
        nodeId,
        timers,
        { ...core, policy: createResidencyPolicy(residencyPolicy, { hintStaleAfterUs }) },
        spec.engine,
        stepModel,
        text,
        this.net,
        sink,
        drive,
      );
      this.nodes.push(node);
      this.byId.set(nodeId, node);
      this.router.registry.register(nodeId, `sim:${nodeId}`);
    }
  }

  /** Starts the scheduler's periodic rounds and the node load reports. */
  start(): void {
    this.router.start();
    this.reportLoads();
  }

  /** Stops every periodic timer, so the event queue drains once the last turn ends. */
  stop(): void {
    this.stopped = true;
    this.router.stop();
    if (this.pollTimer) this.timers.cancel(this.pollTimer);
    this.pollTimer = undefined;
  }

  node(nodeId: string): SimulatedNode | undefined {
    return this.byId.get(nodeId);
  }

  // ---- Target ------------------------------------------------------------------------------

  submit(request: TurnRequest, handlers: TurnHandlers): { cancel(): void } {
    const turn = new SimTurn(request, handlers, requestWireBytes(request));
    this.after(this.net.delayUs("clientScheduler", turn.requestBytes), () => this.place(turn));
    return {
      cancel: () => {
        if (turn.phase === "done" || turn.cancelled) return;
        // Tokens that reached the client before this moment were seen; later ones are dropped.
        // (Same-time tokens are dropped too: the client cancels from its hard-end timer, set at
        // the start of the run, so it fires before any token event due at the same µs.)
        if (turn.plan) turn.deliverTokens(this.timers.nowUs());
        turn.cancelled = true;
        this.after(this.net.delayUs("clientScheduler", 64), () => {
          const nodeId = turn.placement?.nodeId;
          if (nodeId !== undefined && turn.placement!.end(0))
            this.after(this.net.delayUs("schedulerNode", 64), () => this.byId.get(nodeId)?.cancel(turn));
        });
      },
    };
  }

  advise(hint: SessionHint): void {
    this.after(this.net.delayUs("clientScheduler", 96), () => {
      const target = this.router.nodeForSession(hint.sessionId, true);
      if (target === undefined || "message" in target) {
        this.counters.hintErrors++;
        return;
      }
      this.after(this.net.delayUs("schedulerNode", 96), () => {
        const accepted = this.byId.get(target.nodeId)!.advise(hint);
        if (accepted) this.counters.hintsAccepted++;
        else this.counters.hintsRejected++;
      });
    });
  }

  closeSession(sessionId: string): void {
    this.after(this.net.delayUs("clientScheduler", 64), () => {
      const target = this.router.nodeForSession(sessionId, false);
      this.router.sessions.remove(sessionId);
      if (target === undefined || "message" in target) return;
      this.releaseOn(target.nodeId, sessionId);
    });
  }

  // ---- hops ----------------------------------------------------------------------------------

  /** At the scheduler: place the turn, then forward it to the chosen node (as the scheduler's relay does). */
  private place(turn: SimTurn): void {
    if (turn.cancelled) return;
    const req = turn.request;
    turn.placement ??= new TurnPlacement(this.router, {
      sessionId: req.sessionId,
      turnIndex: req.turnIndex,
      promptTokens: req.promptTokens,
      parentSessionId: req.parentSessionId,
      isLast: req.isLast,
      prompt: req.prompt,
      messages: req.messages,
    });
    const outcome = turn.placement.place();
    if (!outcome.ok) {
      this.toClient(turn, this.net.eventSchedulerToClientUs, () => {
        turn.phase = "done";
        turn.handlers.failed({ code: "UNAVAILABLE", message: outcome.message });
      });
      return;
    }
    const nodeId = outcome.nodeId;
    turn.nodeId = nodeId;
    turn.phase = "to-node";
    this.after(this.net.delayUs("schedulerNode", turn.requestBytes), () =>
      this.byId.get(nodeId)!.receive(turn),
    );
  }

  private releaseOn(nodeId: string | undefined, sessionId: string): void {
    const node = nodeId === undefined ? undefined : this.byId.get(nodeId);
    if (!node) return;
    this.after(this.net.delayUs("schedulerNode", 64), () => node.closeSession(sessionId));
  }

  /** Each node reports its load to the scheduler every poll period (the live scheduler polls Status). */
  private reportLoads(): void {
    if (this.stopped) return;
    for (const node of this.nodes) {
      const s = node.core.status();
      const gpu = s.tiers.find((t) => t.name === "gpu")!;
      this.router.heartbeat(
        node.nodeId,
        {
          queueDepth: s.queueDepth,
          running: s.running,
          kvUsedTokens: gpu.usedTokens,
          kvBudgetTokens: gpu.budgetTokens,
          residentSessions: s.residentSessions,
        },
        false,
      );
    }
    this.pollTimer = this.timers.at(this.timers.nowUs() + this.spec.routing.pollIntervalUs, () =>
      this.reportLoads(),
    );
  }

  private atSchedulerFromNode(fn: () => void): void {
    this.after(this.net.eventNodeToSchedulerUs, fn);
  }

  private toClient(turn: SimTurn, delayUs: number, fn: () => void): void {
    this.after(delayUs, () => {
      if (!turn.cancelled && turn.phase !== "done") fn();
    });
  }

  private after(delayUs: number, fn: () => void): void {
    this.timers.at(this.timers.nowUs() + delayUs, fn);
  }
}
