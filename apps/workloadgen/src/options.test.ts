import { helpDefaultMismatches } from "@symphony/runtime";
import { describe, expect, it } from "vitest";
import { buildProgram } from "./config";
import { workloadgenOptions } from "./options";

describe("workloadgenOptions", () => {
  it("--help -> shows exactly the schema's defaults", () => {
    expect(helpDefaultMismatches(buildProgram(), workloadgenOptions)).toEqual([]);
  });
});
