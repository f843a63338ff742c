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

  it("a record read back with its own itl_count, or with no other field -> the same line as a copy without itl_ms", () => {
    const copyWay = (r: RequestRecord) => {
      const { itl_ms, ...line } = r;
      return JSON.stringify({ ...line, itl_count: itl_ms.length });
    };
    const withCount = { ...record, itl_count: 9, error: "x" } as unknown as RequestRecord;
    expect(requestLineWithoutItl(withCount)).toBe(copyWay(withCount));
    const bare = { itl_ms: [1] } as unknown as RequestRecord;
    expect(requestLineWithoutItl(bare)).toBe('{"itl_count":1}');
    const full = {
      ...record,
      node_id: 'a"\u2028é',
      queue_time_ms: NaN,
      tpot_ms: undefined,
    } as unknown as RequestRecord;
    expect(requestLineWithoutItl(full)).toBe(copyWay(full));
    expect(full.itl_ms).toEqual([0.1234567, 2.0004999]);
  });
});
