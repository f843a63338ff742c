import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundlePath, runCli } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// Hostile inputs (that could run forever or crash): each gets one line and exit 2.

describe("workloadgen bundle, hostile input", () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(join(tmpdir(), "wg-hostile-"))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it.each([
    ["at the top level", ""],
    ["under workload: (the design's layout)", "  "],
  ])(
    "--dry-run with inter_arrival_time_dist_config Constant 0 %s -> one line naming the field, exit 2 (before: ran forever)",
    async (_where, indent) => {
      const yaml = [
        "workload:",
        "  total_duration: 3600",
        `${indent ? "  client_profiles:" : "client_profiles:"}`,
        `${indent}  - profile_name: chat`,
        `${indent}    weight: 1`,
        `${indent}    inter_arrival_time_dist_config: { type: Constant, value: 0 }`,
        `${indent}    prompt_tokens_dist_config: { type: Constant, value: 16 }`,
        `${indent}    max_output_tokens_dist_config: { type: Constant, value: 16 }`,
        "",
      ].join("\n");
      const r = await runCli(
        bundlePath("workloadgen"),
        ["--dry-run", "--config", file(`zero${indent.length}.yaml`, yaml)],
        30_000,
      );
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^error: .*zero\d\.yaml: (workload\.)?client_profiles\[0\]\.inter_arrival_time_dist_config\.value: inter-arrival times must be > 0 s/,
      );
    },
  );
});
