import { helpDefaultMismatches } from "@symphony/runtime";
import { describe, expect, it } from "vitest";
import { buildProgram } from "./config";
import { mockVllmOptions } from "./options";

describe("mockVllmOptions", () => {
  it("--help -> shows exactly the schema's defaults", () => {
    expect(helpDefaultMismatches(buildProgram(), mockVllmOptions)).toEqual([]);
  });
});
