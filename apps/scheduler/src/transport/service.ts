import * as grpc from "@grpc/grpc-js";
import {
  checkBearer,
  requestSizeProblem,
  type NodeStatus,
  type NodeView,
  type RequestLimits,
  type SchedulerServiceServer,
  type TokenSet,
} from "@symphony/runtime";
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
    engineResidency: status?.residencyFromEngine
      ? new Map(status.sessionResidency.map((r) => [r.sessionId, r.cachedTokens]))
      : undefined,
  };
}

/** Last full NodeStatus per node id, for ClusterStatus and /status. */
export type StatusCache = Map<string, NodeStatus>;

/** Accepted bearer tokens: nodes (RegisterNode, Heartbeat) and clients (the rest); empty = open. */
export interface SchedulerAuth {
  readonly nodes: TokenSet;
  readonly clients: TokenSet;
}

export interface ServiceDeps extends RelayDeps {
  readonly auth: SchedulerAuth;
  /** Submits larger than this are refused before routing (INVALID_ARGUMENT). */
  readonly requestLimits: RequestLimits;
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

function notOwner(sessionId: string): Partial<grpc.ServiceError> {
  return fail(grpc.status.PERMISSION_DENIED, `session "${sessionId}" belongs to another client`);
}

export function schedulerService(deps: ServiceDeps): SchedulerServiceServer {
  const { router, clients, logger } = deps;
  /**
   * With client auth on, a session belongs to the token that first used it; `principal` < 0
   * (auth off) may act on any session.
   */
  const mayUse = (sessionId: string, principal: number) =>
    principal < 0 || !sessionId || router.sessions.claim(sessionId, principal);
  const claim = (sessionId: string, principal: number) => {
    if (principal >= 0 && sessionId) router.sessions.claim(sessionId, principal);
  };
  return {
    submit: (call) => {
      const who = checkBearer(deps.auth.clients, call.metadata, "Submit");
      if (!who.ok) {
        deps.metrics.turnFailed("UNAUTHENTICATED");
        call.emit("error", who.error);
        return;
      }
      if (!mayUse(call.request.sessionId, who.principal)) {
        deps.metrics.turnFailed("PERMISSION_DENIED");
        call.emit("error", notOwner(call.request.sessionId));
        return;
      }
      // By size first: the conversation is not even joined or hashed when it is too large.
      const tooLarge = requestSizeProblem(call.request, deps.requestLimits, "this scheduler");
      if (tooLarge) {
        deps.metrics.turnFailed("INVALID_ARGUMENT");
        call.emit("error", fail(grpc.status.INVALID_ARGUMENT, tooLarge));
        return;
      }
      handleSubmit(call, deps, deps.inFlight);
      // Routing ran synchronously: a new session exists now and becomes this client's.
      claim(call.request.sessionId, who.principal);
    },

    advise: (call, callback) => {
      const hint = call.request;
      const who = checkBearer(deps.auth.clients, call.metadata, "Advise");
      if (!who.ok) return callback(who.error);
      if (!hint.sessionId) return callback(fail(grpc.status.INVALID_ARGUMENT, "session_id: required"));
      if (!mayUse(hint.sessionId, who.principal)) return callback(notOwner(hint.sessionId));
      // An unknown session is placed now, so its first turn lands where the hint prepared things.
      const target = router.nodeForSession(hint.sessionId, true);
      if (target === undefined || "message" in target)
        return callback(fail(grpc.status.UNAVAILABLE, target?.message ?? "no node for session"));
      if (target.failoverFrom !== undefined) deps.metrics.failovers.inc({ from_node: target.failoverFrom });
      claim(hint.sessionId, who.principal);
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
      const who = checkBearer(deps.auth.clients, call.metadata, "CloseSession");
      if (!who.ok) return callback(who.error);
      if (!sessionId) return callback(fail(grpc.status.INVALID_ARGUMENT, "session_id: required"));
      if (!mayUse(sessionId, who.principal)) return callback(notOwner(sessionId));
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
      const who = checkBearer(deps.auth.nodes, call.metadata, "RegisterNode");
      if (!who.ok) {
        logger.warn("registration refused", {
          nodeId,
          address,
          peer: call.getPeer(),
          why: who.error.details,
        });
        return callback(who.error);
      }
      if (!nodeId) return callback(fail(grpc.status.INVALID_ARGUMENT, "node_id: required"));
      if (!/^.+:\d{1,5}$/.test(address))
        return callback(fail(grpc.status.INVALID_ARGUMENT, `address: expected host:port, got "${address}"`));
      const outcome = router.registry.register(nodeId, address);
      if (!outcome.ok) {
        logger.warn("registration refused", { nodeId, address, peer: call.getPeer(), why: outcome.reason });
        // A restarted node's old self may be dead but not yet marked down: check it now, so the
        // node's next attempt succeeds; a live node passes the check and keeps its entry.
        deps.probe?.(outcome.conflictWith);
        return callback(fail(grpc.status.ALREADY_EXISTS, outcome.reason));
      }
      logger.info("node registered", { nodeId, address });
      callback(null, { heartbeatIntervalMs: deps.heartbeatIntervalMs });
    },

    heartbeat: (call, callback) => {
      const { nodeId, status, draining } = call.request;
      const who = checkBearer(deps.auth.nodes, call.metadata, "Heartbeat");
      if (!who.ok) return callback(who.error);
      if (!nodeId) return callback(fail(grpc.status.INVALID_ARGUMENT, "node_id: required"));
      const wasDraining = router.registry.get(nodeId)?.draining ?? false;
      const known = router.heartbeat(nodeId, loadFromStatus(status), draining);
      if (known && status) deps.statuses.set(nodeId, status);
      // A node starts draining on shutdown, or because its engine is unreachable: its health
      // check tells which (NOT_SERVING takes it out of rotation, sessions and all).
      if (known && draining && !wasDraining) deps.probe?.(nodeId);
      callback(null, { known });
    },

    clusterStatus: (call, callback) => {
      const who = checkBearer(deps.auth.clients, call.metadata, "ClusterStatus");
      if (!who.ok) return callback(who.error);
      callback(null, { nodes: clusterView(router, deps.statuses), policy: router.policy.name });
    },
  };
}
