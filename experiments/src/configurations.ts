import type { ClusterSpec } from "@symphony/simulator";

/**
 * The four cluster configurations the experiment compares, and how each maps onto
 * the real knobs of the scheduler, the node-scheduler and workloadgen.
 */
export type ConfigName = "baseline" | "affinity" | "residency" | "hints";

export interface Configuration {
  readonly name: ConfigName;
  /** Short label for tables and the chart legend. */
  readonly label: string;
  /** scheduler `--policy`. */
  readonly routing: "round-robin" | "session-affinity";
  /** node-scheduler `--residency-policy`. */
  readonly residencyPolicy: ClusterSpec["node"]["residencyPolicy"];
  /**
   * Whether the node keeps idle sessions' KV on a CPU tier. false = `--cpu-budget-tokens 0`:
   * a demoted session is evicted at once (no copy, no restore), which is a plain vLLM fleet:
   * only the engine's own prefix cache can still hold a session's KV.
   */
  readonly cpuTier: boolean;
  /** workloadgen sends `Advise` hints (false = `--no-hints`). */
  readonly hints: boolean;
}

export const CONFIGURATIONS: readonly Configuration[] = [
  {
    name: "baseline",
    label: "1 round-robin (vLLM)",
    routing: "round-robin",
    residencyPolicy: "lru",
    cpuTier: false,
    hints: false,
  },
  {
    name: "affinity",
    label: "2 affinity",
    routing: "session-affinity",
    residencyPolicy: "lru",
    cpuTier: false,
    hints: false,
  },
  {
    name: "residency",
    label: "3 affinity+residency",
    routing: "session-affinity",
    residencyPolicy: "lru",
    cpuTier: true,
    hints: false,
  },
  {
    name: "hints",
    label: "4 affinity+residency+hints",
    routing: "session-affinity",
    residencyPolicy: "hint-aware",
    cpuTier: true,
    hints: true,
  },
];

export const CONFIG_NAMES = CONFIGURATIONS.map((c) => c.name);

export function configurationNamed(name: string): Configuration {
  const c = CONFIGURATIONS.find((x) => x.name === name);
  if (!c) throw new RangeError(`unknown configuration "${name}"; known: ${CONFIG_NAMES.join(", ")}`);
  return c;
}
