import { bundlePath, spawnService, type RunningService } from "./spawn-service";

/** Options shared by the service helpers. */
export interface StartOptions {
  /** Name in error messages (default: the app's). */
  readonly name?: string;
  /** How long to wait for the "listening" lines, ms (default spawnService's). */
  readonly timeoutMs?: number;
  /** Listening kinds to wait for besides the app's own ports (e.g. "kv-events" when a node binds one). */
  readonly alsoWaitFor?: readonly string[];
}

/**
 * The built node-scheduler on port 0 (gRPC and metrics, ports read back from its "listening"
 * lines) in front of the engine at `engineUrl` (…/v1); `args` are further flags.
 */
export function startNode(
  engineUrl: string,
  args: readonly string[] = [],
  options: StartOptions = {},
): Promise<RunningService> {
  return spawnService(
    options.name ?? "node-scheduler",
    bundlePath("node-scheduler"),
    ["--port", "0", "--metrics-port", "0", "--engine-url", engineUrl, ...args],
    ["grpc", "metrics", ...(options.alsoWaitFor ?? [])],
    options.timeoutMs,
  );
}

/** A running mock-vllm with its addresses. */
export interface RunningMock extends RunningService {
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  /** `http://127.0.0.1:<port>/v1`, what a node's --engine-url takes. */
  readonly url: string;
}

/** The built mock-vllm on port 0; `args` are further flags. */
export async function startMockVllm(
  args: readonly string[] = [],
  options: StartOptions = {},
): Promise<RunningMock> {
  const svc = await spawnService(
    options.name ?? "mock-vllm",
    bundlePath("mock-vllm"),
    ["--port", "0", ...args],
    ["http", ...(options.alsoWaitFor ?? [])],
    options.timeoutMs,
  );
  const base = `http://127.0.0.1:${svc.ports.http}`;
  return Object.assign(svc, { base, url: `${base}/v1` });
}

/**
 * The built scheduler on port 0 (gRPC and metrics); `nodes`: static node addresses (--nodes),
 * none when nodes register themselves; `args` are further flags.
 */
export function startScheduler(
  nodes: readonly string[] = [],
  args: readonly string[] = [],
  options: StartOptions = {},
): Promise<RunningService> {
  return spawnService(
    options.name ?? "scheduler",
    bundlePath("scheduler"),
    [
      "--port",
      "0",
      "--metrics-port",
      "0",
      ...(nodes.length > 0 ? ["--nodes", nodes.join(",")] : []),
      ...args,
    ],
    ["grpc", "metrics", ...(options.alsoWaitFor ?? [])],
    options.timeoutMs,
  );
}
