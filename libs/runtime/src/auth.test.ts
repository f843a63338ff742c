import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { bearerToken, checkBearer, isLoopbackHost, loadTokens, readTokenFile, TokenSet } from "./auth";
import { UsageError } from "@symphony/common";

const metadata = (authorization?: string) => {
  const m = new grpc.Metadata();
  if (authorization !== undefined) m.set("authorization", authorization);
  return m;
};

describe("auth", () => {
  it("TokenSet.match -> index of the equal token, -1 for prefixes, extensions and others", () => {
    const set = new TokenSet(["alpha-secret", "beta-secret"]);
    expect(set.enabled).toBe(true);
    expect(set.match("beta-secret")).toBe(1);
    expect(set.match("alpha-secret")).toBe(0);
    for (const wrong of ["alpha", "alpha-secret2", "", "ALPHA-SECRET"]) expect(set.match(wrong)).toBe(-1);
    expect(new TokenSet([]).enabled).toBe(false);
  });

  it.each([
    ["Bearer abc", "abc"],
    ["bearer abc ", "abc"],
    ["Basic abc", undefined],
    ["Bearer", undefined],
    [undefined, undefined],
  ])("bearerToken(%j) -> %j", (header, want) => {
    expect(bearerToken(metadata(header))).toBe(want);
  });

  it("checkBearer: auth off -> ok as -1; missing or wrong token -> UNAUTHENTICATED naming the API", () => {
    expect(checkBearer(new TokenSet([]), metadata(), "Submit")).toEqual({ ok: true, principal: -1 });
    const set = new TokenSet(["t1", "t2"]);
    expect(checkBearer(set, metadata("Bearer t2"), "Submit")).toEqual({ ok: true, principal: 1 });
    const missing = checkBearer(set, metadata(), "Submit");
    expect(missing).toMatchObject({ ok: false, error: { code: grpc.status.UNAUTHENTICATED } });
    expect(!missing.ok && missing.error.details).toMatch(/^Submit requires "authorization: Bearer/);
    expect(checkBearer(set, metadata("Bearer nope"), "Heartbeat")).toMatchObject({
      ok: false,
      error: { code: grpc.status.UNAUTHENTICATED, details: "Heartbeat: invalid token" },
    });
  });

  it("readTokenFile / loadTokens -> one token per line; missing, empty or spaced -> UsageError naming the flag", () => {
    const dir = mkdtempSync(join(tmpdir(), "auth-"));
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    expect(readTokenFile(file("ok", "# c\n a \r\nb\n\n"), "--f")).toEqual(["a", "b"]);
    expect(() => readTokenFile(join(dir, "missing"), "--f")).toThrow(/^--f: cannot read .* \(ENOENT\)$/);
    expect(() => readTokenFile(file("empty", "\n#x\n"), "--f")).toThrow(UsageError);
    expect(() => readTokenFile(file("sp", "a b\n"), "--f")).toThrow(/printable ASCII without spaces/);
    expect(loadTokens(undefined, "--f", " env-token ")).toEqual(["env-token"]);
    expect(loadTokens(undefined, "--f", "  ")).toEqual([]);
    expect(loadTokens(undefined, "--f", undefined)).toEqual([]);
  });

  it.each([
    ["127.0.0.1", true],
    ["127.1.2.3", true],
    ["localhost", true],
    ["::1", true],
    ["[::1]", true],
    ["0.0.0.0", false],
    ["::", false],
    ["10.0.0.5", false],
  ])("isLoopbackHost(%s) -> %s", (host, want) => {
    expect(isLoopbackHost(host)).toBe(want);
  });
});
