import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { defineConfig, type Plugin } from "vitest/config";

const require = createRequire(import.meta.url);
const TEXT_ASSETS = /^uplot\/dist\/uPlot\.(iife\.min\.js|min\.css)$/;

/**
 * The bundle imports uPlot's files as text (esbuild: `with { type: "text" }`); vite has no such
 * loader, so this plugin serves the same modules: `export default "<file contents>"`.
 */
function textImport(): Plugin {
  return {
    name: "text-import",
    enforce: "pre",
    resolveId(source) {
      // A virtual id not ending in .css/.js, so no other plugin transforms it.
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
    hookTimeout: 60_000,
  },
});
