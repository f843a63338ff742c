import { helpDefaultMismatches } from "@symphony/runtime";
import { describe, expect, it } from "vitest";
import { buildRegimeProgram, paperRegimeOptions } from "./config";

describe("paperRegimeOptions", () => {
  it("--help -> shows exactly the schema's defaults", () => {
    expect(helpDefaultMismatches(buildRegimeProgram(), paperRegimeOptions)).toEqual([]);
  });
});
