// Import boundaries, checked by `npm run lint` (dependency-cruiser). Paths are relative to the
// directory depcruise runs in: the repository root (libs/runtime/test/boundaries.test.ts runs the
// same rules over small fixture trees to show that each one fails when it should).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const root = process.cwd();

/** Workspace package folders: apps/*, libs/* and the top-level ones. */
function packageDirs() {
  const dirs = [];
  for (const group of ["apps", "libs"]) {
    if (!existsSync(join(root, group))) continue;
    for (const name of readdirSync(join(root, group))) dirs.push(`${group}/${name}`);
  }
  dirs.push("experiments", "e2e", "deploy");
  return dirs.filter((dir) => existsSync(join(root, dir, "package.json")));
}

/** Every file a package.json names as an entry point ("exports", else "main"). */
function entryFiles(dir) {
  const pkg = JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8"));
  const files = [];
  const collect = (target) => {
    if (typeof target === "string") files.push(target);
    else if (target && typeof target === "object") Object.values(target).forEach(collect);
  };
  collect(pkg.exports ?? pkg.main);
  return files.map((f) => `${dir}/${f.replace(/^\.\//, "")}`);
}

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const ENTRY_POINTS = `^(${packageDirs().flatMap(entryFiles).map(escape).join("|")})$`;
const PACKAGE = "^((?:apps|libs)/[^/]+|experiments|e2e|deploy)/";

// What only a service's edge may load: transports, servers, logging, ZMQ, metrics and the
// generated wire code. Paths may lie above the cruised directory (fixtures resolve the repository's
// node_modules), hence no ^ on node_modules.
const RUNTIME_ONLY = [
  "(^|/)node_modules/(@grpc/grpc-js|winston|zeromq|fastify|undici|prom-client)/",
  "^(node:)?(http|https|net)$",
  "^libs/runtime/src/gen/",
];

export default {
  forbidden: [
    {
      name: "no-deep-package-import",
      comment:
        "A package is used only through the entry points its package.json exports (apps: '.' and " +
        "'./domain'); reaching into another package's files couples to its insides.",
      severity: "error",
      from: { path: PACKAGE },
      to: { path: PACKAGE, pathNot: ["^$1/", ENTRY_POINTS] },
    },
    {
      name: "no-unresolvable-import",
      comment:
        "An import that does not resolve: a typo, or a path a package's exports do not offer " +
        "(such as @symphony/<pkg>/src/...).",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: "no-circular",
      comment: "Modules that import each other, directly or through others (type-only imports count).",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "domain-stays-pure",
      comment:
        "Domain code runs live and in virtual-time simulation, so it never loads gRPC, HTTP/TCP " +
        "servers, logging, ZMQ, metrics or generated wire code, directly or through any chain of " +
        "imports (a barrel included). Tests beside the domain may wire real transports.",
      severity: "error",
      from: { path: "(^|/)src/domain/", pathNot: "\\.test\\.ts$" },
      to: { path: RUNTIME_ONLY, reachable: true },
    },
    {
      name: "common-stays-pure",
      comment:
        "@symphony/common is the pure core every domain may import: it never reaches " +
        "@symphony/runtime or what only a service's edge may load.",
      severity: "error",
      from: { path: "^libs/common/" },
      to: { path: [...RUNTIME_ONLY, "^libs/runtime/"], reachable: true },
    },
    {
      name: "testing-helpers-only-in-tests",
      comment:
        "A package's ./testing entry point (src/testing.ts: test factories) is for tests; code " +
        "that ships never loads it.",
      severity: "error",
      from: { path: PACKAGE, pathNot: ["\\.test\\.ts$", "^(?:apps|libs)/[^/]+/test/", "/src/testing\\.ts$"] },
      to: { path: "^(?:apps|libs)/[^/]+/src/testing\\.ts$" },
    },
  ],
  options: {
    // Third-party packages are leaves: what matters is reaching them, not what they load.
    doNotFollow: { path: ["node_modules", "^libs/runtime/src/gen/"] },
    exclude: { path: ["^dist/", "/testdata/"] },
    tsPreCompilationDeps: true,
    combinedDependencies: false,
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
    },
  },
};
