import { describe, expect, it } from "vitest";
import { requestLine, requestLineWithoutItl, type RequestRecord } from "./record";

const record = {
  request_id: "r-1",
  session_id: "s1",
  ttft_ms: 1.5,
  itl_ms: [0.1234567, 2.0004999],
  error: null,
} as unknown as RequestRecord;

describe("requestLine", () => {
  it("record -> its JSON with ITLs rounded to µs and itl_count last; the record itself unchanged", () => {
    const line = requestLine(record);
    expect(JSON.parse(line)).toEqual({
      request_id: "r-1",
      session_id: "s1",
      ttft_ms: 1.5,
      itl_ms: [0.123, 2.0],
      error: null,
      itl_count: 2,
    });
    expect(Object.keys(JSON.parse(line) as object).at(-1)).toBe("itl_count");
    expect(record.itl_ms).toEqual([0.1234567, 2.0004999]);
  });

  it("no ITLs -> empty list and itl_count 0", () => {
    const parsed = JSON.parse(requestLine({ ...record, itl_ms: [] })) as {
      itl_ms: number[];
      itl_count: number;
    };
    expect(parsed.itl_ms).toEqual([]);
    expect(parsed.itl_count).toBe(0);
  });
});

describe("requestLineWithoutItl", () => {
  it("record -> its JSON without itl_ms, itl_count last; the record itself unchanged", () => {
    const line = requestLineWithoutItl(record);
    expect(line).toBe('{"request_id":"r-1","session_id":"s1","ttft_ms":1.5,"error":null,"itl_count":2}');
    expect(record.itl_ms).toEqual([0.1234567, 2.0004999]);
  });
});
