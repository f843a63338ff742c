import { createWriteStream, writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { RealTimers, startMetricsServer, UsageError, type Logger } from "@symphony/common";
import { Registry } from "prom-client";
import type { Config } from "./config";
import { LoadRunner, PromptSynthesizer } from "./domain";
import { WorkloadMetrics } from "./output/metrics";
import { Progress } from "./output/progress";
import { formatSummaryTable, SummaryAccumulator, toJson } from "./output/report";
import { GrpcSchedulerTarget } from "./transport/grpc-target";
import type { Workload } from "./workload";

/**
 * A live run: plays the workload against the scheduler on wall-clock timers, shows progress,
 * then prints the results table and writes summary.json / requests.jsonl. SIGINT/SIGTERM once
 * stops starting turns (the summary is still written); twice cancels in-flight turns.
 */
export async function liveRun(config: Readonly<Config>, workload: Workload, logger: Logger): Promise<void> {
  const target = new GrpcSchedulerTarget(config.target, logger, config.requestTimeout * 1000);
  try {
    await target.waitForReady(config.connectTimeout * 1000);
  } catch {
    throw new UsageError(
      `--target ${config.target}: scheduler not reachable within ${config.connectTimeout} s`,
    );
  }
  const registry = new Registry();
  const metrics = new WorkloadMetrics(registry);
  const metricsServer =
    config.metricsPort === undefined
      ? undefined
      : await startMetricsServer(registry, config.metricsHost, config.metricsPort);
  if (metricsServer)
    logger.info("listening", { kind: "metrics", host: config.metricsHost, port: metricsServer.port });
  const timers = new RealTimers();
  const runId = randomBytes(4).toString("hex");
  const results = new SummaryAccumulator(1_000_000, config.seed);
  const requestsFile = config.out ? createWriteStream(join(config.out, "requests.jsonl")) : undefined;
  const progress = new Progress(logger, config.duration, config.maxRequests, config.progressInterval);
  const startedAt = new Date();
  const t0 = performance.now();

  let tick: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    const runner = new LoadRunner(
      {
        timers,
        target,
        source: workload.source,
        thinkTime: workload.thinkTime,
        synth: new PromptSynthesizer(config.seed, config.blockSize),
      },
      {
        mode: config.workload === "closed" ? "closed" : "open",
        concurrency: config.numClients,
        maxRequests: config.maxRequests,
        durationUs: config.duration * 1e6,
        timeScale: config.timeScale,
        hints: config.hints,
        runId,
      },
      (record) => {
        results.add(record);
        metrics.observe(record);
        if (requestsFile) {
          const { itl_ms, ...line } = record;
          requestsFile.write(JSON.stringify({ ...line, itl_count: itl_ms.length }) + "\n");
        }
      },
      resolve,
    );
    tick = setInterval(() => {
      metrics.inFlight.set(runner.inFlight);
      metrics.activeSessions.set(runner.activeSessions);
      progress.update({
        elapsedS: (performance.now() - t0) / 1000,
        sent: runner.sent,
        completed: runner.completed,
        failed: runner.failed,
        inFlight: runner.inFlight,
        activeSessions: runner.activeSessions,
      });
    }, 250);
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      // First signal: stop starting turns, let in-flight ones finish. Second: cancel them.
      logger.info("stopping", { signal, inFlight: runner.inFlight });
      if (++signals === 1) runner.stop();
      else runner.abort();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    logger.info("run started", { runId, target: config.target, workload: config.workload, ...workload.info });
    progress.start();
    runner.start();
  });
  await done;
  clearInterval(tick);
  const durationS = (performance.now() - t0) / 1000;
  progress.stop();
  timers.cancelAll();
  if (requestsFile) await new Promise<void>((r) => requestsFile.end(() => r()));
  await target.close();
  await metricsServer?.close();

  const summary = {
    ...results.summary(durationS),
    started_at: startedAt.toISOString(),
    run_id: runId,
    hints: target.counters,
    workload_info: workload.info,
    config: {
      ...config,
      duration: Number.isFinite(config.duration) ? config.duration : null,
      maxRequests: Number.isFinite(config.maxRequests) ? config.maxRequests : null,
    },
  };
  process.stdout.write(formatSummaryTable(summary));
  if (config.out) writeFileSync(join(config.out, "summary.json"), toJson(summary) + "\n");
  logger.info("run finished", {
    completed: summary.completed,
    failed: summary.failed,
    durationS: Number(durationS.toFixed(3)),
  });
}
