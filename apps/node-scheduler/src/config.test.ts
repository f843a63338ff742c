import { describe, expect, it } from "vitest";
import { parseConfig } from "./config";

/** Commander prints its own error line; silence it in tests. */
function parse(argv: string[]) {
  const write = process.stderr.write;
  process.stderr.write = () => true;
  try {
    return parseConfig(argv);
  } finally {
    process.stderr.write = write;
  }
}

describe("parseConfig", () => {
  it("no flags -> documented defaults", () => {
    expect(parse([])).toMatchObject({
      host: "127.0.0.1",
      port: 50061,
      engineUrl: "http://127.0.0.1:8000/v1",
      model: "",
      forwardExpectedResponse: true,
      kvBudgetTokens: 262144,
      kvBytesPerToken: 131072,
      residencyPolicy: "hint-aware",
      gpuFreeTarget: 0,
      nodeId: undefined,
      scheduler: undefined,
    });
  });

  it("budget from the engine -> only on a stock engine without a budget flag", () => {
    expect(parse([]).kvBudgetFromEngine).toBe(true);
    expect(parse(["--kv-budget-tokens", "1000"]).kvBudgetFromEngine).toBe(false);
    expect(parse(["--kv-budget-bytes", "1e9"]).kvBudgetFromEngine).toBe(false);
    expect(parse(["--prefetch-mode", "directive"]).kvBudgetFromEngine).toBe(false);
  });

  it("--kv-budget-bytes -> budget in tokens = bytes / bytes-per-token", () => {
    expect(parse(["--kv-budget-bytes", String(8 * 2 ** 30)]).kvBudgetTokens).toBe(65536);
  });

  it("stock-engine flags -> warmup mode by default, events only when an endpoint is given", () => {
    expect(parse([])).toMatchObject({
      prefetchMode: "warmup",
      warmupTiming: "at-hint",
      warmupLeadMs: 500,
      kvEvents: undefined,
    });
    expect(
      parse([
        "--kv-events-endpoint",
        "tcp://127.0.0.1:5557",
        "--kv-events-bind",
        "--kv-events-replay-endpoint",
        "tcp://127.0.0.1:5558",
        "--kv-events-topic",
        "kv@pod",
        "--warmup-timing",
        "just-in-time",
      ]),
    ).toMatchObject({
      warmupTiming: "just-in-time",
      kvEvents: {
        endpoint: "tcp://127.0.0.1:5557",
        bind: true,
        replayEndpoint: "tcp://127.0.0.1:5558",
        topic: "kv@pod",
      },
    });
  });

  it.each([
    [["--prefetch-mode", "prefetch"], /--prefetch-mode/],
    [["--kv-events-endpoint", "localhost:5557"], /--kv-events-endpoint: expected a ZMQ URL/],
    [["--kv-events-replay-endpoint", "tcp://127.0.0.1:5558"], /need --kv-events-endpoint/],
    [["--kv-events-endpoint", "tcp://127.0.0.1:5557", "--prefetch-mode", "directive"], /warmup or off/],
  ])("bad stock-engine flags %j -> one clear error", (argv, message) => {
    expect(() => parse(argv)).toThrow(message);
  });

  it("--no-forward-expected-response -> off", () => {
    expect(parse(["--no-forward-expected-response"]).forwardExpectedResponse).toBe(false);
  });

  it.each([
    [["--port", "70000"], /port/],
    [["--residency-policy", "fifo"], /residency-policy/],
    [["--kv-budget-tokens", "10", "--kv-budget-bytes", "100"], /cannot be used with/],
    [["--kv-budget-bytes", "10"], /less than one token/],
    [["--engine-url", "not a url"], /--engine-url/],
    [["--engine-url", "ftp://x/v1"], /--engine-url/],
    [["--scheduler", "nohost"], /--scheduler/],
    [["--node-id", " "], /--node-id/],
    [["--offload-gbps", "0"], /offload-gbps/],
    [["--gpu-free-target", "0.95"], /gpu-free-target/],
  ])("bad flags %j -> error naming the flag", (argv, pattern) => {
    expect(() => parse(argv)).toThrow(pattern);
  });
});
