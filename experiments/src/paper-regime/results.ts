/** What the paper-regime experiment measured: the data behind every table and file. */
import type { ThinkTimeKind } from "@symphony/workloadgen/domain";
import type { SearchResult } from "../domain/capacity-search";
import type { Regime, RegimePoint } from "./sim-point";

/** One configuration's capacity under one criterion, for one seed. */
export interface CapacityResult {
  readonly config: string;
  readonly seed: number;
  readonly criterion: "slo" | "latency";
  readonly search: SearchResult;
}

/** Configuration 4 at the fixed load with another warm-up timing or hint error. */
export interface HintVariant {
  readonly timing: "at-hint" | "just-in-time";
  readonly hintEtaError: number;
  readonly points: RegimePoint[];
}

/** Everything measured at one regime point. */
export interface RegimeResult {
  readonly name: string;
  readonly profile: string;
  readonly thinkTime: ThinkTimeKind;
  readonly regime: Regime;
  readonly kvTokensPerGpu: number;
  readonly cpuTokensPerGpu: number;
  /** Unloaded vLLM (configuration 1 at the unloaded session count): mean E2EL per seed, ms. */
  readonly unloaded: {
    seed: number;
    sessions: number;
    /** Virtual seconds it ran (longer than the other points: few users give few requests). */
    duration_s: number;
    normalized_latency_ms: number;
    e2el_mean_ms: number;
    ttft_p99_ms: number;
  }[];
  readonly capacities: CapacityResult[];
  /** Every configuration at the fixed load, per seed. */
  readonly fixed: RegimePoint[];
  readonly variants: HintVariant[];
  /** Every point measured (searches included). */
  readonly points: RegimePoint[];
}
