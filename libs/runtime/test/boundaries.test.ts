import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

// The repository's import-boundary rules (.dependency-cruiser.mjs, run by `npm run lint`) over a
// small tree with one violation of each kind beside clean code: every rule must fire, and only
// where it should.
const repo = join(__dirname, "../../..");
const fixtures = join(__dirname, "testdata/boundaries");

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
}

function cruise(): string[] {
  const bin = join(repo, "node_modules/dependency-cruiser/bin/dependency-cruiser.mjs");
  const args = [
    bin,
    "apps",
    "libs",
    "--config",
    join(repo, ".dependency-cruiser.mjs"),
    "--output-type",
    "json",
  ];
  let out: string;
  try {
    out = execFileSync(process.execPath, args, { cwd: fixtures, encoding: "utf8", maxBuffer: 64 << 20 });
  } catch (err) {
    // depcruise exits with the number of violations; its report is still on stdout.
    out = (err as { stdout: string }).stdout;
  }
  const report = JSON.parse(out) as { summary: { violations: Violation[] } };
  const short = (path: string) => path.replace(/^(\.\.\/)+node_modules\//, "node_modules/");
  return report.summary.violations.map((v) => `${v.rule.name}: ${v.from} -> ${short(v.to)}`).sort();
}

describe("import boundaries (dependency-cruiser)", () => {
  it("one violation of each kind -> each reported, clean modules never", () => {
    expect(cruise()).toEqual(
      [
        // A file another package's package.json does not export, and a path its exports refuse.
        "no-deep-package-import: apps/beta/src/deep.ts -> apps/alpha/src/internal.ts",
        "no-unresolvable-import: apps/beta/src/unresolvable.ts -> @symphony/scheduler/src/domain/router",
        // A cycle, closed by a type-only import.
        "no-circular: libs/cycle/src/a.ts -> libs/cycle/src/b.ts",
        // Domain modules: gRPC and an HTTP module directly, winston through a barrel that was
        // imported for something else, generated wire code through the runtime's entry point.
        "domain-stays-pure: apps/alpha/src/domain/grpc-direct.ts -> node_modules/@grpc/grpc-js/build/src/index.js",
        "domain-stays-pure: apps/alpha/src/domain/http-direct.ts -> http",
        "domain-stays-pure: apps/alpha/src/domain/through-barrel.ts -> node_modules/winston/lib/winston.js",
        "domain-stays-pure: apps/alpha/src/domain/wire.ts -> libs/runtime/src/gen/wire.ts",
        // The pure core: metrics directly, the runtime and (through it) wire code.
        "common-stays-pure: libs/common/src/metrics.ts -> node_modules/prom-client/index.js",
        "common-stays-pure: libs/common/src/uses-runtime.ts -> libs/runtime/src/gen/wire.ts",
        "common-stays-pure: libs/common/src/uses-runtime.ts -> libs/runtime/src/index.ts",
        // A test factory loaded by shipped code (the test beside it may load it).
        "testing-helpers-only-in-tests: apps/beta/src/uses-testing.ts -> libs/mixed/src/testing.ts",
      ].sort(),
    );
  });
});
