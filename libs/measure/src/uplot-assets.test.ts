import { describe, expect, it } from "vitest";
import { UPLOT_CSS, UPLOT_JS } from "./uplot-assets";

describe("uplot assets", () => {
  it("imported as text -> uPlot's IIFE build and its stylesheet", () => {
    expect(UPLOT_JS).toContain("uPlot");
    expect(UPLOT_JS.length).toBeGreaterThan(10_000);
    expect(UPLOT_CSS).toContain(".uplot");
  });
});
