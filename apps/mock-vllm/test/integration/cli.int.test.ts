import { bundlePath, runCli } from "@symphony/testkit";
import { describe, expect, it } from "vitest";

describe("mock-vllm CLI (built bundle)", () => {
  it.each([
    [["--port", "abc"], /--port/],
    [["--profile", "nope"], /--profile/],
    [
      ["--num-gpu-blocks", "4", "--max-model-len", "4096"],
      /--max-model-len 4096 is larger than the KV cache/,
    ],
    [["--fault-error-rate", "2"], /--fault-error-rate/],
  ])("%j -> exit 2 with a one-line message naming the flag", async (args, message) => {
    const r = await runCli(bundlePath("mock-vllm"), args as string[]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("--help -> exit 0 listing every flag with its default", async () => {
    const r = await runCli(bundlePath("mock-vllm"), ["--help"]);
    expect(r.code).toBe(0);
    for (const flag of [
      "--port",
      "--profile",
      "--time-scale",
      "--max-num-seqs",
      "--num-gpu-blocks",
      "--seed",
    ])
      expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain("default: 8000");
  });
});
