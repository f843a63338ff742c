import { UsageError } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./config";
import { deriveNumGpuBlocks, PROFILES } from "./domain";

describe("parseConfig", () => {
  it("no flags -> vLLM-like defaults for llama3-8b-h100", () => {
    const c = parseConfig([]);
    const p = PROFILES["llama3-8b-h100"]!;
    expect(c).toMatchObject({
      host: "127.0.0.1",
      port: 8000,
      model: "meta-llama/Llama-3.1-8B-Instruct",
      servedModelNames: ["meta-llama/Llama-3.1-8B-Instruct"],
      blockSize: 16,
      enablePrefixCaching: true,
      timeScale: 1,
      seed: 0,
      maxModelLen: p.model.maxModelLen,
      maxNumSeqs: p.defaultMaxNumSeqs,
      maxNumBatchedTokens: p.defaultMaxNumBatchedTokens,
      numGpuBlocks: deriveNumGpuBlocks(p, 16, 0.9),
    });
  });

  it("flags -> override profile values and coefficients", () => {
    const c = parseConfig([
      "--profile",
      "llama2-13b-a100",
      "--no-enable-prefix-caching",
      "--num-gpu-blocks",
      "500",
      "--max-model-len",
      "2048",
      "--weight-read-us",
      "1234",
      "--served-model-name",
      "a",
      "b",
    ]);
    expect(c.profile.name).toBe("llama2-13b-a100");
    expect(c.enablePrefixCaching).toBe(false);
    expect(c.numGpuBlocks).toBe(500);
    expect(c.coefficients.weightReadUs).toBe(1234);
    expect(c.servedModelNames).toEqual(["a", "b"]);
  });

  it("max-model-len beyond the KV cache -> UsageError naming both flags", () => {
    expect(() => parseConfig(["--num-gpu-blocks", "10", "--max-model-len", "1000"])).toThrow(UsageError);
    expect(() => parseConfig(["--num-gpu-blocks", "10", "--max-model-len", "1000"])).toThrow(
      /--max-model-len.*--num-gpu-blocks/,
    );
  });

  it.each([
    ["--port", "70000"],
    ["--time-scale", "0"],
    ["--profile", "gpt-5-on-a-toaster"],
    ["--fault-error-rate", "1.5"],
    ["--block-size", "x"],
    ["--show-hidden-metrics-for-version", "latest"],
  ])("%s %s -> rejected", (flag, value) => {
    const errors: string[] = [];
    expect(() => parseConfig([flag, value], (t) => errors.push(t))).toThrow();
    expect(errors.join("")).toContain(flag);
  });

  it("--show-hidden-metrics-for-version -> the version kept; absent -> null (current metric names only)", () => {
    expect(parseConfig(["--show-hidden-metrics-for-version", "0.10"]).showHiddenMetricsForVersion).toBe(
      "0.10",
    );
    expect(parseConfig([]).showHiddenMetricsForVersion).toBeNull();
  });

  it("stock-vLLM surfaces -> off by default (no events, no offload, no cached-token details, no dev endpoints, no directive connector)", () => {
    expect(parseConfig([], () => {}, {})).toMatchObject({
      kvEvents: null,
      kvOffloadingSize: 0,
      numCpuBlocks: 0,
      enablePromptTokensDetails: false,
      serverDevMode: false,
      kvConnector: false,
      httpTimeoutKeepAliveS: 5,
    });
  });

  it("--kv-events-config, --kv-offloading-size, VLLM_SERVER_DEV_MODE=1 -> parsed as vLLM does", () => {
    const c = parseConfig(
      [
        "--kv-events-config",
        '{"enable_kv_cache_events": true, "publisher": "zmq", "endpoint": "tcp://127.0.0.1:*", "event_encoding": "array_like"}',
        "--kv-offloading-size",
        "1.5",
        "--enable-prompt-tokens-details",
      ],
      () => {},
      { VLLM_SERVER_DEV_MODE: "1" },
    );
    expect(c.kvEvents).toMatchObject({
      endpoint: "tcp://127.0.0.1:*",
      eventEncoding: "array_like",
      topic: "",
    });
    // 1.5 GiB of 2 MiB blocks (16 tokens x 128 KiB for Llama 3 8B).
    expect(c.numCpuBlocks).toBe(768);
    expect(c).toMatchObject({
      kvOffloadingBackend: "native",
      enablePromptTokensDetails: true,
      serverDevMode: true,
    });
    // enable_kv_cache_events false or publisher "null" -> no events (vLLM's NullEventPublisher).
    expect(parseConfig(["--kv-events-config", '{"publisher": "zmq"}']).kvEvents).toBeNull();
    expect(
      parseConfig(["--kv-events-config", '{"enable_kv_cache_events": true, "publisher": "null"}']).kvEvents,
    ).toBeNull();
    expect(parseConfig([], () => {}, { VLLM_SERVER_DEV_MODE: "0" }).serverDevMode).toBe(false);
    expect(parseConfig([], () => {}, { VLLM_HTTP_TIMEOUT_KEEP_ALIVE: "30" }).httpTimeoutKeepAliveS).toBe(30);
  });

  it.each(["", "5s", "0", "-1"])("env VLLM_HTTP_TIMEOUT_KEEP_ALIVE=%j -> UsageError naming it", (value) => {
    expect(() => parseConfig([], () => {}, { VLLM_HTTP_TIMEOUT_KEEP_ALIVE: value })).toThrow(
      /VLLM_HTTP_TIMEOUT_KEEP_ALIVE/,
    );
  });

  it.each([
    ["--kv-events-config", "{not json"],
    ["--kv-events-config", '{"hwm": -1}'],
    ["--kv-events-config", '{"endpoint": "http://x"}'],
    ["--kv-offloading-size", "-1"],
    ["--kv-offloading-backend", "disk"],
  ])("%s %s -> rejected naming the flag", (flag, value) => {
    const errors: string[] = [];
    expect(() => parseConfig([flag, value], (t) => errors.push(t))).toThrow();
    expect(errors.join("")).toContain(flag);
  });

  it.each([
    [["--kv-offloading-backend", "lmcache"], /lmcache is not emulated/],
    [["--kv-offloading-size", "4", "--kv-connector"], /--kv-connector and --kv-offloading-size/],
    [["--kv-offloading-size", "0.000001"], /--kv-offloading-size .* holds no/],
  ])("%j -> UsageError", (args, message) => {
    expect(() => parseConfig(args)).toThrow(message);
  });
});
