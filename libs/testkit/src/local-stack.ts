import { startMockVllm, startNode, startScheduler } from "./services";
import type { RunningService } from "./spawn-service";

export interface LocalStackOptions {
  /** Number of node-scheduler + mock-vllm pairs. */
  nodes?: number;
  /** mock-vllm time scale (10 = ten times faster than real time). */
  timeScale?: number;
  /**
   * What the engines are (default "stock"):
   * - "stock": mock-vllm as a stock vLLM: KV-cache events (published on ephemeral loopback
   *   ports) and native CPU offload; each node reads its engine's events and sends warm-ups.
   * - "directive": mock-vllm's directive KV connector; nodes in `--prefetch-mode directive`
   *   (node-directed residency, what the simulator models).
   */
  engine?: "stock" | "directive";
  mockArgs?: string[];
  nodeArgs?: string[];
  schedulerArgs?: string[];
  /** Called with each service's name as it comes up (progress for humans). */
  onStarted?: (service: RunningService) => void;
}

export interface LocalStack {
  mocks: RunningService[];
  nodes: RunningService[];
  scheduler: RunningService;
  /** host:port of the scheduler's gRPC endpoint. */
  schedulerAddress: string;
  /** Stops everything, clients first, engines last. */
  stop(): Promise<void>;
}

/**
 * A stock vLLM's surfaces: KV-cache events from a publisher bound on ephemeral loopback ports
 * ("*" in the port makes vLLM's publisher bind) and 8 GiB of native CPU offload.
 */
const STOCK_ENGINE_ARGS = [
  "--kv-events-config",
  JSON.stringify({
    enable_kv_cache_events: true,
    publisher: "zmq",
    endpoint: "tcp://127.0.0.1:*",
    replay_endpoint: "tcp://127.0.0.1:*",
    topic: "kv",
  }),
  "--kv-offloading-size",
  "8",
  "--kv-offloading-backend",
  "native",
];

/** The KV-event endpoints a mock-vllm (or node) logged in its `listening` line for kind "kv-events". */
export function loggedKvEventsEndpoints(service: RunningService): {
  endpoint: string;
  replayEndpoint: string;
} {
  const line = service.logs.find((l) => l.message === "listening" && l.kind === "kv-events");
  if (!line) throw new Error(`${service.name} logged no kv-events endpoint`);
  return { endpoint: String(line.endpoint), replayEndpoint: String(line.replayEndpoint) };
}

/** Node flags reading `mock`'s events, from the endpoints it logged. */
function kvEventsArgs(mock: RunningService): string[] {
  const { endpoint, replayEndpoint } = loggedKvEventsEndpoints(mock);
  return ["--kv-events-endpoint", endpoint, "--kv-events-replay-endpoint", replayEndpoint];
}

/**
 * The whole stack as processes on loopback, every port chosen by the OS: N mock engines, one
 * node-scheduler per engine, and the global scheduler with the nodes as its static list.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const n = options.nodes ?? 2;
  const engine = options.engine ?? "stock";
  const timeScale = String(options.timeScale ?? 1);
  const started: RunningService[] = [];
  const track = <S extends RunningService>(s: S): S => {
    started.push(s);
    options.onStarted?.(s);
    return s;
  };
  const stopAll = async () => {
    for (const s of [...started].reverse()) await s.stop();
  };
  try {
    const mocks = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        startMockVllm(
          [
            ...["--host", "127.0.0.1", "--time-scale", timeScale],
            // cached_tokens in usage (vLLM's flag), then what the engine offers Symphony.
            "--enable-prompt-tokens-details",
            ...(engine === "stock" ? STOCK_ENGINE_ARGS : ["--kv-connector"]),
            ...(options.mockArgs ?? []),
          ],
          { name: `mock-vllm-${i + 1}` },
        ).then(track),
      ),
    );
    const nodes = await Promise.all(
      mocks.map((mock, i) =>
        startNode(
          mock.url,
          [
            ...["--host", "127.0.0.1", "--node-id", `node-${i + 1}`],
            ...(engine === "stock" ? kvEventsArgs(mock) : ["--prefetch-mode", "directive"]),
            ...(options.nodeArgs ?? []),
          ],
          { name: `node-scheduler-${i + 1}` },
        ).then(track),
      ),
    );
    const scheduler = track(
      await startScheduler(
        nodes.map((node) => `127.0.0.1:${node.ports.grpc}`),
        ["--host", "127.0.0.1", ...(options.schedulerArgs ?? [])],
      ),
    );
    return {
      mocks,
      nodes,
      scheduler,
      schedulerAddress: `127.0.0.1:${scheduler.ports.grpc}`,
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
