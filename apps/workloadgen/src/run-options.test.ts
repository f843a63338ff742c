import { describe, expect, it } from "vitest";
import { parseConfig } from "./config";
import { parseSlo, parseTarget } from "./run-options";

describe("parseTarget", () => {
  it.each([
    ["grpc://127.0.0.1:50051", { kind: "grpc", address: "127.0.0.1:50051" }],
    ["localhost:7000", { kind: "grpc", address: "localhost:7000" }],
    ["http://127.0.0.1:8000/v1", { kind: "http", address: "http://127.0.0.1:8000/v1" }],
    ["http://127.0.0.1:8000", { kind: "http", address: "http://127.0.0.1:8000/v1" }],
    ["https://api.example.com/openai/v1/", { kind: "http", address: "https://api.example.com/openai/v1" }],
  ])("%s -> %j", (value, expected) => expect(parseTarget(value)).toEqual(expected));

  it.each(["grpc://host", "ftp://x:1", "host:99999"])("%s -> UsageError naming --target", (value) =>
    expect(() => parseTarget(value)).toThrow(/--target: expected/),
  );
});

describe("parseSlo", () => {
  it.each([
    ["ttft=500ms,tpot=50ms,e2el=10s", { ttft: 500, tpot: 50, e2el: 10_000 }],
    ["ttft=500", { ttft: 500 }],
    ["e2el=1m, tpot=250us", { e2el: 60_000, tpot: 0.25 }],
    ["TTFT:0.5s", { ttft: 500 }],
  ])("%s -> %j ms", (value, expected) => expect(parseSlo(value)).toEqual(expected));

  it.each(["ttft", "itl=5ms", "ttft=5h", "ttft=-1ms"])("%s -> rejected", (value) =>
    expect(() => parseSlo(value)).toThrow(/expected metric=value\[unit\]/),
  );
});

describe("parseConfig, run options", () => {
  it("no flags -> gRPC target on the default scheduler address, no SLO, no early stop, 5 s grace", () => {
    const c = parseConfig([]);
    expect(c).toMatchObject({
      targetKind: "grpc",
      target: "127.0.0.1:50051",
      endpoint: "chat",
      slo: {},
      warmup: 0,
      cooldown: 0,
      maxErrors: Infinity,
      maxErrorRate: Infinity,
      grace: 5,
      sendExpectedResponse: false,
    });
  });

  it("HTTP target flags -> collected: repeated headers, session header, model, key", () => {
    const c = parseConfig([
      "--target",
      "http://10.0.0.1:8000/v1",
      "--endpoint",
      "completions",
      "--model",
      "m",
      "--api-key",
      "k",
      "--header",
      "X-Tenant: a",
      "--header",
      "x-route: b:c",
      "--session-id-header",
      "x-session-id",
      "--slo",
      "ttft=1s",
      "--max-errors",
      "5",
      "--max-error-rate",
      "0.2",
    ]);
    expect(c).toMatchObject({
      targetKind: "http",
      target: "http://10.0.0.1:8000/v1",
      endpoint: "completions",
      model: "m",
      apiKey: "k",
      headers: { "x-tenant": "a", "x-route": "b:c" },
      sessionIdHeader: "x-session-id",
      slo: { ttft: 1000 },
      maxErrors: 5,
      maxErrorRate: 0.2,
    });
  });

  it("--exact-records -> 250,000 by default, 0 allowed (histograms from the start), negative refused", () => {
    expect(parseConfig([]).exactRecords).toBe(250_000);
    expect(parseConfig(["--exact-records", "0"]).exactRecords).toBe(0);
    expect(() => parseConfig(["--exact-records", "-1"])).toThrow(/exact-records/);
  });
});
