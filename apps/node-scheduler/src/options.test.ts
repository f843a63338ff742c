import { helpDefaultMismatches } from "@symphony/runtime";
import { describe, expect, it } from "vitest";
import { buildProgram } from "./config";
import { nodeSchedulerOptions } from "./options";

describe("nodeSchedulerOptions", () => {
  it("--help -> shows exactly the schema's defaults", () => {
    expect(helpDefaultMismatches(buildProgram(), nodeSchedulerOptions)).toEqual([]);
  });
});
