import type { ClusterSpec } from "@symphony/simulator";

/**
 * The five configurations of the paper-regime experiment, each as the real knobs of the scheduler
 * (`--policy`), the node-scheduler (`--prefetch-mode`, `--residency-policy`, `--cpu-budget-tokens`),
 * vLLM (`--kv-offloading-size`) and workloadgen (hints on or off).
 */
export type StockConfigName = "round-robin" | "affinity" | "offload" | "warmup" | "directive";

export interface StockConfiguration {
  readonly name: StockConfigName;
  /** 1..5, as the tables number them. */
  readonly number: number;
  readonly label: string;
  readonly routing: "round-robin" | "session-affinity";
  /** node-scheduler `--prefetch-mode`: a stock vLLM (off, warmup) or the directive engine. */
  readonly prefetchMode: "off" | "warmup" | "directive";
  /** vLLM's native CPU offload on (`--kv-offloading-size`, stock engines). */
  readonly engineOffload: boolean;
  /** The node's own CPU tier (`--cpu-budget-tokens`, directive engine only). */
  readonly nodeCpuTier: boolean;
  readonly residencyPolicy: ClusterSpec["node"]["residencyPolicy"];
  /** workloadgen sends `Advise` hints. */
  readonly hints: boolean;
}

export const STOCK_CONFIGURATIONS: readonly StockConfiguration[] = [
  {
    name: "round-robin",
    number: 1,
    label: "1 vLLM, round-robin, prefix caching",
    routing: "round-robin",
    prefetchMode: "off",
    engineOffload: false,
    nodeCpuTier: false,
    residencyPolicy: "lru",
    hints: false,
  },
  {
    name: "affinity",
    number: 2,
    label: "2 vLLM, session affinity",
    routing: "session-affinity",
    prefetchMode: "off",
    engineOffload: false,
    nodeCpuTier: false,
    residencyPolicy: "lru",
    hints: false,
  },
  {
    name: "offload",
    number: 3,
    label: "3 vLLM, affinity + native CPU offload",
    routing: "session-affinity",
    prefetchMode: "off",
    engineOffload: true,
    nodeCpuTier: false,
    residencyPolicy: "lru",
    hints: false,
  },
  {
    name: "warmup",
    number: 4,
    label: "4 vLLM, affinity + offload + Symphony warm-ups",
    routing: "session-affinity",
    prefetchMode: "warmup",
    engineOffload: true,
    nodeCpuTier: false,
    residencyPolicy: "lru",
    hints: true,
  },
  {
    name: "directive",
    number: 5,
    label: "5 Symphony, directive engine",
    routing: "session-affinity",
    prefetchMode: "directive",
    engineOffload: false,
    nodeCpuTier: true,
    residencyPolicy: "hint-aware",
    hints: true,
  },
];

export const STOCK_CONFIG_NAMES = STOCK_CONFIGURATIONS.map((c) => c.name);
