import { createLogger, runCli } from "@symphony/runtime";
import { parseConfig } from "./config";
import { parseRegimeConfig } from "./paper-regime/config";
import { runPaperRegimeLive } from "./paper-regime/live";
import { runPaperRegime } from "./paper-regime/run";
import { runExperiment } from "./run";

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
    await runPaperRegime(regime, createLogger("experiments", regime.logLevel), (s) =>
      process.stdout.write(s),
    );
    return;
  }
  const config = parseConfig(argv);
  const logger = createLogger("experiments", config.logLevel);
  await runExperiment(config, logger, (s) => process.stdout.write(s));
}

runCli(main);
