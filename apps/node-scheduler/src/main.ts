import { createLogger, onShutdownSignal, runCli } from "@symphony/runtime";
import { startNodeScheduler } from "./app";
import { parseConfig } from "./config";

runCli(async () => {
  const config = parseConfig(process.argv.slice(2));
  const logger = createLogger("node-scheduler", config.logLevel);
  const node = await startNodeScheduler(config, logger);
  onShutdownSignal(async (signal) => {
    logger.info("shutting down", { signal });
    await node.stop();
    logger.info("stopped");
  });
});
