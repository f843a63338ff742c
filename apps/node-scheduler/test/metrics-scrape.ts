import { parsePrometheusText } from "../src/engine/prometheus-text";

/** GET /metrics of a node and returns sample sums by metric name (labels folded together). */
export async function scrapeNode(metricsPort: number): Promise<(name: string) => number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const samples = parsePrometheusText(text);
  return (name) => samples.get(name)?.sum ?? 0;
}
