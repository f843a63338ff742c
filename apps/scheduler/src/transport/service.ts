import * as grpc from "@grpc/grpc-js";
import type { NodeStatus, NodeView, SchedulerServiceServer } from "@symphony/common";
import type { NodeLoad, Router } from "../domain";
import { deadlineIn } from "./node-clients";
import { handleSubmit, InFlightRelays, type RelayDeps } from "./relay";

/** A node's NodeStatus as the scheduler's load figures (GPU tier). */
export function loadFromStatus(status: NodeStatus | undefined): NodeLoad {
  const gpu = status?.kvTiers.find((t) => t.name === "gpu");
  return {
    queueDepth: status?.queueDepth ?? 0,
    running: status?.running ?? 0,
    kvUsedTokens: gpu?.usedTokens ?? 0,
    kvBudgetTokens: gpu?.budgetTokens ?? 0,
    residentSessions: status?.residentSessions ?? 0,
  };
}

/** Last full NodeStatus per node id, for ClusterStatus and /status. */
export type StatusCache = Map<string, NodeStatus>;

export interface ServiceDeps extends RelayDeps {
  readonly statuses: StatusCache;
  readonly heartbeatIntervalMs: number;
  readonly nodeCallTimeoutMs: number;
  readonly inFlight: InFlightRelays;
}

function fail(code: grpc.status, details: string): Partial<grpc.ServiceError> {
  return { code, details };
}

/** The cluster view shared by ClusterStatus and the HTTP /status endpoint. */
export function clusterView(router: Router, statuses: StatusCache): NodeView[] {
  return router.registry.all().map((n) => ({
    nodeId: n.nodeId,
    address: n.address,
    state: router.registry.state(n),
    status: statuses.get(n.nodeId),
    sessions: router.sessions.countOn(n.nodeId),
  }));
}

export function schedulerService(deps: ServiceDeps): SchedulerServiceServer {
  const { router, clients, logger } = deps;
  return {
    submit: (call) => handleSubmit(call, deps, deps.inFlight),

    advise: (call, callback) => {
      const hint = call.request;
      if (!hint.sessionId) return callback(fail(grpc.status.INVALID_ARGUMENT, "session_id: required"));
      // An unknown session is placed now, so its first turn lands where the hint prepared things.
      const target = router.nodeForSession(hint.sessionId, true);
      if (target === undefined || "message" in target)
        return callback(fail(grpc.status.UNAVAILABLE, target?.message ?? "no node for session"));
      if (target.failoverFrom !== undefined) deps.metrics.failovers.inc({ from_node: target.failoverFrom });
      clients
        .node(target.address)
        .advise(hint, new grpc.Metadata(), { deadline: deadlineIn(deps.nodeCallTimeoutMs) }, (err, res) => {
          if (err) {
            // Advise is advisory: a failed hint asks for a health probe rather than marking the
            // node down (which would detach every session on it).
            if (err.code === grpc.status.UNAVAILABLE) deps.probe?.(target.nodeId);
            return callback(fail(err.code, `node ${target.nodeId}: ${err.details}`));
          }
          callback(null, { accepted: res.accepted, nodeId: res.nodeId || target.nodeId });
        });
    },

    closeSession: (call, callback) => {
      const { sessionId } = call.request;
      if (!sessionId) return callback(fail(grpc.status.INVALID_ARGUMENT, "session_id: required"));
      const target = router.nodeForSession(sessionId, false);
      router.sessions.remove(sessionId);
      if (target === undefined || "message" in target)
        return callback(null, { released: false, releasedKvTokens: 0 });
      clients
        .node(target.address)
        .closeSession(
          call.request,
          new grpc.Metadata(),
          { deadline: deadlineIn(deps.nodeCallTimeoutMs) },
          (err, res) => {
            if (err) return callback(fail(err.code, `node ${target.nodeId}: ${err.details}`));
            callback(null, res);
          },
        );
    },

    registerNode: (call, callback) => {
      const { nodeId, address } = call.request;
      if (!nodeId) return callback(fail(grpc.status.INVALID_ARGUMENT, "node_id: required"));
      if (!/^.+:\d{1,5}$/.test(address))
        return callback(fail(grpc.status.INVALID_ARGUMENT, `address: expected host:port, got "${address}"`));
      router.registry.register(nodeId, address);
      logger.info("node registered", { nodeId, address });
      callback(null, { heartbeatIntervalMs: deps.heartbeatIntervalMs });
    },

    heartbeat: (call, callback) => {
      const { nodeId, status, draining } = call.request;
      if (!nodeId) return callback(fail(grpc.status.INVALID_ARGUMENT, "node_id: required"));
      const known = router.heartbeat(nodeId, loadFromStatus(status), draining);
      if (known && status) deps.statuses.set(nodeId, status);
      callback(null, { known });
    },

    clusterStatus: (_call, callback) => {
      callback(null, { nodes: clusterView(router, deps.statuses), policy: router.policy.name });
    },
  };
}
