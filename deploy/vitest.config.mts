import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Builds images and runs a whole compose stack: minutes, not seconds.
    testTimeout: 240_000,
    hookTimeout: 240_000,
    // One stack at a time: 2 cores, and containers of two files would fight over them.
    fileParallelism: false,
    env: {
      // The reaper image (ryuk) cannot be pulled here; the suite removes its containers itself.
      TESTCONTAINERS_RYUK_DISABLED: process.env.TESTCONTAINERS_RYUK_DISABLED ?? "true",
      // Inside a container (/.dockerenv) testcontainers would otherwise pull alpine to find the gateway.
      TESTCONTAINERS_HOST_OVERRIDE: process.env.TESTCONTAINERS_HOST_OVERRIDE ?? "localhost",
    },
  },
});
