import * as grpc from "@grpc/grpc-js";
import {
  SchedulerServiceService,
  type HeartbeatRequest,
  type RegisterNodeRequest,
  type SchedulerServiceServer,
} from "@symphony/runtime";
import { type RunningService, startNode } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeEngine } from "../fake-engine";

/** A stand-in global scheduler that records registrations and heartbeats. */
class FakeScheduler {
  readonly registrations: RegisterNodeRequest[] = [];
  readonly heartbeats: HeartbeatRequest[] = [];
  /** Answer heartbeats with known=false (as after a scheduler restart). */
  forget = false;
  private server?: grpc.Server;
  port = 0;

  async start(port = 0): Promise<this> {
    const handlers: Partial<SchedulerServiceServer> = {
      registerNode: (call, cb) => {
        this.registrations.push(call.request);
        this.forget = false;
        cb(null, { heartbeatIntervalMs: 100 });
      },
      heartbeat: (call, cb) => {
        this.heartbeats.push(call.request);
        cb(null, { known: !this.forget });
      },
    };
    this.server = new grpc.Server();
    this.server.addService(SchedulerServiceService, handlers as SchedulerServiceServer);
    this.port = await new Promise<number>((resolve, reject) =>
      this.server!.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    return this;
  }

  stop(): void {
    this.server?.forceShutdown();
  }
}

async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end && !check()) await new Promise((r) => setTimeout(r, 50));
  return check();
}

describe("node-scheduler registration with the global scheduler", () => {
  let engine: FakeEngine;
  let scheduler: FakeScheduler;
  let node: RunningService;
  let schedulerPort: number;

  beforeAll(async () => {
    engine = await new FakeEngine().start();
    // Reserve a port for the scheduler, but start it only after the node: the node must keep retrying.
    const probe = await new FakeScheduler().start();
    schedulerPort = probe.port;
    probe.stop();
    node = await startNode(
      engine.url,
      [
        "--node-id",
        "reg-node",
        "--scheduler",
        `127.0.0.1:${schedulerPort}`,
        "--advertise-address",
        "10.0.0.7:5555",
        "--register-retry-ms",
        "100",
      ],
      { name: "node-registering" },
    );
  });
  afterAll(async () => {
    await node?.stop();
    scheduler?.stop();
    await engine?.stop();
  });

  it("scheduler down at start -> node keeps running and logs, then registers once it is up", async () => {
    expect(
      await eventually(() => node.logs.some((l) => l.message === "scheduler unreachable, will retry")),
    ).toBe(true);
    expect(node.child.exitCode).toBeNull();
    scheduler = await new FakeScheduler().start(schedulerPort);
    expect(await eventually(() => scheduler.registrations.length > 0)).toBe(true);
    expect(scheduler.registrations[0]).toEqual({ nodeId: "reg-node", address: "10.0.0.7:5555" });
  });

  it("registered -> heartbeats at the scheduler's interval carry NodeStatus", async () => {
    expect(await eventually(() => scheduler.heartbeats.length >= 3)).toBe(true);
    const hb = scheduler.heartbeats.at(-1)!;
    expect(hb.nodeId).toBe("reg-node");
    expect(hb.status?.nodeId).toBe("reg-node");
    expect(hb.status?.kvTiers.map((t) => t.name)).toEqual(["gpu", "cpu"]);
  });

  it("heartbeat answered known=false -> node registers again", async () => {
    const before = scheduler.registrations.length;
    scheduler.forget = true;
    expect(await eventually(() => scheduler.registrations.length > before)).toBe(true);
  });
});
