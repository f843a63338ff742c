import { loadTokenizer, RealTimers, rngFor, UsageError } from "@symphony/common";
import { ZmqEventPublisher } from "@symphony/kv-events";
import { listenFailure, type Logger } from "@symphony/runtime";
import type { FastifyInstance } from "fastify";
import { Registry } from "prom-client";
import type { Config } from "./config";
import {
  ChatTemplate,
  EngineCore,
  FaultInjector,
  hostLinkBytesPerUs,
  kvBytesPerToken,
  OutputPlanner,
  StepTimeModel,
  TokenCache,
  type EngineStats,
  type KvEventSink,
} from "./domain";
import { createEngineMetrics } from "./metrics";
import { buildHttpServer } from "./transport/http-server";

/** The engine and its HTTP API, built but not listening (tests drive it with fastify `inject()`). */
export interface MockVllm {
  readonly app: FastifyInstance;
  readonly engine: EngineCore;
  readonly registry: Registry;
  /**
   * Stops accepting, lets in-flight requests finish for up to --drain-timeout-ms, then cuts the
   * rest and closes the engine and the KV-event publisher.
   */
  stop(): Promise<void>;
}

export interface RunningMockVllm extends MockVllm {
  readonly port: number;
}

/**
 * Builds the mock engine from its config: the KV-event publisher (bound before the engine
 * runs), the metrics, the engine core on real timers, the tokenizer and the HTTP routes.
 */
export async function createMockVllm(config: Config, logger: Logger): Promise<MockVllm> {
  const timers = new RealTimers();
  const registry = new Registry();

  // KV-cache events (--kv-events-config); zeromq is loaded only here (the bundle keeps it external).
  let publisher: ZmqEventPublisher | null = null;
  let kvEventSink: KvEventSink | undefined;
  if (config.kvEvents) {
    const ev = config.kvEvents;
    try {
      publisher = await ZmqEventPublisher.open({
        endpoint: ev.endpoint,
        replayEndpoint: ev.replayEndpoint,
        bufferSteps: ev.bufferSteps,
        hwm: ev.hwm,
        topic: ev.topic,
        encoding: ev.eventEncoding,
        onWarning: (message) => logger.warn(message),
      });
    } catch (err) {
      throw new UsageError(
        `--kv-events-config: cannot open the publisher on ${ev.endpoint}${ev.replayEndpoint ? ` / ${ev.replayEndpoint}` : ""} (${(err as Error).message})`,
      );
    }
    // Batches carry wall-clock seconds (vLLM: time.time()); the engine clock starts near now.
    const wallAtEngineZeroS = Date.now() / 1000 - timers.nowUs() / 1e6;
    const open = publisher;
    kvEventSink = { publish: (events, nowUs) => open.publish(events, wallAtEngineZeroS + nowUs / 1e6) };
    logger.info("listening", {
      kind: "kv-events",
      endpoint: publisher.endpoint,
      replayEndpoint: publisher.replayEndpoint,
    });
  }

  let statsOf: () => EngineStats = () => {
    throw new Error("engine not ready");
  };
  const observer = createEngineMetrics(
    registry,
    config.servedModelNames[0]!,
    {
      blockSize: config.blockSize,
      numGpuBlocks: config.numGpuBlocks,
      enablePrefixCaching: config.enablePrefixCaching,
    },
    () => statsOf(),
    {
      externalPrefixCache: config.kvConnector || config.numCpuBlocks > 0,
      offload: config.numCpuBlocks > 0,
      maxModelLen: config.maxModelLen,
      showHiddenMetrics: config.showHiddenMetricsForVersion !== null,
    },
  );
  const engine = new EngineCore(
    {
      maxNumSeqs: config.maxNumSeqs,
      maxNumBatchedTokens: config.maxNumBatchedTokens,
      numGpuBlocks: config.numGpuBlocks,
      blockSize: config.blockSize,
      enablePrefixCaching: config.enablePrefixCaching,
      timeScale: config.timeScale,
      ...(config.numCpuBlocks > 0
        ? {
            cpuOffload: {
              numCpuBlocks: config.numCpuBlocks,
              bytesPerBlock: config.blockSize * kvBytesPerToken(config.profile.model),
              linkBytesPerUs: hostLinkBytesPerUs(config.profile),
            },
          }
        : {}),
    },
    new StepTimeModel(config.coefficients),
    timers,
    observer,
    kvEventSink,
  );
  statsOf = () => engine.stats();

  const tokenizerStart = performance.now();
  const tokens = new TokenCache(loadTokenizer(config.tokenizer));
  logger.info("tokenizer loaded", {
    tokenizer: tokens.tokenizer.description,
    ms: Math.round(performance.now() - tokenizerStart),
  });
  const app = await buildHttpServer({
    config,
    engine,
    registry,
    logger,
    tokens,
    template: new ChatTemplate(tokens),
    planner: new OutputPlanner(config.seed, config.eosMeanTokens, tokens),
    faults: new FaultInjector(config.faults, rngFor(config.seed, "mock-vllm.faults")),
  });

  return {
    app,
    engine,
    registry,
    async stop() {
      const closed = app.close();
      const deadline = Date.now() + config.drainTimeoutMs;
      while (Date.now() < deadline) {
        const s = engine.stats();
        if (s.numRunning + s.numWaiting === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      engine.close();
      timers.cancelAll();
      app.server.closeAllConnections();
      await closed;
      await publisher?.close();
    },
  };
}

/** Builds the mock engine and listens on --host/--port (port 0: a free port, logged). */
export async function startMockVllm(config: Config, logger: Logger): Promise<RunningMockVllm> {
  const mock = await createMockVllm(config, logger);
  // uvicorn's (and so vLLM's) default accept backlog: a burst of thousands of new streams
  // should queue, not be reset.
  await mock.app
    .listen({ host: config.host, port: config.port, backlog: 2048 })
    .catch(async (err: unknown) => {
      await mock.stop();
      throw listenFailure(err, config.host, config.port, "--port");
    });
  const address = mock.app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  logger.info("config", {
    ...config,
    profile: config.profile.name,
    kvCacheTokens: config.numGpuBlocks * config.blockSize,
  });
  logger.info("listening", { kind: "http", host: config.host, port });
  return { ...mock, port };
}
