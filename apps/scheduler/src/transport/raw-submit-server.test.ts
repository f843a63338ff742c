import * as grpc from "@grpc/grpc-js";
import {
  createLogger,
  grpcClientOptions,
  SchedulerServiceClient,
  startGrpcServer,
  InferenceEvent,
  type SchedulerServiceServer,
  type StartedGrpcServer,
} from "@symphony/runtime";
import { afterEach, describe, expect, it } from "vitest";
import { schedulerClient, turn } from "../../test/client";
import { schedulerServiceDefinition } from "./raw-relay-codec";
import { deadlineFromHeader, serveSubmitOnHttp2, type SubmitCall } from "./raw-submit-server";

const started: StartedGrpcServer[] = [];
const clients: grpc.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of started.splice(0)) await s.stop(100);
});

const unused = () => {
  throw new Error("not used in this test");
};

/**
 * A server whose Submit is `handler`, served on bare streams; `viaGrpcJs` records the Submits
 * grpc-js's own handler got instead.
 */
async function serve(handler: (call: SubmitCall) => void, maxReceiveMessageBytes = 1 << 20) {
  const viaGrpcJs: string[] = [];
  const service: SchedulerServiceServer = {
    submit: (call) => {
      viaGrpcJs.push(call.request.sessionId);
      call.write(started1("grpc-js"));
      call.end();
    },
    advise: unused,
    closeSession: unused,
    registerNode: unused,
    heartbeat: unused,
    clusterStatus: (_call, callback) => callback(null, { nodes: [], policy: "via grpc-js" }),
  };
  const server = await startGrpcServer(
    "127.0.0.1",
    0,
    (s) => s.addService(schedulerServiceDefinition, service),
    { maxReceiveMessageBytes },
  );
  started.push(server);
  const installed = serveSubmitOnHttp2(server.server, handler, maxReceiveMessageBytes, createLogger("test"));
  return { port: server.port, installed, viaGrpcJs };
}

interface Outcome {
  events: InferenceEvent[];
  status: grpc.StatusObject | undefined;
}

function submit(
  client: ReturnType<typeof schedulerClient>,
  sessionId: string,
  opts: { deadlineMs?: number; metadata?: grpc.Metadata; promptChars?: number } = {},
): { done: Promise<Outcome>; call: grpc.ClientReadableStream<InferenceEvent> } {
  const req = turn(
    sessionId,
    0,
    opts.promptChars ? { prompt: "x".repeat(opts.promptChars), messages: [] } : {},
  );
  const call = client.submit(
    req,
    opts.metadata ?? new grpc.Metadata(),
    opts.deadlineMs === undefined ? {} : { deadline: Date.now() + opts.deadlineMs },
  );
  const events: InferenceEvent[] = [];
  const done = new Promise<Outcome>((resolve) => {
    call.on("data", (ev: InferenceEvent) => events.push(ev));
    call.on("error", () => {});
    call.on("status", (status: grpc.StatusObject) => resolve({ events, status }));
  });
  return { done, call };
}

const started1 = (nodeId: string): InferenceEvent =>
  InferenceEvent.fromPartial({ event: { $case: "started", value: { nodeId } } });

