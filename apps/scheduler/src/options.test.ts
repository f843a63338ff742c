import { helpDefaultMismatches } from "@symphony/runtime";
import { describe, expect, it } from "vitest";
import { buildProgram } from "./config";
import { schedulerOptions } from "./options";

describe("schedulerOptions", () => {
  it("--help -> shows exactly the schema's defaults", () => {
    expect(helpDefaultMismatches(buildProgram(), schedulerOptions)).toEqual([]);
  });
});
