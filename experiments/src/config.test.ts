import { availableParallelism } from "node:os";
import { CommanderError } from "commander";
import { UsageError } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { parseConfig } from "./config";

const quiet = (argv: string[]) => {
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return parseConfig(argv);
  } finally {
    process.stderr.write = write;
  }
};

describe("parseConfig", () => {
  it("no flags -> symphony-effect, all scales and the four configurations in order", () => {
    const c = parseConfig([]);
    expect(c.experiment).toBe("symphony-effect");
    expect(c.scales).toEqual(["sim", "sim-small", "live"]);
    expect(c.configs.map((x) => x.name)).toEqual(["baseline", "affinity", "residency", "hints"]);
    expect(c.sim.nodes).toBe(8);
    expect(c.sim.mode).toBe("sim");
    expect(c.live.mode).toBe("live");
  });

  it("--configs in any order -> kept in the canonical 1..4 order", () => {
    expect(parseConfig(["--configs", "hints,baseline"]).configs.map((x) => x.name)).toEqual([
      "baseline",
      "hints",
    ]);
  });

  it("--sim-sessions 4,8 -> parsed list", () => {
    expect(parseConfig(["--sim-sessions", "4,8"]).sim.sessions).toEqual([4, 8]);
  });

  it("--jobs -> default this machine's cores; --jobs 1 -> 1", () => {
    expect(parseConfig([]).jobs).toBe(availableParallelism());
    expect(parseConfig(["--jobs", "1"]).jobs).toBe(1);
  });

  it.each([
    [["--jobs", "0"], CommanderError],
    [["--jobs", "1.5"], CommanderError],
    [["--jobs", "many"], CommanderError],
    [["--sim-sessions", "8,4"], CommanderError],
    [["--sim-sessions", "a"], CommanderError],
    [["--configs", "fastest"], CommanderError],
    [["--scales", "cloud"], CommanderError],
    [["--slo-p99-ttft-ms", "0"], CommanderError],
    [["--min-turns", "5", "--max-turns", "3"], UsageError],
    [["--sim-warmup", "400", "--sim-duration", "300"], UsageError],
    [["other-experiment"], UsageError],
  ])("bad input %j -> %o (exit 2)", (argv, kind) => {
    expect(() => quiet(argv)).toThrow(kind);
  });
});
