import { UsageError } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./config";

describe("parseConfig --tokenizer", () => {
  it.each([
    ["llama3-8b-h100", "llama3"],
    ["llama3-70b-h100", "llama3"],
    ["llama2-13b-a100", "llama2"],
  ])("profile %s, no flag -> its model's tokenizer, %s", (profile, want) => {
    expect(parseConfig(["--profile", profile]).tokenizer).toBe(want);
  });

  it("--tokenizer -> overrides the profile's (as vLLM's --tokenizer)", () => {
    expect(parseConfig(["--profile", "llama2-13b-a100", "--tokenizer", "cl100k"]).tokenizer).toBe("cl100k");
  });

  it("an unknown name -> one UsageError line naming the flag", () => {
    expect(() => parseConfig(["--tokenizer", "llama-3"])).toThrow(UsageError);
    expect(() => parseConfig(["--tokenizer", "llama-3"])).toThrow(
      /^--tokenizer llama-3: expected cl100k, llama3/,
    );
  });
});
