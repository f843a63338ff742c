import { execFileSync, spawnSync } from "node:child_process";
import { join, resolve } from "node:path";

/** The repository root (docker-compose.yml lives there). */
export const repoRoot = resolve(__dirname, "../../..");
export const deployDir = join(repoRoot, "deploy");
export const composeFile = join(repoRoot, "docker-compose.yml");

/**
 * Why the container suite cannot run here, or undefined when it can: a Docker engine must answer
 * `docker info` and Compose v1 (`docker-compose`) must be installed. Checked synchronously so that
 * `describe.skipIf` can use it at collection time.
 */
export function dockerUnavailableReason(): string | undefined {
  const info = spawnSync("docker", ["info", "--format", "{{.ServerVersion}}"], {
    encoding: "utf8",
    timeout: 15_000,
  });
  if (info.error || info.status !== 0) {
    const why = info.error ? info.error.message : info.stderr.trim().split("\n").pop();
    return `no Docker engine reachable (${why}); start one with deploy/scripts/docker-engine.sh ensure`;
  }
  const compose = spawnSync("docker-compose", ["version", "--short"], { encoding: "utf8", timeout: 15_000 });
  if (compose.error || compose.status !== 0) {
    return "docker-compose (Compose v1) is not installed; deploy/scripts/docker-engine.sh ensure installs it";
  }
  return undefined;
}

/** Runs a command to completion; throws with its output on a non-zero exit. */
export function sh(cmd: string, args: string[], timeoutMs = 180_000): string {
  try {
    return execFileSync(cmd, args, {
      encoding: "utf8",
      timeout: timeoutMs,
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`, {
      cause: err,
    });
  }
}

/** Builds (or refreshes from the current dist/ bundles) the four app images. */
export function buildImages(tag: string): void {
  sh(join(deployDir, "scripts", "build-images.sh"), [], 300_000);
  if (tag !== "latest") {
    for (const app of ["workloadgen", "scheduler", "node-scheduler", "mock-vllm"]) {
      sh("docker", ["tag", `symphony/${app}:latest`, `symphony/${app}:${tag}`]);
    }
  }
}

export interface ContainerState {
  running: boolean;
  exitCode: number;
  health: string | undefined;
}

/** `docker inspect` state of one container, or undefined when no such container exists (yet). */
export function findContainer(container: string): ContainerState | undefined {
  const r = spawnSync(
    "docker",
    [
      "inspect",
      "--format",
      "{{json .State.Running}} {{json .State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}",
      container,
    ],
    { encoding: "utf8", timeout: 30_000 },
  );
  if (r.status !== 0) {
    if (/No such object/i.test(r.stderr)) return undefined;
    throw new Error(`docker inspect ${container} failed: ${r.error?.message ?? r.stderr}`);
  }
  const [running, exitCode, health] = r.stdout.trim().split(" ");
  return { running: running === "true", exitCode: Number(exitCode), health: health || undefined };
}

/** `docker inspect` state of a container that must exist. */
export function inspect(container: string): ContainerState {
  const state = findContainer(container);
  if (!state) throw new Error(`container ${container} does not exist`);
  return state;
}

/** Force-removes every container carrying `label` (key=value); returns how many. */
export function removeContainersLabelled(label: string): number {
  const ids = sh("docker", ["ps", "-aq", "--filter", `label=${label}`]).trim();
  if (ids) sh("docker", ["rm", "-f", ...ids.split("\n")]);
  return ids ? ids.split("\n").length : 0;
}

/** The last lines of a container's log, for failure messages. */
export function logsOf(container: string, lines = 40): string {
  const r = spawnSync("docker", ["logs", "--tail", String(lines), container], { encoding: "utf8" });
  return `${r.stdout}${r.stderr}`;
}

/** Polls `predicate` every `intervalMs` until it returns a value or `timeoutMs` passes (then throws). */
export async function waitFor<T>(
  what: string,
  predicate: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
