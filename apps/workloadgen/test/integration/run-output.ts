import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The records of a run's `requests.jsonl` in `dir` (each test declares the fields it reads). */
export function readRequestLines<T>(dir: string): T[] {
  return readFileSync(join(dir, "requests.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as T);
}

/** A run's `summary.json` in `dir`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read the fields they check
export const readSummary = (dir: string): any => JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"));

/** A Prometheus counter's value (summed over label sets) from a /metrics text. */
export function prometheusCounter(text: string, name: string): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.split(" ").pop());
  }
  return total;
}
