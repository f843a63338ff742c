import { CommanderError } from "commander";
import { UsageError } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./config";

describe("parseConfig", () => {
  it("no flags -> documented defaults", () => {
    expect(parseConfig([])).toMatchObject({
      host: "127.0.0.1",
      port: 50051,
      nodes: [],
      policy: "session-affinity",
      heartbeatTimeoutMs: 3000,
    });
  });

  it("--nodes list and --policy -> parsed", () => {
    const c = parseConfig(["--nodes", "a:1, b:2", "--policy", "kv-aware", "--port", "0"]);
    expect(c).toMatchObject({ nodes: ["a:1", "b:2"], policy: "kv-aware", port: 0 });
  });

  it.each([
    [["--policy", "random"]],
    [["--nodes", "nohost"]],
    [["--port", "70000"]],
    [["--overload-kv-fraction", "2"]],
  ])("bad flag %j -> commander error (exit 2 via runCli)", (argv) => {
    expect(() => parseConfig(argv)).toThrow(CommanderError);
  });

  it.each([
    [
      ["--heartbeat-interval-ms", "5000", "--heartbeat-timeout-ms", "1000"],
      /--heartbeat-timeout-ms \(1000\) must exceed/,
    ],
    [["--target-kv-fraction", "0.95"], /--target-kv-fraction \(0.95\) must be below --overload-kv-fraction/],
  ])("inconsistent flags %j -> UsageError naming both", (argv, message) => {
    expect(() => parseConfig(argv)).toThrow(UsageError);
    expect(() => parseConfig(argv)).toThrow(message);
  });
});
