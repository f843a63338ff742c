import { bundlePath, spawnService, type RunningService } from "./spawn-service";

export interface LocalStackOptions {
  /** Number of node-scheduler + mock-vllm pairs. */
  nodes?: number;
  /** mock-vllm time scale (10 = ten times faster than real time). */
  timeScale?: number;
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
 * The whole stack as processes on loopback, every port chosen by the OS: N mock engines, one
 * node-scheduler per engine, and the global scheduler with the nodes as its static list.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const n = options.nodes ?? 2;
  const timeScale = String(options.timeScale ?? 1);
  const started: RunningService[] = [];
  const track = (s: RunningService) => {
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
        spawnService(
          `mock-vllm-${i + 1}`,
          bundlePath("mock-vllm"),
          [
            ...["--host", "127.0.0.1", "--port", "0", "--time-scale", timeScale],
            // Symphony's engine: the directive KV connector (loads the resident tokens the node
            // reports) and cached_tokens in usage, both off in a stock vLLM. mockArgs may undo them.
            ...["--kv-connector", "--enable-prompt-tokens-details"],
            ...(options.mockArgs ?? []),
          ],
          ["http"],
        ).then(track),
      ),
    );
    const nodes = await Promise.all(
      mocks.map((mock, i) =>
        spawnService(
          `node-scheduler-${i + 1}`,
          bundlePath("node-scheduler"),
          [
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--metrics-port",
            "0",
            "--node-id",
            `node-${i + 1}`,
            "--engine-url",
            `http://127.0.0.1:${mock.ports.http}/v1`,
            ...(options.nodeArgs ?? []),
          ],
          ["grpc", "metrics"],
        ).then(track),
      ),
    );
    const scheduler = track(
      await spawnService(
        "scheduler",
        bundlePath("scheduler"),
        [
          "--host",
          "127.0.0.1",
          "--port",
          "0",
          "--metrics-port",
          "0",
          "--nodes",
          nodes.map((node) => `127.0.0.1:${node.ports.grpc}`).join(","),
          ...(options.schedulerArgs ?? []),
        ],
        ["grpc", "metrics"],
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
