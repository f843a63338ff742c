import { randomBytes } from "node:crypto";
import { UsageError } from "@symphony/common";
import {
  formatSummaryTable,
  RunOutputs,
  SessionPanelAccumulator,
  SummaryAccumulator,
  type RequestRecord,
} from "@symphony/measure";
import { startMetricsServer, type Logger } from "@symphony/runtime";
import { Registry } from "prom-client";
import { sendingThreads, type Config } from "./config";
import { AgentReportAccumulator, formatAgentReport } from "./domain";
import { WorkloadMetrics } from "./output/metrics";
import { Progress } from "./output/progress";
import {
  InProcessSender,
  LOOP_DELAY_RESOLUTION_MS,
  loopDelayFigures,
  startLoopDelayMonitor,
  TargetNotReadyError,
  type Sender,
} from "./sender";
import { ServerWatch } from "./server-watch";
import { runClock, runnerShare } from "./shard";
import { WorkerPoolSender } from "./workers/worker-pool-sender";
import type { Workload } from "./workload";

/** The setup left after waiting for `--start-at` (logging, progress display) takes at most about this long, ms. */
const START_AT_MARGIN_MS = 250;

/**
 * `--start-at`: sleeps until shortly before the wall clock reaches `epochMs` (shards started
 * together) and returns that instant on this thread's `performance.now()`, for the sender to
 * start on. A time already past is a warning, not an error: the run starts at once (undefined),
 * and `workloadgen merge` reports the offset.
 */
async function waitUntil(epochMs: number, logger: Logger): Promise<number | undefined> {
  const atMs = performance.now() + (epochMs - Date.now());
  const waitMs = atMs - performance.now();
  if (waitMs < START_AT_MARGIN_MS) {
    logger.warn("--start-at is past or too close: starting now", { lateMs: Math.round(-waitMs) });
    return undefined;
  }
  logger.info("waiting for --start-at", {
    startAt: new Date(epochMs).toISOString(),
    waitMs: Math.round(waitMs),
  });
  await new Promise((resolve) => setTimeout(resolve, waitMs - START_AT_MARGIN_MS));
  return atMs;
}

/** Exit codes after a signal, as shells report them (128 + signal number). */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * A live run: plays the workload against the target on wall-clock timers (in this thread, or
 * in `--workers` worker threads), shows progress, then prints the results table and writes
 * requests.jsonl (as requests finish), summary.json, summary.csv and report.html.
 * SIGINT/SIGTERM: stop sending, wait up to `--grace` s for in-flight requests (a second signal
 * cancels them at once), write the partial results and exit 130/143.
 *
 * `argv` is the command line: worker threads parse the same Config from it.
 */
