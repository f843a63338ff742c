import { describe, expect, it } from "vitest";
import { EngineError } from "./engine-adapter";
import { classifyHttpStatus, toEngineError } from "./error-mapping";

describe("classifyHttpStatus", () => {
  it.each([
    [400, "INVALID_ARGUMENT", false],
    [404, "NOT_FOUND", false],
    [408, "DEADLINE_EXCEEDED", true],
    [429, "RESOURCE_EXHAUSTED", true],
    [500, "INTERNAL", false],
    [502, "UNAVAILABLE", true],
    [503, "UNAVAILABLE", true],
    [504, "UNAVAILABLE", true],
    [418, "FAILED_PRECONDITION", false],
  ])("HTTP %i -> %s, retryable %s", (status, code, retryable) => {
    expect(classifyHttpStatus(status)).toEqual({ code, retryable });
  });
});

describe("toEngineError", () => {
  it.each([
    [
      "connection refused",
      Object.assign(new Error("connect"), { code: "ECONNREFUSED" }),
      "UNAVAILABLE",
      true,
    ],
    [
      "undici socket error",
      Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }),
      "UNAVAILABLE",
      true,
    ],
    ["abort", Object.assign(new Error("aborted"), { name: "AbortError" }), "CANCELLED", false],
    ["anything else", new Error("boom"), "INTERNAL", false],
  ])("%s -> %s", (_name, err, code, retryable) => {
    expect(toEngineError(err, "http://e", false)).toMatchObject({ code, retryable });
  });

  it("an EngineError -> passed through unchanged", () => {
    const e = new EngineError("NOT_FOUND", "x", false, true);
    expect(toEngineError(e, "http://e", false)).toBe(e);
  });
});
