import { createLogger, onShutdownSignal, RealTimers, rngFor, runCli } from "@symphony/common";
import { Registry } from "prom-client";
import { parseConfig } from "./config";
import {
  ChatTemplate,
  EngineCore,
  FaultInjector,
  OutputPlanner,
  StepTimeModel,
  TokenCache,
  type EngineStats,
} from "./domain";
import { createEngineMetrics } from "./metrics";
import { buildHttpServer } from "./transport/http-server";

runCli(async () => {
  const config = parseConfig(process.argv.slice(2));
  const logger = createLogger("mock-vllm", config.logLevel);
  const timers = new RealTimers();
  const registry = new Registry();

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
  );
  const engine = new EngineCore(
    {
      maxNumSeqs: config.maxNumSeqs,
      maxNumBatchedTokens: config.maxNumBatchedTokens,
      numGpuBlocks: config.numGpuBlocks,
      blockSize: config.blockSize,
      enablePrefixCaching: config.enablePrefixCaching,
      timeScale: config.timeScale,
    },
    new StepTimeModel(config.coefficients),
    timers,
    observer,
  );
  statsOf = () => engine.stats();

  const tokens = new TokenCache();
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
  // uvicorn's (and so vLLM's) default accept backlog: a burst of thousands of new streams
  // should queue, not be reset.
  await app.listen({ host: config.host, port: config.port, backlog: 2048 });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  logger.info("config", {
    ...config,
    profile: config.profile.name,
    kvCacheTokens: config.numGpuBlocks * config.blockSize,
  });
  logger.info("listening", { kind: "http", host: config.host, port });

  onShutdownSignal(async (signal) => {
    logger.info("shutting down", { signal });
    // Stop accepting, let in-flight requests finish (bounded), then cut the rest.
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
    logger.info("stopped");
  });
});
