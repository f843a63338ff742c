import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { defineConfig, type Plugin } from "vitest/config";

const require = createRequire(import.meta.url);
const TEXT_ASSETS = /^uplot\/dist\/uPlot\.(iife\.min\.js|min\.css)$/;

/**
 * report.html inlines uPlot through workloadgen's `uplot-assets.ts`, which imports uPlot's files as
 * text (esbuild: `with { type: "text" }`); vite has no such loader, so this plugin (the same as
 * workloadgen's) serves them as `export default "<file contents>"`.
 */
function textImport(): Plugin {
  return {
    name: "text-import",
    enforce: "pre",
    resolveId(source) {
      if (TEXT_ASSETS.test(source)) return `\0text:${require.resolve(source)}.txt`;
      return null;
    },
    load(id) {
      if (!id.startsWith("\0text:")) return null;
      return `export default ${JSON.stringify(readFileSync(id.slice("\0text:".length, -".txt".length), "utf8"))};`;
    },
  };
}

export default defineConfig({
  plugins: [textImport()],
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 150_000,
  },
});