export async function liveRun(
  config: Readonly<Config>,
  workload: Workload,
  logger: Logger,
  argv: readonly string[],
): Promise<void> {
  const runId = randomBytes(4).toString("hex");
  const workers = sendingThreads(config);
  const renderLines = config.out !== undefined;
  // With --shard, this process plays its part of the clients and of --max-requests.
  const share = runnerShare(config);
  const sender: Sender =
    workers > 1
      ? new WorkerPoolSender(config, [...argv], logger, runId, renderLines)
      : new InProcessSender(
          { ...config, numClients: share.numClients, maxRequests: share.shardMaxRequests },
          workload,
          logger,
          {
            runId,
            // Lines are written here, joined in the file's buffer (rendering is for workers).
            renderLines: false,
            slotOffset: share.slotOffset,
            slotStride: share.slotStride,
            totalClients: share.totalClients,
          },
        );
  try {
    await sender.prepare();
  } catch (err) {
    await sender.close();
    if (!(err instanceof TargetNotReadyError)) throw err; // a worker that crashed: not the user's fault
    throw new UsageError(
      `--target ${config.target}: not reachable within ${config.connectTimeout} s (${err.message})`,
    );
  }
  const servers = new ServerWatch(config, logger);
  await servers.beforeRun();
  const registry = new Registry();
  const metrics = new WorkloadMetrics(registry);
  const metricsServer =
    config.metricsPort === undefined
      ? undefined
      : await startMetricsServer(registry, config.metricsHost, config.metricsPort);
  if (metricsServer)
    logger.info("listening", { kind: "metrics", host: config.metricsHost, port: metricsServer.port });
  const results = new SummaryAccumulator(1_000_000, config.seed, true, {
    slo: config.slo,
    warmupS: config.warmup,
    cooldownS: config.cooldown,
    exactRecords: config.exactRecords,
  });
  // Agent sessions (tool waits, sub-agent fan-out) get their own section when the run has any.
  const agents = new AgentReportAccumulator(config.exactRecords);
  // Hints reach only the Symphony scheduler (OpenAI APIs have no Advise).
  const sessions = new SessionPanelAccumulator(
    config.hints && config.targetKind === "grpc",
    config.exactRecords,
  );
  let agentRecords = 0;
  const outputs = config.out ? new RunOutputs(config.out) : undefined;
  const progress = new Progress(logger, config.duration, share.shardMaxRequests, config.progressInterval);
  // This thread's own loop (with workers it only collects; the sending threads measure theirs).
  const mainLoopDelay = workers > 1 ? startLoopDelayMonitor() : undefined;
  // --start-at: sleep until just before it; the sender starts on the instant itself.
  const startAtMs = config.startAt === undefined ? undefined : await waitUntil(config.startAt, logger);
  const startedAt = new Date();
  const t0 = performance.now();

  let tick: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let signalled: NodeJS.Signals | undefined;
  let stopReason = "completed";
  let signalHandler: ((signal: NodeJS.Signals) => void) | undefined;
  const onRecord = (record: RequestRecord): void => {
    results.add(record);
    if (record.session_kind !== undefined && record.session_kind !== "chat") agentRecords++;
    agents.add(record);
    sessions.add(record);
    // Per-request histograms only when someone can scrape them (they cost ~10 µs a request).
    if (metricsServer) metrics.observe(record);
  };
  const done = new Promise<void>((resolve) => {
    tick = setInterval(() => {
      const status = sender.status();
      metrics.inFlight.set(status.inFlight);
      metrics.activeSessions.set(status.activeSessions);
      const elapsedS = (performance.now() - t0) / 1000;
      progress.update({
        elapsedS,
        ...status,
        rate: elapsedS > 0 ? status.completed / elapsedS : 0,
        ttftP50Ms: results.progress.ttftP50Ms,
      });
    }, 250);
    signalHandler = (signal: NodeJS.Signals) => {
      if (!signalled) {
        // First signal: stop sending, give in-flight requests --grace seconds, then cancel them.
        signalled = signal;
        stopReason = `signal ${signal}`;
        logger.info("stopping", { signal, inFlight: sender.status().inFlight, graceS: config.grace });
        sender.stop();
        graceTimer = setTimeout(() => sender.abort(), config.grace * 1000);
      } else {
        logger.info("cancelling in-flight requests", { signal, inFlight: sender.status().inFlight });
        sender.abort();
      }
    };
    process.on("SIGINT", signalHandler);
    process.on("SIGTERM", signalHandler);
    logger.info("run started", {
      runId,
      target: config.target,
      targetKind: config.targetKind,
      workload: config.workload,
      workers,
      ...workload.info,
    });
    progress.start();
    servers.start();
    sender.start(
      {
        records: (records, lines) => {
          for (const record of records) onRecord(record);
          if (outputs) {
            if (lines !== undefined) outputs.writeRequestLine(lines);
            else for (const record of records) outputs.writeRequestRecord(record);
          }
          const { completed, failed } = results.counts;
          if (stopReason === "completed" && failed > 0) {
            const finished = completed + failed;
            if (failed >= config.maxErrors) stopReason = "max-errors";
            else if (finished >= 20 && failed / finished > config.maxErrorRate) stopReason = "max-error-rate";
            if (stopReason !== "completed") {
              logger.warn("stopping early", { reason: stopReason, failed, finished });
              sender.stop();
            }
          }
        },
        done: resolve,
      },
      startAtMs,
    );
  });
  await done;
  clearInterval(tick);
  clearTimeout(graceTimer);
  mainLoopDelay?.disable();
  // With --start-at the run is timed from the start instant, not from the last setup step.
  const durationS = (performance.now() - (startAtMs ?? t0)) / 1000;
  progress.stop();
  outputs?.closeRequests();
  await sender.close();
  await metricsServer?.close();
  if (signalHandler) {
    process.off("SIGINT", signalHandler);
    process.off("SIGTERM", signalHandler);
  }

  const scheduleStartMs = sender.scheduleStartMs() ?? t0;
  const watched = await servers.finish(scheduleStartMs);
  const loopDelay = sender.loopDelay();
  const counters = sender.counters();
  const summary = {
    ...results.summary(durationS),
    started_at: startedAt.toISOString(),
    // Where record times' zero is on this host's clocks, and which part of the run this was.
    clock: runClock(scheduleStartMs),
    ...(config.shard ? { shard: { index: config.shard.index, count: config.shard.count } } : {}),
    run_id: runId,
    stop_reason: stopReason,
    target: {
      kind: config.targetKind,
      address: config.target,
      ...(config.targetKind === "http" ? { endpoint: config.endpoint, model: sender.modelName() } : {}),
    },
    // Delay beyond the monitor's period, where the sending happens (with workers: the worst
    // worker's percentiles; every thread's own figures in `threads`).
    event_loop_delay_ms: {
      ...loopDelay.merged,
      resolution_ms: LOOP_DELAY_RESOLUTION_MS,
      sending_threads: workers > 1 ? workers : "main",
      ...(workers > 1
        ? {
            threads: [
              ...loopDelay.threads.map((t) => ({ thread: t.thread, ...t.delay })),
              { thread: "main (collects only)", ...loopDelayFigures(mainLoopDelay!) },
            ],
          }
        : {}),
    },
    hints: {
      ...counters,
      sent: config.hints,
      ...(config.targetKind === "http"
        ? { note: "HTTP target: OpenAI APIs have no Advise; hints were not delivered" }
        : {}),
    },
    workload_info: workload.info,
    ...(watched.summary ? { server_metrics: watched.summary } : {}),
    ...(watched.resets ? { prefix_cache_reset: watched.resets } : {}),
    ...(watched.warnings.length > 0 ? { warnings: watched.warnings } : {}),
    ...(agentRecords > 0 ? { agents: agents.summary() } : {}),
    sessions: sessions.result(),
    config: {
      ...config,
      apiKey: config.apiKey ? "(set)" : undefined,
      authToken: config.authToken ? "(set)" : undefined,
      duration: Number.isFinite(config.duration) ? config.duration : null,
      maxRequests: Number.isFinite(config.maxRequests) ? config.maxRequests : null,
      maxErrors: Number.isFinite(config.maxErrors) ? config.maxErrors : null,
      maxErrorRate: Number.isFinite(config.maxErrorRate) ? config.maxErrorRate : null,
    },
  };
  process.stdout.write(formatSummaryTable(summary));
  if (summary.agents) process.stdout.write(formatAgentReport(summary.agents) + "\n");
  for (const w of watched.warnings) process.stdout.write(`warning: ${w}\n`);
  outputs?.writeSummary(summary, results.chartSource(summary.duration_s), undefined, watched.samples);
  logger.info("run finished", {
    completed: summary.completed,
    failed: summary.failed,
    durationS: Number(durationS.toFixed(3)),
    stopReason,
  });
  if (sender instanceof WorkerPoolSender && sender.failure) throw sender.failure;
  if (signalled) process.exitCode = SIGNAL_EXIT[signalled as keyof typeof SIGNAL_EXIT] ?? 128;
}
