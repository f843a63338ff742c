import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";

/** The repository root: the nearest folder upwards holding nx.json (works from sources and bundles). */
export const repoRoot = findRepoRoot(__dirname);

function findRepoRoot(start: string): string {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "nx.json"))) return dir;
    if (dirname(dir) === dir) return process.cwd();
  }
}

/** Path of an app's self-contained bundle (built by `npm run build`). */
export function bundlePath(app: "workloadgen" | "scheduler" | "node-scheduler" | "mock-vllm"): string {
  const path = join(repoRoot, "dist", "apps", app, "main.js");
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`npm run build\` first`);
  return path;
}

export interface RunningService {
  name: string;
  child: ChildProcess;
  /** Ports by kind, from the service's `{"message":"listening","kind":...,"port":...}` log lines. */
  ports: Record<string, number>;
  /** Every JSON log line seen so far. */
  logs: Record<string, unknown>[];
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
  /** SIGKILL at once (a crashed node). */
  kill(): Promise<number | null>;
}

/**
 * Starts a built service with `node <bundle> ...args` and waits until it has logged a
 * "listening" line for each kind in `waitFor` (e.g. ["grpc", "metrics"]). Services bind port 0
 * and report the port, so tests never race for a free port.
 */
export async function spawnService(
  name: string,
  bundle: string,
  args: string[],
  waitFor: string[],
  timeoutMs = 20_000,
): Promise<RunningService> {
  const child = spawn(process.execPath, ["--enable-source-maps", bundle, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  const ports: Record<string, number> = {};
  const stderrTail: string[] = [];
  const exited = new Promise<number | null>((res) => child.once("exit", (code) => res(code)));

  const ready = new Promise<void>((resolveReady, rejectReady) => {
    const timer = setTimeout(
      () =>
        rejectReady(new Error(`${name} did not listen within ${timeoutMs} ms:\n${stderrTail.join("\n")}`)),
      timeoutMs,
    );
    const check = () => {
      if (waitFor.every((k) => ports[k] !== undefined)) {
        clearTimeout(timer);
        resolveReady();
      }
    };
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => {
        stderrTail.push(line);
        if (stderrTail.length > 50) stderrTail.shift();
        if (!line.startsWith("{")) return;
        try {
          const entry = JSON.parse(line) as Record<string, unknown>;
          logs.push(entry);
          if (logs.length > 5000) logs.shift(); // a long-lived service must not grow the test's memory
          if (
            entry.message === "listening" &&
            typeof entry.kind === "string" &&
            typeof entry.port === "number"
          ) {
            ports[entry.kind] = entry.port;
            check();
          }
        } catch {
          /* not a log line */
        }
      });
    }
    child.once("error", (err) => {
      clearTimeout(timer);
      rejectReady(new Error(`${name} could not be started: ${err.message}`));
    });
    void exited.then((code) => {
      clearTimeout(timer);
      rejectReady(new Error(`${name} exited with code ${code} before listening:\n${stderrTail.join("\n")}`));
    });
    check();
  });
  try {
    await ready;
  } catch (err) {
    // Never leave a half-started service behind.
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    throw err;
  }

  const stop = async (graceMs = 5000) => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), graceMs);
    const code = await exited;
    clearTimeout(t);
    return code;
  };
  const kill = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    child.kill("SIGKILL");
    return exited;
  };
  return { name, child, ports, logs, stop, kill };
}

/** Runs a built CLI to completion and returns its exit code and output. */
export function runCli(
  bundle: string,
  args: string[],
  timeoutMs = 120_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, rejectRun) => {
    const child = spawn(process.execPath, ["--enable-source-maps", bundle, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      rejectRun(
        new Error(`${bundle} ${args.join(" ")} timed out after ${timeoutMs} ms\n${stderr.slice(-4000)}`),
      );
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      rejectRun(new Error(`${bundle} could not be started: ${err.message}`));
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}
