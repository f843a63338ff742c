import { formatSummaryTable } from "@symphony/measure";
import { createLogger, runCli } from "@symphony/runtime";
import { parseConfig } from "./config";
import { runSimulation } from "./simulate";
import { runSweep } from "./sweep";

async function main(): Promise<void> {
  const config = parseConfig(process.argv.slice(2));
  const logger = createLogger("simulator", config.logLevel);
  if (config.sweep.length > 0) {
    await runSweep(config, logger, (s) => process.stdout.write(s));
    return;
  }
  const { summary } = await runSimulation(config, logger);
  process.stdout.write(formatSummaryTable(summary, "Simulated Benchmark Result"));
  const s = summary.sim;
  process.stdout.write(
    `simulated ${s.virtual_duration_s.toFixed(1)} s in ${s.wall_time_s.toFixed(2)} s wall ` +
      `(${s.speed_ratio.toFixed(1)}x real time, ${s.events_processed} events)\n`,
  );
}

runCli(main);
