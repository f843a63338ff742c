import { describe, expect, it } from "vitest";
import { sumMetric } from "./live-point";

const TEXT = [
  "# HELP symphony_node_offloads_total KV offloads",
  "# TYPE symphony_node_offloads_total counter",
  "symphony_node_offloads_total 3",
  'symphony_node_sessions{tier="gpu"} 2',
  'symphony_node_sessions{tier="cpu"} 5',
  "symphony_node_offloads_total_extra 100",
].join("\n");

describe("sumMetric", () => {
  it.each([
    ["symphony_node_offloads_total", 3],
    ["symphony_node_sessions", 7],
    ["symphony_node_missing", 0],
  ])("%s -> %d (all label sets summed, longer names and comments ignored)", (name, want) => {
    expect(sumMetric(TEXT, name)).toBe(want);
  });
});
