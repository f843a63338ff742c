import { writeFileSync } from "node:fs";
import type { Logger } from "@symphony/runtime";
import { CONFIGURATIONS, type Configuration } from "./configurations";
import { capacityOf, type Capacity, type PointResult } from "./domain/point-metrics";
import { synthesizeChatDataset, type ChatDatasetShape } from "./domain/sharegpt-synth";
import { runLivePoint, startStackFor } from "./live-point";
import type { Scale } from "./scale";
import { inProcessRunner, type PointRunner, type SimPointJob } from "./point-runner";

/** One scale's measurements: every point, and each configuration's capacity at the SLO. */
export interface ScaleResult {
  name: string;
  scale: Scale;
  points: PointResult[];
  capacities: Capacity[];
}

export interface RunScaleOptions {
  name: string;
  scale: Scale;
  configs: readonly Configuration[];
  datasetPath: string;
  seed: number;
  sloP99TtftMs: number;
  logger: Logger;
  /** Where simulated points run (default: one after another in this thread). */
  runner?: PointRunner;
  /** Called after every point (progress, partial results). */
  onPoint?: (p: PointResult) => void;
}

/**
 * Measures every configuration at the scale's session counts, smallest first. A configuration
 * stops climbing after its first point over the SLO (higher counts only get worse, and each point
 * costs minutes of wall time live), so its line in the chart ends one point past its capacity.
 * Simulated configurations climb at once (each on its own, so the runner's jobs decide how many
 * points run together); live ones one after another, each on its own stack.
 */
export async function runScale(o: RunScaleOptions): Promise<ScaleResult> {
  const climb = async (
    config: Configuration,
    measure: (sessions: number) => Promise<PointResult>,
  ): Promise<PointResult[]> => {
    const points: PointResult[] = [];
    for (const sessions of o.scale.sessions) {
      const point = await measure(sessions);
      points.push(point);
      o.logger.info("point", {
        scale: o.name,
        config: config.name,
        sessions,
        ttftP99Ms: Math.round(point.ttft_p99_ms),
        reqPerS: Number(point.request_throughput.toFixed(2)),
        wallS: Number(point.wall_s.toFixed(1)),
      });
      o.onPoint?.(point);
      if (!(point.ttft_p99_ms <= o.sloP99TtftMs)) break;
    }
    return points;
  };
  const perConfig: PointResult[][] = [];
  if (o.scale.mode === "sim") {
    const runner = o.runner ?? inProcessRunner();
    const job = (config: Configuration, sessions: number): SimPointJob => ({
      kind: "sim-point",
      scale: o.scale,
      config: config.name,
      sessions,
      datasetPath: o.datasetPath,
      seed: o.seed,
    });
    // Results in the configurations' order, whatever finishes first.
    perConfig.push(
      ...(await Promise.all(
        o.configs.map((config) => climb(config, (n) => runner.run(job(config, n), o.logger))),
      )),
    );
  } else {
    for (const config of o.configs) {
      const stack = await startStackFor(o.scale, config, o.seed);
      try {
        perConfig.push(
          await climb(config, (n) =>
            runLivePoint(stack, o.scale, config, n, o.datasetPath, o.seed, o.logger),
          ),
        );
      } finally {
        await stack.stop();
      }
    }
  }
  const points = perConfig.flat();
  return {
    name: o.name,
    scale: o.scale,
    points,
    capacities: o.configs.map((c) => capacityOf(c.name, points, o.sloP99TtftMs)),
  };
}

/** Writes the seeded synthetic dataset both scales replay; returns its path. */
export function writeDataset(path: string, shape: ChatDatasetShape, seed: number): string {
  writeFileSync(path, JSON.stringify(synthesizeChatDataset(shape, seed)) + "\n");
  return path;
}

export { CONFIGURATIONS };