describe("serveSubmitOnHttp2", () => {
  it("Submit served on the bare stream: events as bytes or objects, then OK; other methods stay on grpc-js", async () => {
    const seen: string[] = [];
    const { port, installed, viaGrpcJs } = await serve((call) => {
      seen.push(call.request.sessionId);
      expect(call.getDeadline()).toBe(Infinity);
      call.write(started1("raw"));
      call.write(Buffer.from([(2 << 3) | 2, 0])); // an empty Token, as a node's bytes
      call.end();
    });
    expect(installed).toBe(true);
    const client = schedulerClient(port);
    clients.push(client);
    const { events, status } = await submit(client, "s1").done;
    expect(status?.code).toBe(grpc.status.OK);
    expect(events.map((e) => e.event?.$case)).toEqual(["started", "token"]);
    expect(events[0]!.event?.$case === "started" && events[0]!.event.value.nodeId).toBe("raw");
    expect(seen).toEqual(["s1"]);
    expect(viaGrpcJs).toEqual([]);
    const cluster = await new Promise((resolve, reject) =>
      client.clusterStatus({}, (err, res) => (err ? reject(err) : resolve(res?.policy))),
    );
    expect(cluster).toBe("via grpc-js");
  });

  it("a compressed Submit -> left to grpc-js (which decompresses)", async () => {
    const { port, viaGrpcJs } = await serve(() => {
      throw new Error("the bare path must not take a compressed request");
    });
    const compressed = new SchedulerServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      ...grpcClientOptions,
      "grpc.default_compression_algorithm": 2, // gzip
    });
    clients.push(compressed);
    const { events, status } = await submit(compressed, "zipped", { promptChars: 5000 }).done;
    expect(status?.code).toBe(grpc.status.OK);
    expect(viaGrpcJs).toEqual(["zipped"]);
    expect(events).toHaveLength(1);
  });

  it("error before any event -> trailers-only status with the details percent-decoded by the client", async () => {
    const { port } = await serve((call) =>
      call.emit("error", {
        code: grpc.status.INVALID_ARGUMENT,
        details: "max_output_tokens: must be > 0 (100% sure)",
      }),
    );
    const client = schedulerClient(port);
    clients.push(client);
    const { events, status } = await submit(client, "bad").done;
    expect(events).toEqual([]);
    expect(status?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(status?.details).toBe("max_output_tokens: must be > 0 (100% sure)");
  });

  it("error after events -> the events, then the status in trailers", async () => {
    const { port } = await serve((call) => {
      call.write(started1("n"));
      call.emit("error", { code: grpc.status.INTERNAL, details: "late" });
      expect(call.writableEnded).toBe(true);
    });
    const client = schedulerClient(port);
    clients.push(client);
    const { events, status } = await submit(client, "late").done;
    expect(events).toHaveLength(1);
    expect(status?.code).toBe(grpc.status.INTERNAL);
    expect(status?.details).toBe("late");
  });

  it("client deadline -> getDeadline() returns it; when it passes, DEADLINE_EXCEEDED and 'cancelled'", async () => {
    let cancelled: () => void;
    const sawCancel = new Promise<void>((r) => (cancelled = r));
    let deadline: grpc.Deadline = 0;
    const { port } = await serve((call) => {
      deadline = call.getDeadline();
      call.write(started1("n"));
      call.on("cancelled", () => {
        expect(call.cancelled).toBe(true);
        cancelled();
      });
    });
    const client = schedulerClient(port);
    clients.push(client);
    const t0 = Date.now();
    const { status } = await submit(client, "slow", { deadlineMs: 300 }).done;
    expect(status?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    await sawCancel;
    expect(Number(deadline)).toBeGreaterThan(t0 + 100);
    expect(Number(deadline)).toBeLessThan(t0 + 1000);
  });

  it("client cancels -> 'cancelled' once, call.cancelled, and writes are refused", async () => {
    let onCancel: (call: SubmitCall) => void;
    const cancelledCall = new Promise<SubmitCall>((r) => (onCancel = r));
    const { port } = await serve((call) => {
      call.write(started1("n"));
      call.on("cancelled", () => onCancel(call));
    });
    const client = schedulerClient(port);
    clients.push(client);
    const { call, done } = submit(client, "gone");
    call.once("data", () => call.cancel());
    expect((await done).status?.code).toBe(grpc.status.CANCELLED);
    const c = await cancelledCall;
    expect(c.cancelled).toBe(true);
    expect(c.write(started1("n"))).toBe(false);
  });

  it("request over the receive limit -> RESOURCE_EXHAUSTED before the handler", async () => {
    let handled = 0;
    const { port } = await serve(() => handled++, 1000);
    const client = schedulerClient(port);
    clients.push(client);
    const { status } = await submit(client, "big", { promptChars: 5000 }).done;
    expect(status?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status?.details).toMatch(/^Received message larger than max \(\d+ vs\. 1000\)$/);
    expect(handled).toBe(0);
  });

  it("request split over many DATA frames -> decoded whole", async () => {
    let prompt = "";
    const { port } = await serve((call) => {
      prompt = call.request.prompt;
      call.end();
    });
    const client = schedulerClient(port);
    clients.push(client);
    const { status } = await submit(client, "long", { promptChars: 200_000 }).done;
    expect(status?.code).toBe(grpc.status.OK);
    expect(prompt).toBe("x".repeat(200_000));
  });

  it("metadata: the client's headers, without gRPC's transport headers", async () => {
    let md: Record<string, unknown> = {};
    const { port } = await serve((call) => {
      md = call.metadata.getMap();
      call.end();
    });
    const client = schedulerClient(port);
    clients.push(client);
    const metadata = new grpc.Metadata();
    metadata.set("authorization", "Bearer abc");
    await submit(client, "md", { metadata, deadlineMs: 5000 }).done;
    expect(md.authorization).toBe("Bearer abc");
    expect(md["grpc-timeout"]).toBeUndefined();
    expect(md["content-type"]).toBeUndefined();
  });
});

describe("deadlineFromHeader", () => {
  it.each([
    [undefined, Infinity],
    ["100m", 1100],
    ["2S", 3000],
    ["1M", 61_000],
    ["1H", 3_601_000],
    ["5000u", 1005],
    ["7000000n", 1007],
  ])("%s -> %s", (header, expected) => {
    expect(deadlineFromHeader(header, 1000)).toBe(expected);
  });

  it("malformed -> undefined", () => {
    expect(deadlineFromHeader("soon", 1000)).toBeUndefined();
  });
});
