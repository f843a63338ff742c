import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { bundlePath } from "@symphony/testkit";

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

/**
 * Runs the workloadgen bundle with `args` (which should include `--progress-interval` so
 * progress lines reach stderr), sends `signal` once some requests have completed (waiting at
 * most 20 s), and resolves with its exit code and stderr (SIGKILL after 15 s more).
 */
export async function signalMidRun(
  args: readonly string[],
  signal: NodeJS.Signals,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [bundlePath("workloadgen"), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  const deadline = Date.now() + 20_000;
  while (!/"completed":[1-9]/.test(stderr) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  child.kill(signal);
  const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const code = await exited;
  clearTimeout(killer);
  return { code, stderr };
}
