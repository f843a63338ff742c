import { describe, expect, it } from "vitest";
import { requestLine } from "./record";
import { requestRecord } from "./testing";

describe("requestRecord (test factory)", () => {
  it("overrides win; optional fields stay absent unless given", () => {
    const r = requestRecord({ request_id: "x", ttft_ms: null, usage_source: "client" });
    expect(r.request_id).toBe("x");
    expect(r.ttft_ms).toBeNull();
    expect(r.usage_source).toBe("client");
    expect("session_kind" in requestRecord()).toBe(false);
  });

  it("each call gets its own itl_ms (requestLine rewrites it in place)", () => {
    const a = requestRecord();
    a.itl_ms[0] = 1.23456;
    requestLine(a);
    expect(requestRecord().itl_ms).toEqual([10, 10, 10, 10]);
  });
});
