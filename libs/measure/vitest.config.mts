import { defineConfig } from "vitest/config";
import { textImport } from "../../vitest.text-import.mts";

export default defineConfig({
  plugins: [textImport()],
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
