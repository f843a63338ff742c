import { helpDefaultMismatches } from "@symphony/runtime";
import { describe, expect, it } from "vitest";
import { buildProgram, experimentOptions } from "./config";

describe("experimentOptions", () => {
  it("--help -> shows exactly the schema's defaults", () => {
    expect(helpDefaultMismatches(buildProgram(), experimentOptions)).toEqual([]);
  });
});
