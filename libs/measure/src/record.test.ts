import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  encodeRequestLineWithoutItl,
  REQUEST_RECORD_KEYS,
  requestLine,
  requestLineWithoutItl,
  type RequestRecord,
} from "./record";

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

describe("encodeRequestLineWithoutItl", () => {
  /** Any UTF-16 code unit: lone surrogates, control characters, quotes, backslashes, DEL. */
  const anyUnits = fc.string({
    unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
  });
  const text = fc.oneof(
    fc.string(),
    fc.string({ unit: "binary" }),
    anyUnits,
    fc.constantFrom("", '"', "\\", "\n", "\u007f", "\u2028", "\ud800", "\udc00x", "é€😀", "sim42-17"),
  );
  /** Times in whole µs (what runs record), counts, any other double: NaN and infinities included. */
  const number = fc.oneof(
    fc.integer({ min: -1e12, max: 4e12 }).map((us) => us / 1000),
    fc.integer({ min: 0, max: 2 ** 31 }),
    fc.double(),
    fc.constantFrom(0, -0, NaN, Infinity, -Infinity, 1e21, 1e-7, 999_999_999.999, 1e9, 0.1 + 0.2, 5e-324),
  );
  const orNull = <T>(arb: fc.Arbitrary<T>) => fc.oneof(arb, fc.constant(null));
  const fields: Record<string, fc.Arbitrary<unknown>> = {
    request_id: text,
    client_id: text,
    session_id: text,
    turn_index: number,
    profile: text,
    node_id: text,
    kv_tier: text,
    scheduled_ms: number,
    sent_ms: number,
    schedule_lag_ms: number,
    first_token_ms: orNull(number),
    end_ms: number,
    ttft_ms: orNull(number),
    e2el_ms: number,
    tpot_ms: orNull(number),
    itl_ms: fc.array(fc.double(), { maxLength: 3 }),
    prompt_tokens: number,
    completion_tokens: number,
    cached_tokens: number,
    token_count: number,
    usage_source: text,
    queue_time_ms: orNull(number),
    finish_reason: orNull(text),
    error: orNull(text),
    session_kind: text,
    parent_session_id: orNull(text),
    reasoning_tokens: number,
    ttfct_ms: orNull(number),
    tool_wait_ms: orNull(number),
    subagent_wait_ms: orNull(number),
    fan_out: number,
  };
  /** Records of the load runner's shape; `odd`: now and then a value of another type. */
  const records = (odd: boolean) =>
    fc.record(
      Object.fromEntries(
        REQUEST_RECORD_KEYS.map((k) => [
          k,
          odd
            ? fc.oneof(
                { weight: 20, arbitrary: fields[k]! },
                { weight: 1, arbitrary: fc.constantFrom(undefined, {}, [1], true, "x", 5) },
              )
            : fields[k]!,
        ]),
      ),
    ) as unknown as fc.Arbitrary<RequestRecord>;
  const encoded = (r: RequestRecord, room = 1 << 16): Buffer | undefined => {
    // A view into a larger buffer (not at its start), as a pooled Buffer is.
    const out = Buffer.alloc(room + 8).subarray(5);
    const end = encodeRequestLineWithoutItl(r, out, 3);
    return end < 0 ? undefined : out.subarray(3, end);
  };

  it("any strings and numbers -> the UTF-8 bytes of JSON.stringify's line (requestLineWithoutItl)", () => {
    fc.assert(
      fc.property(records(false), (r) => {
        expect(Object.keys(r)).toEqual(REQUEST_RECORD_KEYS);
        expect(encoded(r)).toEqual(Buffer.from(requestLineWithoutItl(r)));
      }),
      { numRuns: 3000 },
    );
  });

  it("whole microseconds in ms and counts -> the digits JSON writes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2e12 }), fc.integer({ min: 0, max: 2e9 }), (us, count) => {
        const r: Record<string, unknown> = {};
        for (const k of REQUEST_RECORD_KEYS) {
          if (k === "itl_ms") r[k] = [];
          else if (k.endsWith("_ms")) r[k] = us / 1000;
          else if (["request_id", "client_id", "session_id", "profile", "node_id", "kv_tier"].includes(k))
            r[k] = "x";
          else if (
            ["usage_source", "finish_reason", "error", "session_kind", "parent_session_id"].includes(k)
          )
            r[k] = "y";
          else r[k] = count;
        }
        const rec = r as unknown as RequestRecord;
        expect(encoded(rec)).toEqual(Buffer.from(requestLineWithoutItl(rec)));
      }),
      { numRuns: 5000 },
    );
  });

  it("other keys, or a value of another type -> -1, or else the same bytes", () => {
    fc.assert(
      fc.property(records(true), fc.constantFrom("none", "drop", "extra", "itl_count"), (r, change) => {
        if (change === "drop") delete (r as Partial<RequestRecord>).fan_out;
        if (change !== "none" && change !== "drop") (r as unknown as Record<string, unknown>)[change] = 1;
        const bytes = encoded(r);
        if (change !== "none") expect(bytes).toBeUndefined();
        if (bytes !== undefined) expect(bytes).toEqual(Buffer.from(requestLineWithoutItl(r)));
      }),
      { numRuns: 1000 },
    );
  });

  it("a record with an inherited enumerable key -> -1 (JSON.stringify writes own keys only)", () => {
    fc.assert(
      fc.property(records(false), (r) => {
        const child = Object.assign(Object.create({ inherited: 1 }) as object, r) as RequestRecord;
        expect(encoded(child)).toBeUndefined();
        expect(requestLineWithoutItl(child)).toBe(requestLineWithoutItl(r));
      }),
      { numRuns: 20 },
    );
  });

  it("a line that might not fit in the room left -> -1; one byte more room -> the line", () => {
    fc.assert(
      fc.property(records(false), (r) => {
        // The encoder's bound: 2,048 bytes of keys, punctuation and numbers, 6 per string character.
        const chars = Object.values(r).reduce<number>(
          (n, v) => n + (typeof v === "string" ? v.length : 0),
          0,
        );
        const bound = 2048 + 6 * chars;
        expect(encoded(r, bound)).toBeUndefined();
        expect(encoded(r, bound + 1)).toEqual(Buffer.from(requestLineWithoutItl(r)));
      }),
      { numRuns: 50 },
    );
  });
});
