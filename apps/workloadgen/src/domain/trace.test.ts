import { describe, expect, it } from "vitest";
import {
  parseAzureCsv,
  parseAzureTimestamp,
  parseMooncakeJsonl,
  parseTrace,
  TraceSessionSource,
} from "./trace";

const azure = [
  "TIMESTAMP,ContextTokens,GeneratedTokens",
  "2023-11-16 18:15:46.6805900,374,44",
  "2023-11-16 18:15:50.9951690,396,109",
  "2023-11-16 18:15:46.1000000,879,0",
].join("\n");

describe("trace parsing", () => {
  it("Azure timestamp with 7 fractional digits -> microseconds", () => {
    expect(
      parseAzureTimestamp("2023-11-16 18:15:46.6805900")! - parseAzureTimestamp("2023-11-16 18:15:46")!,
    ).toBe(680_590);
  });

  it("Azure CSV -> sorted by time, offsets from the first request", () => {
    expect(parseAzureCsv(azure)).toEqual([
      { offsetUs: 0, inputTokens: 879, outputTokens: 0 },
      { offsetUs: 580_590, inputTokens: 374, outputTokens: 44 },
      { offsetUs: 4_895_169, inputTokens: 396, outputTokens: 109 },
    ]);
  });

  it("Mooncake JSONL -> ms timestamps to µs, hash ids kept", () => {
    const text =
      '{"timestamp": 0, "input_length": 6955, "output_length": 52, "hash_ids": [0, 1, 2]}\n' +
      '{"timestamp": 1500, "input_length": 100, "output_length": 5, "hash_ids": [0]}\n';
    expect(parseMooncakeJsonl(text)).toEqual([
      { offsetUs: 0, inputTokens: 6955, outputTokens: 52, hashIds: [0, 1, 2] },
      { offsetUs: 1_500_000, inputTokens: 100, outputTokens: 5, hashIds: [0] },
    ]);
  });

  it("auto format -> by content", () => {
    expect(parseTrace('{"timestamp": 5, "input_length": 1, "output_length": 1}', "auto")).toHaveLength(1);
    expect(parseTrace(azure, "auto")).toHaveLength(3);
  });

  it.each([
    [
      "Azure, missing column",
      "TIMESTAMP,ContextTokens\n2023-11-16 18:15:46,3",
      /^line 1: header has no GeneratedTokens column/,
    ],
    [
      "Azure, bad timestamp",
      "TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,2",
      /^line 2: TIMESTAMP: /,
    ],
    [
      "Azure, bad number",
      "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,x,2",
      /^line 2: ContextTokens: expected a non-negative integer/,
    ],
    [
      "Mooncake, bad JSON",
      '{"timestamp": 1, "input_length": 1, "output_length": 1}\n{oops',
      /^line 2: invalid JSON/,
    ],
    [
      "Mooncake, wrong type",
      '{"timestamp": 1, "input_length": "9", "output_length": 1}',
      /^line 1: input_length: /,
    ],
    ["header only", "TIMESTAMP,ContextTokens,GeneratedTokens\n", /no requests in trace/],
  ])("%s -> error naming the line", (_name, text, pattern) => {
    expect(() => parseTrace(text, "auto")).toThrow(pattern);
  });

  it("trace source -> one single-turn completion session per record at its offset", () => {
    const source = new TraceSessionSource(parseAzureCsv(azure), 100);
    const plans = [source.next(), source.next(), source.next(), source.next()];
    expect(plans[3]).toBeUndefined();
    expect(plans.map((p) => p?.startUs)).toEqual([0, 580_590, 4_895_169, undefined]);
    expect(plans[0]!.turns[0]).toMatchObject({ promptTokens: 879, maxOutputTokens: 1 });
    expect(plans[2]!.turns[0]!.maxOutputTokens).toBe(100);
    expect(plans[0]!.mode).toBe("completion");
  });
});
