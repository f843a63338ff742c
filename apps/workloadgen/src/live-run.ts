import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { countTokens, startMetricsServer, UsageError, type Logger } from "@symphony/common";
import { Registry } from "prom-client";
import type { Config } from "./config";
import {
  AgentReportAccumulator,
  formatAgentReport,
  LoadRunner,
  PromptSynthesizer,
  type Target,
} from "./domain";
import { PreciseTimers } from "./precise-timers";
import { renderHtmlReport } from "./output/html-report";
import { JsonlWriter } from "./output/jsonl-writer";
import { WorkloadMetrics } from "./output/metrics";
import { Progress } from "./output/progress";
import { formatSummaryTable, summaryCsv, SummaryAccumulator, toJson } from "./output/report";
import { GrpcSchedulerTarget, type AdviceCounters } from "./transport/grpc-target";
import { OpenAiHttpTarget } from "./transport/openai-target";
import type { Workload } from "./workload";

/** A Target the live run can also wait for and close. */
interface LiveTarget extends Target {
  readonly counters: AdviceCounters;
  waitForReady(timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

/** Exit codes after a signal, as shells report them (128 + signal number). */
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

function makeTarget(config: Readonly<Config>, logger: Logger): LiveTarget {
  if (config.targetKind === "http") {
    return new OpenAiHttpTarget(
      {
        baseUrl: config.target,
        endpoint: config.endpoint,
        model: config.model,
        apiKey: config.apiKey,
        headers: config.headers,
        sessionIdHeader: config.sessionIdHeader,
        sendExpectedResponse: config.sendExpectedResponse,
        connections: config.httpConnections,
        requestTimeoutMs: config.requestTimeout * 1000,
      },
      logger,
    );
  }
  return new GrpcSchedulerTarget(config.target, logger, config.requestTimeout * 1000);
}

/** One requests.jsonl line: the record, ITLs rounded to µs (they are most of the bytes). */
function requestLine(record: Parameters<SummaryAccumulator["add"]>[0]): string {
  const itl = record.itl_ms.map((g) => Math.round(g * 1000) / 1000);
  return JSON.stringify({ ...record, itl_ms: itl, itl_count: itl.length });
}

/**
 * A live run: plays the workload against the target on wall-clock timers, shows progress, then
 * prints the results table and writes requests.jsonl (as requests finish), summary.json,
 * summary.csv and report.html. SIGINT/SIGTERM: stop sending, wait up to `--grace` s for
 * in-flight requests (a second signal cancels them at once), write the partial results and exit
 * 130/143.
 */
export async function liveRun(config: Readonly<Config>, workload: Workload, logger: Logger): Promise<void> {
  const target = makeTarget(config, logger);
  try {
    await target.waitForReady(config.connectTimeout * 1000);
  } catch (err) {
    await target.close();
    throw new UsageError(
      `--target ${config.target}: not reachable within ${config.connectTimeout} s (${(err as Error).message})`,
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
  const timers = new PreciseTimers();
  const runId = randomBytes(4).toString("hex");
  const results = new SummaryAccumulator(1_000_000, config.seed, true, {
    slo: config.slo,
    warmupS: config.warmup,
    cooldownS: config.cooldown,
  });
  // Agent sessions (tool waits, sub-agent fan-out) get their own section when the run has any.
  const agents = new AgentReportAccumulator();
  let agentRecords = 0;
  const requestsFile = config.out ? new JsonlWriter(join(config.out, "requests.jsonl")) : undefined;
  const progress = new Progress(logger, config.duration, config.maxRequests, config.progressInterval);
  // Warm up what the first request would otherwise pay for (the tokenizer's tables take about a
  // second to build), so that stall does not land on the schedule.
  const synth = new PromptSynthesizer(config.seed, config.blockSize);
  synth.text("warm-up", 16);
  countTokens("warm-up");
  // Event-loop delay: if the loop stalls, sends are late and token timestamps are wrong.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  loopDelay.enable();
  const startedAt = new Date();
  const t0 = performance.now();

  let tick: NodeJS.Timeout | undefined;
  let graceTimer: NodeJS.Timeout | undefined;
  let signalled: NodeJS.Signals | undefined;
  let stopReason = "completed";
  let signalHandler: ((signal: NodeJS.Signals) => void) | undefined;
  const done = new Promise<void>((resolve) => {
    const runner = new LoadRunner(
      {
        timers,
        target,
        source: workload.source,
        thinkTime: workload.thinkTime,
        synth,
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
        if (record.session_kind !== undefined && record.session_kind !== "chat") agentRecords++;
        agents.add(record);
        metrics.observe(record);
        requestsFile?.write(requestLine(record));
        const { completed, failed } = results.counts;
        if (stopReason === "completed" && failed > 0) {
          const finished = completed + failed;
          if (failed >= config.maxErrors) stopReason = "max-errors";
          else if (finished >= 20 && failed / finished > config.maxErrorRate) stopReason = "max-error-rate";
          if (stopReason !== "completed") {
            logger.warn("stopping early", { reason: stopReason, failed, finished });
            runner.stop();
          }
        }
      },
      resolve,
    );
    tick = setInterval(() => {
      metrics.inFlight.set(runner.inFlight);
      metrics.activeSessions.set(runner.activeSessions);
      const elapsedS = (performance.now() - t0) / 1000;
      progress.update({
        elapsedS,
        sent: runner.sent,
        completed: runner.completed,
        failed: runner.failed,
        inFlight: runner.inFlight,
        activeSessions: runner.activeSessions,
        rate: elapsedS > 0 ? runner.completed / elapsedS : 0,
        ttftP50Ms: results.progress.ttftP50Ms,
      });
    }, 250);
    signalHandler = (signal: NodeJS.Signals) => {
      if (!signalled) {
        // First signal: stop sending, give in-flight requests --grace seconds, then cancel them.
        signalled = signal;
        stopReason = `signal ${signal}`;
        logger.info("stopping", { signal, inFlight: runner.inFlight, graceS: config.grace });
        runner.stop();
        graceTimer = setTimeout(() => runner.abort(), config.grace * 1000);
      } else {
        logger.info("cancelling in-flight requests", { signal, inFlight: runner.inFlight });
        runner.abort();
      }
    };
    process.on("SIGINT", signalHandler);
    process.on("SIGTERM", signalHandler);
    logger.info("run started", {
      runId,
      target: config.target,
      targetKind: config.targetKind,
      workload: config.workload,
      ...workload.info,
    });
    progress.start();
    runner.start();
  });
  await done;
  clearInterval(tick);
  clearTimeout(graceTimer);
  loopDelay.disable();
  const durationS = (performance.now() - t0) / 1000;
  progress.stop();
  timers.cancelAll();
  requestsFile?.close();
  await target.close();
  await metricsServer?.close();
  if (signalHandler) {
    process.off("SIGINT", signalHandler);
    process.off("SIGTERM", signalHandler);
  }

  const ms = (ns: number) => ns / 1e6;
  const summary = {
    ...results.summary(durationS),
    started_at: startedAt.toISOString(),
    run_id: runId,
    stop_reason: stopReason,
    target: {
      kind: config.targetKind,
      address: config.target,
      ...(config.targetKind === "http"
        ? { endpoint: config.endpoint, model: (target as OpenAiHttpTarget).modelName }
        : {}),
    },
    event_loop_delay_ms: {
      mean: ms(loopDelay.mean),
      p50: ms(loopDelay.percentile(50)),
      p99: ms(loopDelay.percentile(99)),
      max: ms(loopDelay.max),
    },
    hints: {
      ...target.counters,
      sent: config.hints,
      ...(config.targetKind === "http"
        ? { note: "HTTP target: OpenAI APIs have no Advise; hints were not delivered" }
        : {}),
    },
    workload_info: workload.info,
    ...(agentRecords > 0 ? { agents: agents.summary() } : {}),
    config: {
      ...config,
      apiKey: config.apiKey ? "(set)" : undefined,
      duration: Number.isFinite(config.duration) ? config.duration : null,
      maxRequests: Number.isFinite(config.maxRequests) ? config.maxRequests : null,
      maxErrors: Number.isFinite(config.maxErrors) ? config.maxErrors : null,
      maxErrorRate: Number.isFinite(config.maxErrorRate) ? config.maxErrorRate : null,
    },
  };
  process.stdout.write(formatSummaryTable(summary));
  if (summary.agents) process.stdout.write(formatAgentReport(summary.agents) + "\n");
  if (config.out) {
    writeFileSync(join(config.out, "summary.json"), toJson(summary) + "\n");
    writeFileSync(join(config.out, "summary.csv"), summaryCsv(summary));
    writeFileSync(
      join(config.out, "report.html"),
      renderHtmlReport(summary, results.columns(), results.itlSample(20_000)),
    );
  }
  logger.info("run finished", {
    completed: summary.completed,
    failed: summary.failed,
    durationS: Number(durationS.toFixed(3)),
    stopReason,
  });
  if (signalled) process.exitCode = SIGNAL_EXIT[signalled as keyof typeof SIGNAL_EXIT] ?? 128;
}
