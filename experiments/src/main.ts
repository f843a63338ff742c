import { setFlagsFromString } from "node:v8";
import { createLogger, runCli } from "@symphony/runtime";
import { parseConfig } from "./config";
import { runExperiment } from "./run";

// The simulator allocates many short-lived objects; a larger young generation makes scavenges rarer.
setFlagsFromString("--max-semi-space-size=64");

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2));
  const logger = createLogger("experiments", config.logLevel);
  await runExperiment(config, logger, (s) => process.stdout.write(s));
}

runCli(main);
