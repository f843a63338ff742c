import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { loadConfigFile } from "./config-file";
import { UsageError } from "./usage-error";

const dir = mkdtempSync(join(tmpdir(), "symphony-config-"));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const schema = z.object({
  workload: z.object({ total_duration: z.number().positive() }),
  client_profiles: z.array(z.object({ weight: z.number().min(0) })),
});

describe("loadConfigFile", () => {
  it("parses valid YAML and JSON", () => {
    const yaml = file("ok.yaml", "workload:\n  total_duration: 60\nclient_profiles:\n  - weight: 1\n");
    const json = file("ok.json", JSON.stringify({ workload: { total_duration: 60 }, client_profiles: [] }));
    expect(loadConfigFile(yaml, schema).workload.total_duration).toBe(60);
    expect(loadConfigFile(json, schema).client_profiles).toEqual([]);
  });

  it("names file and key path of every invalid field", () => {
    const p = file("bad.yaml", "workload:\n  total_duration: -1\nclient_profiles:\n  - weight: x\n");
    expect(() => loadConfigFile(p, schema)).toThrow(UsageError);
    try {
      loadConfigFile(p, schema);
    } catch (err) {
      const lines = (err as Error).message.split("\n");
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(new RegExp(`^${p}: workload\\.total_duration: `));
      expect(lines[1]).toMatch(new RegExp(`^${p}: client_profiles\\[0\\]\\.weight: `));
    }
  });

  it("a missing key -> 'required', and a YAML error states its position once", () => {
    const p = file("missing.yaml", "client_profiles: []\n");
    expect(() => loadConfigFile(p, schema)).toThrow(
      new RegExp(`^${p}: workload: required \\(expected object`),
    );
    try {
      loadConfigFile(file("broken2.yaml", "a: [1, 2\n"), schema);
    } catch (err) {
      expect((err as Error).message.match(/line \d+/g)).toHaveLength(1);
      expect((err as Error).message).not.toMatch(/:$/);
    }
  });

  it("reports a missing file and malformed YAML/JSON with the file name", () => {
    expect(() => loadConfigFile(join(dir, "nope.yaml"), schema)).toThrow(
      /nope\.yaml: cannot read config: no such file/,
    );
    expect(() => loadConfigFile(file("broken.yaml", "a: [1, 2\n"), schema)).toThrow(
      /broken\.yaml: invalid YAML: line/,
    );
    expect(() => loadConfigFile(file("broken.json", "{"), schema)).toThrow(/broken\.json: invalid JSON/);
  });
});
