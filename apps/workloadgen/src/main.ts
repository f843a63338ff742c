import { mkdirSync } from "node:fs";
import { createLogger, runCli, UsageError } from "@symphony/common";
import { parseConfig } from "./config";
import { dryRun } from "./dry-run";
import { liveRun } from "./live-run";
import { buildWorkload } from "./workload";

function prepareOut(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new UsageError(`--out ${dir}: cannot create directory: ${(err as Error).message}`);
  }
}

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2));
  const logger = createLogger("workloadgen", config.logLevel);
  const workload = buildWorkload(config);
  if (config.out) prepareOut(config.out);
  if (config.dryRun) dryRun(config, workload);
  else await liveRun(config, workload, logger);
}

runCli(main);
