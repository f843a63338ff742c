import { isMainThread, workerData } from "node:worker_threads";
import { createLogger, runCli } from "@symphony/runtime";
import { parseConfig } from "./config";
import { dryRun } from "./dry-run";
import { compareMain } from "./compare-cli";
import { liveRun } from "./live-run";
import { prepareOutDir } from "@symphony/measure";
import { mergeMain } from "./merge-cli";
import { isSendWorkerData } from "./workers/protocol";
import { runSendWorker } from "./workers/send-worker";
import { buildWorkload } from "./workload";

/** Subcommands over results folders; anything else is a run (its flags). */
const SUBCOMMANDS: Record<string, (argv: readonly string[]) => Promise<void>> = {
  merge: mergeMain,
  compare: compareMain,
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const sub = argv[0] !== undefined ? SUBCOMMANDS[argv[0]] : undefined;
  if (sub) return sub(argv.slice(1));
  const config = parseConfig(argv);
  const logger = createLogger("workloadgen", config.logLevel);
  const workload = buildWorkload(config);
  if (config.out) prepareOutDir(config.out);
  if (config.dryRun) dryRun(config, workload);
  else await liveRun(config, workload, logger, argv);
}

// The same bundle is the sending worker's script (`--workers N`): one build entry.
if (!isMainThread && isSendWorkerData(workerData)) void runSendWorker(workerData);
else runCli(main);
