import { loggedKvEventsEndpoints, type RunningService, startNode, startMockVllm } from "@symphony/testkit";

/** Sum of a metric's samples whose labels include every `labels` pair. */
export async function scrape(
  port: number,
): Promise<(name: string, labels?: Record<string, string>) => number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const lines = text.split("\n").filter((l) => l && !l.startsWith("#"));
  return (name, labels = {}) => {
    let sum = 0;
    for (const line of lines) {
      const m = /^([^{\s]+)(\{[^}]*\})?\s+(\S+)/.exec(line);
      if (!m || m[1] !== name) continue;
      const set = m[2] ?? "";
      if (Object.entries(labels).every(([k, v]) => set.includes(`${k}="${v}"`))) sum += Number(m[3]);
    }
    return sum;
  };
}

/** A mock-vllm with vLLM's KV events on (publisher bound on loopback) and a node-scheduler reading them. */
export interface StockStack {
  mock: RunningService;
  node: RunningService;
  stop(): Promise<void>;
}

export async function startStockStack(mockArgs: string[], nodeArgs: string[]): Promise<StockStack> {
  // The engine binds its publisher on an ephemeral loopback port ("*" in the port makes vLLM
  // bind), and the node connects to it, as a node beside a vLLM started with tcp://*:5557 does.
  const mock = await startMockVllm(
    [
      ...mockArgs,
      "--kv-events-config",
      JSON.stringify({
        enable_kv_cache_events: true,
        publisher: "zmq",
        endpoint: "tcp://127.0.0.1:*",
        replay_endpoint: "tcp://127.0.0.1:*",
        topic: "kv@mock",
      }),
    ],
    { timeoutMs: 60_000 },
  );
  const { endpoint, replayEndpoint } = loggedKvEventsEndpoints(mock);
  const node = await startNode(mock.url, [
    "--kv-events-endpoint",
    endpoint,
    "--kv-events-replay-endpoint",
    replayEndpoint,
    "--kv-events-topic",
    "kv@",
    ...nodeArgs,
  ]);
  return {
    mock,
    node,
    stop: async () => {
      await node.stop();
      await mock.stop();
    },
  };
}
