import { createLogger, onShutdownSignal, runCli } from "@symphony/runtime";
import { startScheduler } from "./app";
import { parseConfig } from "./config";

runCli(async () => {
  const config = parseConfig(process.argv.slice(2));
  const logger = createLogger("scheduler", config.logLevel);
  const scheduler = await startScheduler(config, logger);
  logger.info("scheduler started", { policy: config.policy, staticNodes: config.nodes.length });
  onShutdownSignal(async (signal) => {
    logger.info("shutting down", { signal });
    await scheduler.stop();
  });
});
