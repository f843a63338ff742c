import { isMainThread, workerData } from "node:worker_threads";
import { createLogger, runCli } from "@symphony/runtime";
import { parseConfig } from "./config";
import { parseRegimeConfig } from "./paper-regime/config";
import { runPaperRegimeLive } from "./paper-regime/live";
import { runPaperRegime } from "./paper-regime/run";
import { runExperiment } from "./run";
import { isPointWorker, pointRunnerFor, servePointJobs } from "./worker-pool";

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === "paper-regime") {
    const regime = parseRegimeConfig(argv);
    if (regime.live) {
      await runPaperRegimeLive(regime, regime.live, createLogger("experiments", regime.logLevel), (s) =>
        process.stdout.write(s),
      );
      return;
    }
    // Workers start this same bundle (see the end of this file).
    const runner = pointRunnerFor(regime.jobs, __filename);
    try {
      await runPaperRegime(
        regime,
        createLogger("experiments", regime.logLevel),
        (s) => process.stdout.write(s),
        runner,
      );
    } finally {
      await runner.close();
    }
    return;
  }
  const config = parseConfig(argv);
  const logger = createLogger("experiments", config.logLevel);
  const runner = pointRunnerFor(config.jobs, __filename);
  try {
    await runExperiment(config, logger, (s) => process.stdout.write(s), runner);
  } finally {
    await runner.close();
  }
}

// The bundle is also the entry of --jobs' worker threads, which serve simulated points.
if (!isMainThread && isPointWorker(workerData)) servePointJobs();
else runCli(main);
