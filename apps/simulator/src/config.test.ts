import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "@symphony/common";
import { afterAll, describe, expect, it } from "vitest";
import { applySweepValue, parseConfig, parseSweep } from "./config";

const dir = mkdtempSync(join(tmpdir(), "sim-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const usageMessage = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error("expected a UsageError");
};

describe("parseConfig", () => {
  it("no flags -> 2 nodes, session-affinity, the default profile and workloadgen's closed loop", () => {
    const c = parseConfig([]);
    expect(c.cluster.nodes).toBe(2);
    expect(c.cluster.routing.policy).toBe("session-affinity");
    expect(c.engineInfo.profile).toBe("llama3-8b-h100");
    expect(c.workload.workload).toBe("closed");
    expect(c.sweep).toEqual([]);
  });

  it("cluster file values, then flags -> flags win", () => {
    const path = file("c.yaml", "nodes: 4\npolicy: round-robin\nnode: { kv_budget_tokens: 5000 }\nseed: 3\n");
    const fromFile = parseConfig(["--config", path]);
    expect(fromFile.cluster.nodes).toBe(4);
    expect(fromFile.cluster.routing.policy).toBe("round-robin");
    expect(fromFile.cluster.node.gpuBudgetTokens).toBe(5000);
    expect(fromFile.workload.seed).toBe(3);
    const overridden = parseConfig([
      "--config",
      path,
      "--nodes",
      "8",
      "--policy",
      "kv-aware",
      "--kv-budget-tokens",
      "9000",
      "--seed",
      "5",
    ]);
    expect(overridden.cluster.nodes).toBe(8);
    expect(overridden.cluster.routing.policy).toBe("kv-aware");
    expect(overridden.cluster.node.gpuBudgetTokens).toBe(9000);
    expect(overridden.workload.seed).toBe(5);
  });

  it("a plain workloadgen workload file -> accepted, its workload section used", () => {
    const path = file("w.yaml", "workload:\n  type: closed\n  num_clients: 3\n  max_requests: 7\n");
    const c = parseConfig(["--config", path]);
    expect(c.workload.numClients).toBe(3);
    expect(c.workload.maxRequests).toBe(7);
  });

  it("the design's layout: client_profiles nested under workload: -> the open-loop profiles", () => {
    const path = file(
      "design.yaml",
      [
        "nodes: 2",
        "workload:",
        "  total_duration: 30",
        "  client_profiles:",
        "    - profile_name: chat",
        "      weight: 1",
        "      inter_arrival_time_dist_config: { type: Poisson, rate: 5 }",
        "      prompt_tokens_dist_config: { type: LogNormal, mean: 128, sigma: 64, is_int: true }",
        "      max_output_tokens_dist_config: { type: Constant, value: 16 }",
        "",
      ].join("\n"),
    );
    const c = parseConfig(["--config", path]);
    expect(c.workload.workload).toBe("open");
    expect(c.workload.clientProfiles.map((p) => p.profile_name)).toEqual(["chat"]);
  });

  it.each([
    ["an unknown top-level key", "nodez: 3\n", /c-bad\.yaml: \(root\): Unrecognized key.*nodez/],
    ["a bad node value", "node: { kv_budget_tokens: -1 }\n", /c-bad\.yaml: node\.kv_budget_tokens: /],
    ["an unknown policy", "policy: fastest\n", /c-bad\.yaml: policy: /],
    [
      "a bad workload key",
      "workload: { num_clientz: 3 }\n",
      /c-bad\.yaml: workload: Unrecognized key.*num_clientz/,
    ],
    [
      "a bad link",
      "network: { node_engine: { latency_us: -5 } }\n",
      /c-bad\.yaml: network\.node_engine\.latency_us: /,
    ],
  ])("cluster file with %s -> UsageError naming file and key", (_what, text, message) => {
    const path = file("c-bad.yaml", text);
    expect(usageMessage(() => parseConfig(["--config", path]))).toMatch(message);
  });

  it("missing config file -> UsageError naming the file", () => {
    expect(usageMessage(() => parseConfig(["--config", join(dir, "nope.yaml")]))).toMatch(
      /nope\.yaml: cannot read config: no such file/,
    );
  });

  it("target_kv_fraction above overload_kv_fraction -> UsageError naming both keys", () => {
    const path = file("c-kv.yaml", "scheduler: { target_kv_fraction: 0.95, overload_kv_fraction: 0.9 }\n");
    expect(usageMessage(() => parseConfig(["--config", path]))).toMatch(
      /scheduler\.target_kv_fraction.*overload_kv_fraction/,
    );
  });
});

describe("parseSweep / applySweepValue", () => {
  it("two axes, space- or flag-separated -> both parsed in order", () => {
    expect(parseSweep(["policy=session-affinity,round-robin nodes=2,4"])).toEqual([
      { key: "policy", values: ["session-affinity", "round-robin"] },
      { key: "nodes", values: ["2", "4"] },
    ]);
    expect(parseSweep(["kv-budget-tokens=1000", "seed=1,2"]).map((a) => a.key)).toEqual([
      "kv_budget_tokens",
      "seed",
    ]);
  });

  it.each([
    ["nodes", "policy=a nodes", /expected key=v1,v2/],
    ["unknown key", "colour=red", /unknown key "colour"; valid keys: nodes, policy/],
    ["repeated key", "nodes=1 nodes=2", /key "nodes" given twice/],
  ])("sweep with %s -> UsageError", (_what, spec, message) => {
    expect(usageMessage(() => parseSweep([spec]))).toMatch(message);
  });

  it.each([
    ["nodes", "0", /--sweep nodes: expected an integer in \[1, 4096\]/],
    ["policy", "fastest", /--sweep policy: expected one of session-affinity/],
    ["duration", "-1", /--sweep duration: expected a number >= 0/],
  ] as const)("value %s=%s -> UsageError naming the axis", (key, value, message) => {
    expect(usageMessage(() => applySweepValue({}, key, value))).toMatch(message);
  });
});
