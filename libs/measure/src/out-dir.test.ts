import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "@symphony/common";
import { afterAll, describe, expect, it } from "vitest";
import { prepareOutDir, type OutDirFs } from "./out-dir";

const root = mkdtempSync(join(tmpdir(), "wg-out-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function failing(code: string, owner = { uid: 0, gid: 0 }): OutDirFs {
  return {
    mkdir: () => {},
    checkWritable: () => {
      throw Object.assign(new Error(`${code}: denied`), { code });
    },
    ownerOf: () => owner,
  };
}

describe("prepareOutDir", () => {
  it("missing nested directory -> created", () => {
    const dir = join(root, "a", "b", "c");
    prepareOutDir(dir);
    expect(existsSync(dir)).toBe(true);
  });

  it("a file in the way -> UsageError naming --out", () => {
    const path = join(root, "file");
    writeFileSync(path, "x");
    expect(() => prepareOutDir(join(path, "sub"))).toThrow(UsageError);
    expect(() => prepareOutDir(join(path, "sub"))).toThrow(
      /^--out .*file\/sub: cannot write there \(ENOTDIR\)/,
    );
  });

  it.each([
    [
      "EACCES outside the image",
      "EACCES",
      {},
      /cannot write there \(EACCES\); it belongs to 0:0 and this process runs as \d+:\d+: make it writable, or choose another --out$/,
    ],
    [
      "EACCES in Symphony's image",
      "EACCES",
      { SYMPHONY_APP: "workloadgen" },
      /cannot write there \(EACCES\); it belongs to 0:0 .*SYMPHONY_RESULTS_USER="\$\(id -u\):\$\(id -g\)"/,
    ],
    ["EROFS", "EROFS", {}, /cannot write there \(EROFS\): the file system is read-only/],
  ])("not writable, %s -> one line saying why and how to fix it", (_name, code, env, pattern) => {
    let message = "";
    try {
      prepareOutDir("/results", failing(code), env);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/^--out \/results: /);
    expect(message).toMatch(pattern);
    expect(message).not.toContain("\n");
  });
});
