import { defineConfig } from "vitest/config";
import { textImport } from "../../vitest.text-import.mts";

export default defineConfig({
  // runSimulation writes report.html, whose script assets are imported as text (as esbuild bundles them).
  plugins: [textImport()],
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // One file at a time: live-vs-sim times a real stack on the wall clock, and the golden and
    // bundle tests running beside it (each spawning simulator bundles) took its cores.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
