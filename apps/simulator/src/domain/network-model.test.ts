import { describe, expect, it } from "vitest";
import { EVENT_BYTES, NetworkModel, type NetworkConfig } from "./network-model";

const link = (latencyUs: number, bandwidthBytesPerSec: number) => ({ latencyUs, bandwidthBytesPerSec });
const config: NetworkConfig = {
  clientScheduler: link(100, 1e9),
  schedulerNode: link(50, 1e8),
  nodeEngine: link(10, 1e6),
};

describe("NetworkModel", () => {
  it.each([
    ["clientScheduler", 0, 100],
    ["clientScheduler", 1_000_000, 100 + 1000],
    ["schedulerNode", 1_000, 50 + 10],
    ["nodeEngine", 500, 10 + 500],
  ] as const)("delayUs(%s, %i bytes) -> latency + bytes / bandwidth = %i µs", (name, bytes, expected) => {
    expect(new NetworkModel(config).delayUs(name, bytes)).toBe(expected);
  });

  it("event delays, engine to client -> the sum of the three links' delays for one event", () => {
    const net = new NetworkModel(config);
    const sum =
      net.delayUs("nodeEngine", EVENT_BYTES) +
      net.delayUs("schedulerNode", EVENT_BYTES) +
      net.delayUs("clientScheduler", EVENT_BYTES);
    expect(net.eventEngineToClientUs).toBe(sum);
    expect(net.eventNodeToClientUs).toBe(sum - net.delayUs("nodeEngine", EVENT_BYTES));
  });

  it.each([
    ["negative latency", { ...config, schedulerNode: link(-1, 1e9) }, /schedulerNode: latencyUs/],
    ["zero bandwidth", { ...config, nodeEngine: link(1, 0) }, /nodeEngine: bandwidthBytesPerSec/],
  ])("config with %s -> RangeError naming the link", (_what, bad, message) => {
    expect(() => new NetworkModel(bad)).toThrow(message);
  });
});
