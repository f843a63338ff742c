import { silentLogger } from "@symphony/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chatTurn, nodeClient, status, submit, terminal } from "../test/grpc-client";
import { startNodeScheduler, type RunningNodeScheduler } from "./app";
import { parseConfig } from "./config";
import {
  EngineError,
  type EngineAdapter,
  type EngineRequest,
  type EngineResult,
  type EngineSink,
} from "./engine/engine-adapter";

/** An engine in memory: streams the expected response word by word, or fails as told. */
class FakeEngineAdapter implements EngineAdapter {
  readonly requests: EngineRequest[] = [];
  /** The next generate calls fail with these errors (one each). */
  failNext: EngineError[] = [];
  /** Each generate waits for this before finishing (to hold a turn open). */
  gate: Promise<void> = Promise.resolve();

  async generate(req: EngineRequest, sink: EngineSink, signal: AbortSignal): Promise<EngineResult> {
    this.requests.push(req);
    const failure = this.failNext.shift();
    if (failure) throw failure;
    const words = (req.expectedResponse ?? "ok").split(" ");
    words.forEach((w, i) => sink.onToken(i === 0 ? w : ` ${w}`, 1));
    await this.gate;
    signal.throwIfAborted();
    return {
      usage: { promptTokens: 7, completionTokens: words.length, cachedTokens: 0 },
      finishReason: "stop",
      ttftUs: 1000,
      e2eUs: 2000,
      tokenEvents: words.length,
    };
  }
  async listModels(): Promise<string[]> {
    return ["fake"];
  }
  async readLoad(): Promise<undefined> {
    return undefined;
  }
  async close(): Promise<void> {}
}

/** The node-scheduler in process: its gRPC service and metrics port on port 0, an engine fake behind it. */
describe("node-scheduler app (in process, gRPC on port 0)", () => {
  const engine = new FakeEngineAdapter();
  let node: RunningNodeScheduler;
  let client: ReturnType<typeof nodeClient>;
  beforeAll(async () => {
    const config = parseConfig([
      ...["--port", "0", "--metrics-port", "0", "--node-id", "n-test", "--tokenizer", "cl100k"],
      ...["--engine-url", "http://127.0.0.1:9/v1", "--model", "fake", "--engine-retries", "0"],
      ...["--engine-health-interval-ms", "0", "--engine-metrics-interval-ms", "0"],
    ]);
    node = await startNodeScheduler(config, silentLogger(), { engine });
    client = nodeClient(node.grpcPort);
  });
  afterAll(async () => {
    client?.close();
    await node?.stop();
  });

  it("Submit, streamed chat turn -> started on this node, a token per engine piece, finished with the engine's usage", async () => {
    const events = await submit(client, chatTurn({ sessionId: "a", expectedResponse: "one two three" }));
    expect(events.map((e) => e.event?.$case)).toEqual(["started", "token", "token", "token", "finished"]);
    const started = events[0]!.event;
    expect(started?.$case === "started" && started.value.nodeId).toBe("n-test");
    const fin = terminal(events);
    expect(fin?.$case === "finished" && fin.value.usage).toMatchObject({
      promptTokens: 7,
      completionTokens: 3,
    });
    expect(engine.requests.at(-1)).toMatchObject({ sessionId: "a", messages: [{ role: "user" }] });
  });

  it("engine unreachable before any output -> a retryable UNAVAILABLE TurnError event, not a gRPC error", async () => {
    engine.failNext.push(new EngineError("UNAVAILABLE", "connect ECONNREFUSED", true));
    const events = await submit(client, chatTurn({ sessionId: "b" }));
    const err = terminal(events);
    expect(err?.$case === "error" && err.value).toMatchObject({ code: "UNAVAILABLE", retryable: true });
  });

  it("Status -> this node's id and its GPU tier budget", async () => {
    const s = await status(client);
    expect(s.nodeId).toBe("n-test");
    expect(s.kvTiers.find((t) => t.name === "gpu")?.budgetTokens).toBeGreaterThan(0);
  });

  it("metrics port -> Prometheus text with the node's queue gauge", async () => {
    const res = await fetch(`http://127.0.0.1:${node.metricsPort}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/^symphony_node_queue_depth(\{[^}]*\})? 0$/m);
  });

  it("stop with a turn in flight -> the turn still finishes (drained), then the port closes", async () => {
    let open!: () => void;
    engine.gate = new Promise((r) => (open = r));
    const turn = submit(client, chatTurn({ sessionId: "c", expectedResponse: "slow" }));
    while (!engine.requests.some((r) => r.sessionId === "c")) await new Promise((r) => setTimeout(r, 5));
    const stopping = node.stop();
    setTimeout(() => open(), 50);
    expect(terminal(await turn)?.$case).toBe("finished");
    await stopping;
    await expect(status(client)).rejects.toThrow();
  });
});
