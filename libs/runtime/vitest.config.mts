import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    // test/testdata holds fixture trees for the boundary rules, not tests.
    exclude: ["**/node_modules/**", "test/testdata/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
