import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "@symphony/runtime";
import { afterAll, describe, expect, it, vi } from "vitest";
import { parseConfig } from "./config";
import { likelySends, runSimulation, type SimTuning } from "./simulate";

const dir = mkdtempSync(join(tmpdir(), "sim-bounded-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const clusterYaml = join(__dirname, "..", "examples", "cluster.yaml");

/** 20 s of the example's open loop (~2,000 requests): its files, wall-clock fields left out. */
async function run(name: string, tuning: SimTuning, logged: string[] = []) {
  const out = join(dir, name);
  const config = parseConfig([
    "--config",
    clusterYaml,
    "--duration",
    "20",
    "--log-level",
    "error",
    "--out",
    out,
  ]);
  const logger = createLogger("simulate-test", "error");
  const info = vi.spyOn(logger, "info");
  const { summary } = await runSimulation(config, logger, tuning);
  for (const call of info.mock.calls) logged.push(String(call[0]));
  const { sim: _sim, ...results } = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as Record<
    string,
    unknown
  >;
  return {
    records: summary.completed + summary.failed,
    percentiles: summary.percentiles,
    requests: readFileSync(join(out, "requests.jsonl")),
    csv: readFileSync(join(out, "summary.csv"), "utf8"),
    results,
  };
}

describe("runSimulation without exact records from the start", () => {
  it("an open loop estimated past the limit -> the same files as keeping records until the limit", async () => {
    const config = parseConfig(["--config", clusterYaml, "--duration", "20"]);
    const usual = await run("usual", { exactRecords: 800, startBounded: false });
    expect(usual.records).toBeGreaterThan(1500);
    expect(usual.percentiles).toBe("hdr(1%)");
    // The estimate sees the arrivals the run sends.
    expect(likelySends(config, Infinity)).toBe(usual.records);
    expect(likelySends(config, 1000)).toBe(1000);
    const logged: string[] = [];
    const estimated = await run("estimated", { exactRecords: 800 }, logged);
    expect(logged).toContain("no exact records from the start: the run is estimated past the limit");
    expect(logged).not.toContain("fewer requests than estimated: simulating again with exact percentiles");
    expect(estimated).toEqual(usual);
  }, 60_000);

  it("forced, and the run ends under the limit -> run again with exact records: the usual files", async () => {
    const usual = await run("exact", {});
    expect(usual.percentiles).toBe("exact");
    const logged: string[] = [];
    const again = await run("again", { startBounded: true }, logged);
    expect(logged).toContain("fewer requests than estimated: simulating again with exact percentiles");
    expect(again).toEqual(usual);
  }, 60_000);
});
