import * as grpc from "@grpc/grpc-js";
import { RealTimers, rngFor } from "@symphony/common";
import {
  channelCredentials,
  grpcReceiveLimit,
  isLoopbackHost,
  serverCredentials,
  startGrpcServer,
  startMetricsServer,
  TokenSet,
  type Logger,
} from "@symphony/runtime";
import { Registry } from "prom-client";
import type { Config } from "./config";
import { createPolicy, Router } from "./domain";
import { SchedulerMetrics } from "./transport/metrics";
import { deadlineIn, NodeClients } from "./transport/node-clients";
import { StaticNodePoller } from "./transport/poller";
import { schedulerServiceDefinition } from "./transport/raw-relay-codec";
import { InFlightRelays } from "./transport/relay";
import { clusterView, schedulerService, type StatusCache } from "./transport/service";

export interface RunningScheduler {
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly router: Router;
  stop(): Promise<void>;
}

/** Wires the domain Router to gRPC, the node poller and the admin HTTP port, and starts them. */
export async function startScheduler(config: Config, logger: Logger): Promise<RunningScheduler> {
  const timers = new RealTimers();
  const policy = createPolicy(config.policy, {
    queueWeight: config.queueWeight,
    kvWeight: config.kvWeight,
    prefixWeight: config.prefixWeight,
    queueHalfScoreRequests: config.queueHalfScore,
  });
  const router = new Router(timers, rngFor(config.seed, "scheduler.routing"), policy, {
    heartbeatTimeoutUs: config.heartbeatTimeoutMs * 1000,
    relayFailuresToDown: config.relayFailuresToDown,
    rebalanceIntervalUs: config.rebalanceIntervalMs * 1000,
    rebalance: {
      overloadKvFraction: config.overloadKvFraction,
      targetKvFraction: config.targetKvFraction,
      overloadOutstanding: config.overloadQueue,
      maxMovesPerRound: config.maxMovesPerRound,
    },
    sessionTtlUs: config.sessionTtlMs * 1000,
    prefixBlockChars: config.prefixBlockChars,
    prefixCapacityBlocksPerNode: 200_000,
  });
  const requestLimits = { maxPromptBytes: config.maxPromptBytes, maxMessages: config.maxMessages };
  const auth = { nodes: new TokenSet(config.nodeAuthTokens), clients: new TokenSet(config.clientAuthTokens) };
  // Read the PEM files before anything starts, so a bad path is a usage error and nothing leaks.
  const credentials = serverCredentials(config.tls);
  const clients = new NodeClients(
    config.nodeTlsCa === undefined
      ? undefined
      : channelCredentials(
          { caFile: config.nodeTlsCa, certFile: config.tls.certFile, keyFile: config.tls.keyFile },
          { ca: "--node-tls-ca", cert: "--tls-cert", key: "--tls-key" },
        ),
  );
  const registry = new Registry();
  const metrics = new SchedulerMetrics(registry, router);
  const statuses: StatusCache = new Map();
  const inFlight = new InFlightRelays();

  const releaseOn = (nodeId: string | undefined, sessionId: string) => {
    const node = nodeId === undefined ? undefined : router.registry.get(nodeId);
    if (!node?.up) return;
    clients
      .node(node.address)
      .closeSession(
        { sessionId },
        new grpc.Metadata(),
        { deadline: deadlineIn(config.nodeCallTimeoutMs) },
        (err) => {
          if (err) logger.debug("release failed", { nodeId, sessionId, details: err.details });
        },
      );
  };
  router.setListener({
    membership(event, detached) {
      if (event.kind === "down") {
        const aborted = inFlight.abortNode(event.nodeId, event.reason, config.heartbeatTimeoutMs);
        logger.warn("node down", {
          nodeId: event.nodeId,
          reason: event.reason,
          sessionsDetached: detached,
          turnsAborted: aborted,
        });
        statuses.delete(event.nodeId);
      } else if (event.kind === "up") {
        logger.info("node up", { nodeId: event.nodeId });
      } else {
        statuses.delete(event.from);
      }
    },
    moved(moves) {
      for (const m of moves) {
        metrics.moved.inc({ reason: m.reason });
        logger.info("session moved", { ...m });
        releaseOn(m.fromNodeId, m.sessionId);
      }
    },
    expired(sessions) {
      for (const s of sessions) releaseOn(s.nodeId, s.sessionId);
      logger.debug("sessions expired", { count: sessions.length });
    },
  });
  for (const address of config.nodes) router.registry.addStatic(address);
  const poller = new StaticNodePoller(
    router,
    clients,
    statuses,
    logger,
    config.pollIntervalMs,
    config.nodeCallTimeoutMs,
  );
  // After a failed relay: a static node gets a full poll, a registered one a health check; a
  // failure of either marks the node down (the confirmation one failed relay alone is not).
  const probe = (nodeId: string) => {
    const node = router.registry.get(nodeId);
    if (node?.source === "static") void poller.poll(node.address);
    else if (node) void poller.probeHealth(node.nodeId, node.address);
  };

  const grpcServer = await startGrpcServer(
    config.host,
    config.port,
    (server) =>
      server.addService(
        schedulerServiceDefinition,
        schedulerService({
          router,
          clients,
          metrics,
          logger,
          requestTimeoutMs: config.requestTimeoutMs,
          waitForNodeMs: config.waitForNodeMs,
          statuses,
          heartbeatIntervalMs: config.heartbeatIntervalMs,
          nodeCallTimeoutMs: config.nodeCallTimeoutMs,
          inFlight,
          probe,
          auth,
          requestLimits,
        }),
      ),
    // Far larger requests are refused by size before they are even decoded.
    { credentials, maxReceiveMessageBytes: grpcReceiveLimit(requestLimits) },
  );
  if (!isLoopbackHost(config.host) && !auth.nodes.enabled)
    logger.warn(
      "serving on a non-loopback address without node auth: anyone who reaches this port can register nodes; " +
        "set --auth-token-file (see README, Running on a network)",
      { host: config.host },
    );
  if (!isLoopbackHost(config.host) && !auth.clients.enabled)
    logger.warn("serving on a non-loopback address without client auth (--client-auth-token-file)", {
      host: config.host,
    });
  logger.info("listening", {
    kind: "grpc",
    host: config.host,
    port: grpcServer.port,
    tls: config.tls.certFile === undefined ? "off" : config.tls.caFile === undefined ? "tls" : "mtls",
    nodeAuth: auth.nodes.enabled,
    clientAuth: auth.clients.enabled,
  });
  // The admin port: Prometheus metrics and a JSON view of nodes, their state and load.
  const admin = await startMetricsServer(registry, config.host, config.metricsPort, {
    "/status": () => ({
      policy: router.policy.name,
      sessions: router.sessions.size,
      nodes: clusterView(router, statuses),
    }),
  });
  logger.info("listening", { kind: "metrics", host: config.host, port: admin.port });

  router.start();
  poller.start();

  return {
    grpcPort: grpcServer.port,
    metricsPort: admin.port,
    router,
    async stop() {
      poller.stop();
      router.stop();
      timers.cancelAll();
      await grpcServer.stop(5000);
      await admin.close();
      clients.closeAll();
    },
  };
}
