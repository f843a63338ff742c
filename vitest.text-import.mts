import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Plugin } from "vitest/config";

const require = createRequire(import.meta.url);
const TEXT_ASSETS = /^uplot\/dist\/uPlot\.(iife\.min\.js|min\.css)$/;

/**
 * workloadgen's report.html inlines uPlot, whose files the bundle imports as text (esbuild:
 * `with { type: "text" }`); vite has no such loader, so this plugin serves the same modules to
 * vitest as `export default "<file contents>"`. Used by every project whose tests reach the report.
 */
export function textImport(): Plugin {
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
