import type { Logger } from "@symphony/runtime";
import { configurationNamed, type ConfigName } from "./configurations";
import type { PointResult } from "./domain/point-metrics";
import { STOCK_CONFIGURATIONS, type StockConfigName } from "./paper-regime/configurations";
import { runRegimePoint, type Regime, type RegimePoint } from "./paper-regime/sim-point";
import type { Scale } from "./scale";
import { runSimPoint } from "./sim-point";

/**
 * One simulated point as plain data (it crosses to a worker thread by structured clone):
 * configurations travel by name and are looked up where the point runs.
 */
export type PointJob = SimPointJob | RegimePointJob;

/** A symphony-effect point (runSimPoint). */
export interface SimPointJob {
  readonly kind: "sim-point";
  readonly scale: Scale;
  readonly config: ConfigName;
  readonly sessions: number;
  readonly datasetPath: string;
  readonly seed: number;
}

/** A paper-regime point (runRegimePoint). */
export interface RegimePointJob {
  readonly kind: "regime-point";
  readonly regime: Regime;
  readonly config: StockConfigName;
  readonly sessions: number;
  readonly seed: number;
}

export type PointOutcome<J extends PointJob> = J extends SimPointJob ? PointResult : RegimePoint;

/** Runs one point in this thread; `logger` gets the simulator's log lines. */
export async function runPointJob<J extends PointJob>(job: J, logger: Logger): Promise<PointOutcome<J>> {
  if (job.kind === "sim-point")
    return (await runSimPoint(
      job.scale,
      configurationNamed(job.config),
      job.sessions,
      job.datasetPath,
      job.seed,
      logger,
    )) as PointOutcome<J>;
  const config = STOCK_CONFIGURATIONS.find((c) => c.name === job.config);
  if (!config) throw new Error(`unknown paper-regime configuration "${job.config}"`);
  return (await runRegimePoint(job.regime, config, job.sessions, job.seed, logger)) as PointOutcome<J>;
}

/** Where simulated points run: one after another in this thread, or a pool of worker threads. */
export interface PointRunner {
  /**
   * Runs `job` when a slot is free; lower `priority` first (a search's next probe waits on its
   * last, so it goes ahead of independent points), first come first served within one priority.
   * `logger` gets the point's simulator log lines.
   */
  run<J extends PointJob>(job: J, logger: Logger, priority?: number): Promise<PointOutcome<J>>;
  /** Stops the runner: queued points fail, running ones are abandoned. */
  close(): Promise<void>;
}

/** Every point in this thread, one at a time in the order asked (`--jobs 1`). */
export function inProcessRunner(): PointRunner {
  let tail: Promise<unknown> = Promise.resolve();
  let closed = false;
  return {
    run<J extends PointJob>(job: J, logger: Logger): Promise<PointOutcome<J>> {
      const next = tail.then(() => {
        if (closed) throw new Error("point runner closed");
        return runPointJob(job, logger);
      });
      // The chain goes on after a failed point; the failure is the caller's to handle.
      tail = next.catch(() => {});
      return next;
    },
    close() {
      closed = true;
      return Promise.resolve();
    },
  };
}
