import { loadTokenizer, RealTimers, UsageError } from "@symphony/common";
import {
  channelCredentials,
  grpcReceiveLimit,
  NodeSchedulerServiceService,
  serverCredentials,
  ServingStatus,
  startGrpcServer,
  startMetricsServer,
  type Logger,
} from "@symphony/runtime";
import { collectDefaultMetrics, Registry } from "prom-client";
import { defaultNodeId, type Config } from "./config";
import { createResidencyPolicy } from "./domain";
import type { EngineAdapter, EngineLoad } from "./engine/engine-adapter";
import { EngineHealthMonitor } from "./engine/engine-health";
import { EngineKvEvents } from "./engine/kv-events-feed";
import { OpenAiHttpAdapter } from "./engine/openai-http-adapter";
import { NodeService } from "./transport/node-service";
import { SchedulerRegistration } from "./transport/registration";

export interface RunningNodeScheduler {
  readonly nodeId: string;
  readonly grpcPort: number;
  readonly metricsPort: number;
  readonly service: NodeService;
  /**
   * Stops health checks, engine scrapes and registration, stops taking calls, lets open turns
   * finish for up to 4 s, ends the rest as UNAVAILABLE, then closes every port and the engine.
   */
  stop(): Promise<void>;
}

const NO_ENGINE_LOAD: EngineLoad = { kvUsage: -1, waiting: -1, running: -1 };

/**
 * Wires NodeCore (in NodeService) to gRPC, the engine adapter, the metrics port, the KV-event
 * feed, scheduler registration, the engine health monitor and the engine load scrape, and
 * starts them. `engine`: an adapter to use instead of HTTP to --engine-url (tests).
 */
