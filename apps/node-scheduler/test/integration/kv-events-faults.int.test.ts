import { createServer as createHttpServer, request as httpRequest, type Server } from "node:http";
import { createConnection, createServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { loggedKvEventsEndpoints, type RunningService, startNode, startMockVllm } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeClient, status } from "../grpc-client";
import { runRoundRobin } from "../round-robin";
import { scrape } from "../stock-stack";

/** mock-vllm with a small GPU cache and a CPU tier; `kvEvents` is its --kv-events-config. */
function startMock(kvEvents: Record<string, unknown>): Promise<RunningService> {
  return startMockVllm(
    [
      "--num-gpu-blocks",
      "80",
      "--max-model-len",
      "1280",
      "--kv-offloading-size",
      "1",
      "--enable-prompt-tokens-details",
      "--eos-mean-tokens",
      "0",
      "--kv-events-config",
      JSON.stringify({ enable_kv_cache_events: true, publisher: "zmq", topic: "kv", ...kvEvents }),
    ],
    { timeoutMs: 60_000 },
  );
}

async function turns(node: RunningService, prefix: string, sessions = 3, turnCount = 2): Promise<void> {
  const client = nodeClient(node.ports.grpc!);
  try {
    const r = await runRoundRobin({
      client,
      prefix,
      sessions,
      turns: turnCount,
      hints: false,
      maxOutputTokens: 16,
      padWords: 40,
    });
    expect(r.errors).toEqual([]);
  } finally {
    client.close();
  }
}

/** The node's reported residency equals the engine's true cache state (waits out event delivery). */
async function expectNodeMatchesEngine(node: RunningService, mock: RunningService): Promise<void> {
  let last = "";
  for (let i = 0; i < 50; i++) {
    const client = nodeClient(node.ports.grpc!);
    const s = await status(client).finally(() => client.close());
    const engine = await scrape(mock.ports.http!);
    const got = s.kvTiers.map((t) => `${t.name}=${t.usedTokens}`).join(" ");
    const want = `gpu=${engine("symphony_mock_kv_cached_blocks", { medium: "GPU" }) * 16} cpu=${engine("symphony_mock_kv_cached_blocks", { medium: "CPU" }) * 16}`;
    if (got === want) return;
    last = `node ${got}, engine ${want}`;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`node residency never matched the engine: ${last}`);
}

/** A TCP relay on a loopback port 0 that can drop its connections and refuse new ones for a while. */
class Relay {
  private readonly server = createServer((client) => this.accept(client));
  private readonly sockets = new Set<Socket>();
  private down = false;
  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return (this.server.address() as AddressInfo).port;
  }

  /** Cuts every connection; new ones are cut at once until `restore`. */
  cut(): void {
    this.down = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  restore(): void {
    this.down = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }

  private accept(client: Socket): void {
    if (this.down) return void client.destroy();
    const upstream = createConnection(this.target);
    for (const s of [client, upstream]) {
      this.sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(s);
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }
}

/** An HTTP reverse proxy on loopback port 0 whose upstream can be switched (an engine restarted elsewhere). */
class SwitchableProxy {
  upstreamPort = 0;
  private readonly server: Server = createHttpServer((req, res) => {
    const up = httpRequest(
      { host: "127.0.0.1", port: this.upstreamPort, path: req.url, method: req.method, headers: req.headers },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      },
    );
    up.on("error", () => {
      if (!res.headersSent) res.writeHead(503).end();
      else res.destroy();
    });
    req.pipe(up);
  });

  async start(): Promise<number> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

describe("node-scheduler KV events: lost batches are replayed", () => {
  let mock: RunningService;
  let node: RunningService;
  let relay: Relay;

  beforeAll(async () => {
    mock = await startMock({ endpoint: "tcp://127.0.0.1:*", replay_endpoint: "tcp://127.0.0.1:*" });
    const { endpoint, replayEndpoint } = loggedKvEventsEndpoints(mock);
    // Events reach the node through a relay the test can cut; replay requests go straight to the engine.
    relay = new Relay({ host: "127.0.0.1", port: Number(endpoint.split(":").at(-1)) });
    const relayPort = await relay.start();
    node = await startNode(`http://127.0.0.1:${mock.ports.http}/v1`, [
      "--kv-events-endpoint",
      `tcp://127.0.0.1:${relayPort}`,
      "--kv-events-replay-endpoint",
      replayEndpoint,
    ]);
  }, 90_000);

  afterAll(async () => {
    await node?.stop();
    await relay?.stop();
    await mock?.stop();
  });

  it("events published while the subscriber was cut off -> fetched by replay after the next batch, state exact", async () => {
    await turns(node, "before");
    await expectNodeMatchesEngine(node, mock);
    relay.cut();
    await turns(node, "while-cut"); // these turns' events are published to nobody
    relay.restore();
    // ZMQ reconnects by itself; the next batch shows the gap and the node asks the replay socket.
    await new Promise((r) => setTimeout(r, 500));
    await turns(node, "after", 1, 1);
    await expectNodeMatchesEngine(node, mock);
    const m = await scrape(node.ports.metrics!);
    expect(m("symphony_node_kv_events_total", { kind: "gaps" })).toBeGreaterThanOrEqual(1);
    expect(m("symphony_node_kv_events_total", { kind: "replayed" })).toBeGreaterThan(0);
    expect(m("symphony_node_kv_events_total", { kind: "resets" })).toBe(0);
  }, 60_000);
});

describe("node-scheduler KV events: the engine restarts (its publisher connects to the node)", () => {
  let proxy: SwitchableProxy;
  let node: RunningService;
  let first: RunningService | undefined;
  let second: RunningService | undefined;
  let nodeEndpoint: string;

  beforeAll(async () => {
    // The engine's publisher connects (vLLM with an endpoint without "*"), so the node binds its
    // subscriber, and the node must exist first: the engine's HTTP address it learns through a proxy.
    proxy = new SwitchableProxy();
    const proxyPort = await proxy.start();
    node = await startNode(
      `http://127.0.0.1:${proxyPort}/v1`,
      ["--kv-events-endpoint", "tcp://127.0.0.1:*", "--kv-events-bind"],
      { alsoWaitFor: ["kv-events"] },
    );
    nodeEndpoint = `tcp://127.0.0.1:${node.ports["kv-events"]}`;
    first = await startMock({ endpoint: nodeEndpoint });
    proxy.upstreamPort = first.ports.http!;
  }, 90_000);

  afterAll(async () => {
    await node?.stop();
    await first?.stop();
    await second?.stop();
    await proxy?.stop();
  });

  it("engine killed and started again -> the node drops the old state, later turns succeed, state exact", async () => {
    await turns(node, "first-life");
    await expectNodeMatchesEngine(node, first!);
    await first!.kill();
    second = await startMock({ endpoint: nodeEndpoint });
    proxy.upstreamPort = second.ports.http!;
    await turns(node, "second-life");
    await expectNodeMatchesEngine(node, second);
    const m = await scrape(node.ports.metrics!);
    expect(m("symphony_node_kv_events_total", { kind: "resets" })).toBeGreaterThanOrEqual(1);
  }, 90_000);
});
