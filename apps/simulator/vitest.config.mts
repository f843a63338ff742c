import { defineConfig } from "vitest/config";
import { textImport } from "../../vitest.text-import.mts";

export default defineConfig({
  // runSimulation writes report.html, whose script assets are imported as text (as esbuild bundles them).
  plugins: [textImport()],
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
