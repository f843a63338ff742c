import { defineConfig } from "vitest/config";

// `npm run bench -w @symphony/node-scheduler`: measurements with printed figures, not part of `test`.
export default defineConfig({
  test: {
    include: ["bench/**/*.bench.ts"],
    testTimeout: 300_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