export async function startNodeScheduler(
  config: Config,
  logger: Logger,
  options: { readonly engine?: EngineAdapter & { resolveModel?(): Promise<string> } } = {},
): Promise<RunningNodeScheduler> {
  const timers = new RealTimers();
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const engine =
    options.engine ??
    new OpenAiHttpAdapter({
      engineUrl: config.engineUrl,
      model: config.model,
      connections: config.engineConnections,
      connectTimeoutMs: config.engineConnectTimeoutMs,
      forwardExpectedResponse: config.forwardExpectedResponse,
    });
  let engineLoad = NO_ENGINE_LOAD;
  let kvEvents: EngineKvEvents | undefined;
  if (config.kvEvents) {
    try {
      kvEvents = await EngineKvEvents.open(config.kvEvents, logger);
    } catch (err) {
      throw new UsageError(
        `--kv-events-endpoint: cannot open ${config.kvEvents.endpoint}: ${(err as Error).message}`,
      );
    }
    const port = /:(\d+)$/.exec(kvEvents.endpoint)?.[1];
    // "listening" only when the node binds (an engine connects to it); else it dialled the engine.
    logger.info(config.kvEvents.bind ? "listening" : "kv events subscribed", {
      kind: "kv-events",
      ...(port !== undefined ? { port: Number(port) } : {}),
      endpoint: kvEvents.endpoint,
      bind: config.kvEvents.bind,
      replayEndpoint: config.kvEvents.replayEndpoint ?? null,
    });
  }
  let nodeId = config.nodeId ?? "";

  const service = new NodeService({
    core: {
      gpuBudgetTokens: config.kvBudgetTokens,
      cpuBudgetTokens: config.cpuBudgetTokens,
      bytesPerToken: config.kvBytesPerToken,
      offloadGBps: config.offloadGBps,
      maxRunning: config.maxRunning,
      maxQueue: config.maxQueue,
      prefetchMarginUs: config.prefetchMarginMs * 1000,
      gpuFreeTarget: config.gpuFreeTarget,
      policy: createResidencyPolicy(config.residencyPolicy, { hintStaleAfterUs: config.hintStaleMs * 1000 }),
    },
    retry: { retries: config.engineRetries, backoffMs: config.engineRetryBackoffMs },
    nodeId: () => nodeId,
    timers,
    engine,
    engineLoad: () => engineLoad,
    registry,
    logger,
    tokenizer: loadTokenizer(config.tokenizer),
    prefetchMode: config.prefetchMode,
    warmup: {
      timing: config.warmupTiming,
      leadUs: config.warmupLeadMs * 1000,
      minGapUs: config.warmupMinGapMs * 1000,
      maxInFlight: config.maxWarmupsInFlight,
    },
    kvEvents,
    maxTrackedSessions: config.maxTrackedSessions,
    requestLimits: { maxPromptBytes: config.maxPromptBytes, maxMessages: config.maxMessages },
  });

  const grpcServer = await startGrpcServer(
    config.host,
    config.port,
    (server) => server.addService(NodeSchedulerServiceService, service.handlers),
    {
      credentials: serverCredentials(config.tls),
      // Far larger requests are refused by size before they are even decoded.
      maxReceiveMessageBytes: grpcReceiveLimit({
        maxPromptBytes: config.maxPromptBytes,
        maxMessages: config.maxMessages,
      }),
    },
  );
  if (!nodeId) nodeId = defaultNodeId(grpcServer.port);
  logger.info("listening", { kind: "grpc", host: config.host, port: grpcServer.port });
  const metricsServer = await startMetricsServer(registry, config.host, config.metricsPort);
  logger.info("listening", { kind: "metrics", host: config.host, port: metricsServer.port });
  logger.info("node-scheduler ready", {
    nodeId,
    engineUrl: config.engineUrl,
    policy: config.residencyPolicy,
    prefetchMode: config.prefetchMode,
    kvEvents: config.kvEvents?.endpoint ?? null,
    gpuBudgetTokens: config.kvBudgetTokens,
    cpuBudgetTokens: config.cpuBudgetTokens,
  });

  // Model: look it up now so a wrong engine URL shows early; requests retry the lookup if it fails.
  engine.resolveModel?.().then(
    (model) => logger.info("engine model", { model, engineUrl: config.engineUrl }),
    (err: unknown) =>
      logger.warn("engine not reachable yet", { engineUrl: config.engineUrl, error: (err as Error).message }),
  );

  // The engine's load (and, with --kv-budget-from-engine, its KV capacity) every interval.
  let scrapeTimer: NodeJS.Timeout | undefined;
  let stopped = false;
  if (config.engineMetricsIntervalMs > 0) {
    const scrape = () => {
      void engine
        .readLoad(AbortSignal.timeout(Math.max(1000, config.engineMetricsIntervalMs)))
        .then((load) => {
          engineLoad = load ?? NO_ENGINE_LOAD;
          const capacity = load?.kvCacheTokens;
          if (
            config.kvBudgetFromEngine &&
            capacity !== undefined &&
            capacity !== service.core.gpu.budgetTokens
          ) {
            service.core.setGpuBudget(capacity);
            logger.info("GPU KV budget from the engine", { tokens: capacity });
          }
          if (stopped) return;
          scrapeTimer = setTimeout(scrape, config.engineMetricsIntervalMs);
          scrapeTimer.unref();
        });
    };
    scrape();
  }

  let registration: SchedulerRegistration | undefined;
  if (config.scheduler) {
    registration = new SchedulerRegistration({
      scheduler: config.scheduler,
      nodeId,
      advertiseAddress: config.advertiseAddress ?? `${config.host}:${grpcServer.port}`,
      retryMs: config.registerRetryMs,
      status: () => service.status(),
      logger,
      authToken: config.authToken,
      credentials:
        config.schedulerTlsCa === undefined
          ? undefined
          : channelCredentials(
              { caFile: config.schedulerTlsCa, certFile: config.tls.certFile, keyFile: config.tls.keyFile },
              { ca: "--scheduler-tls-ca", cert: "--tls-cert", key: "--tls-key" },
            ),
    });
    registration.start();
  }

  // Engine health is node health: while the engine is unreachable the node is NOT_SERVING and
  // its heartbeats say draining, so the scheduler moves its sessions and sends it no turns.
  const engineHealth =
    config.engineHealthIntervalMs > 0
      ? new EngineHealthMonitor({
          url: `${new URL(config.engineUrl).origin}/health`,
          intervalMs: config.engineHealthIntervalMs,
          timeoutMs: config.engineHealthTimeoutMs,
          failuresToUnhealthy: config.engineHealthFailures,
          onChange: ({ healthy, reason }) => {
            if (healthy) logger.info("engine healthy again: serving", { engineUrl: config.engineUrl });
            else
              logger.warn("engine unhealthy: NOT_SERVING and draining", {
                engineUrl: config.engineUrl,
                reason,
              });
            grpcServer.health.set("", healthy ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
            registration?.setDraining(!healthy);
          },
        })
      : undefined;
  engineHealth?.start();

  return {
    nodeId,
    grpcPort: grpcServer.port,
    metricsPort: metricsServer.port,
    service,
    async stop() {
      stopped = true;
      engineHealth?.stop();
      if (scrapeTimer) clearTimeout(scrapeTimer);
      await registration?.stop();
      // Stop taking calls, let open turns finish for a while, then end the rest as UNAVAILABLE.
      const stopping = grpcServer.stop(5000);
      await service.drain(4000);
      service.shutdown();
      await stopping;
      timers.cancelAll();
      await metricsServer.close();
      await kvEvents?.close();
      await engine.close();
    },
  };
}
