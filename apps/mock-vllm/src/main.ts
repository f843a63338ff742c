import { createLogger, onShutdownSignal, runCli } from "@symphony/runtime";
import { startMockVllm } from "./app";
import { parseConfig } from "./config";

runCli(async () => {
  const config = parseConfig(process.argv.slice(2));
  const logger = createLogger("mock-vllm", config.logLevel);
  const mock = await startMockVllm(config, logger);
  onShutdownSignal(async (signal) => {
    logger.info("shutting down", { signal });
    await mock.stop();
    logger.info("stopped");
  });
});
