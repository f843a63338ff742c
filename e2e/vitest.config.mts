import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    // Each file starts a whole stack; one at a time keeps 2 cores from thrashing.
    fileParallelism: false,
  },
});
