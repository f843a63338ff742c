import { UsageError } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./config";

describe("parseConfig --tokenizer", () => {
  it("no flag -> llama3 (mock-vllm's default profile, Llama 3.1 8B)", () => {
    expect(parseConfig([]).tokenizer).toBe("llama3");
  });

  it.each(["cl100k", "llama2"])("--tokenizer %s -> that tokenizer", (name) => {
    expect(parseConfig(["--tokenizer", name]).tokenizer).toBe(name);
  });

  it("an unknown name -> one UsageError line naming the flag", () => {
    expect(() => parseConfig(["--tokenizer", "llama-3"])).toThrow(UsageError);
    expect(() => parseConfig(["--tokenizer", "llama-3"])).toThrow(
      /^--tokenizer llama-3: expected cl100k, llama3/,
    );
  });
});
