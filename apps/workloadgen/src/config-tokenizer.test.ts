import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { UsageError } from "@symphony/common";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "./config";

const dir = mkdtempSync(join(tmpdir(), "wg-tokenizer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe("parseConfig --tokenizer", () => {
  it("no flag -> llama3, the default model's tokenizer", () => {
    expect(parseConfig([]).tokenizer).toBe("llama3");
  });

  it.each(["cl100k", "llama2", "llama3"])("--tokenizer %s -> that tokenizer", (name) => {
    expect(parseConfig(["--tokenizer", name]).tokenizer).toBe(name);
  });

  it("workload.tokenizer in the config file -> used; the flag wins over it", () => {
    const cfg = file("w.yaml", "workload:\n  tokenizer: llama2\n");
    expect(parseConfig(["--config", cfg]).tokenizer).toBe("llama2");
    expect(parseConfig(["--config", cfg, "--tokenizer", "cl100k"]).tokenizer).toBe("cl100k");
  });

  it("a path to a tokenizer.json -> kept as given (loaded when the run starts)", () => {
    const path = file("tokenizer.json", "{}");
    expect(parseConfig(["--tokenizer", path]).tokenizer).toBe(path);
  });

  it.each([
    [["--tokenizer", "gpt4"], /^--tokenizer gpt4: expected cl100k, llama3, llama2 or the path/],
    [["--tokenizer", join(dir, "missing.json")], /^--tokenizer .*missing\.json: cannot read/],
  ])("%j -> one UsageError line naming the flag", (argv, message) => {
    expect(() => parseConfig(argv)).toThrow(UsageError);
    expect(() => parseConfig(argv)).toThrow(message);
  });

  it("a bad workload.tokenizer in the file -> the error names the file and key", () => {
    const cfg = file("bad.yaml", "workload:\n  tokenizer: gpt4\n");
    expect(() => parseConfig(["--config", cfg])).toThrow(/bad\.yaml: workload\.tokenizer gpt4: expected/);
  });
});
