// `npm test`: builds, runs every project's vitest suite through Nx, then prints one summary line
// (`Tests: N passed, N failed`) from vitest's JSON reports. Exits non-zero on any failure or
// when no test ran.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const reports = join(root, "reports", "vitest");
rmSync(reports, { recursive: true, force: true });

const nx = join(root, "node_modules", ".bin", "nx");
const extra = process.argv.slice(2);
const env = {
  ...process.env,
  NX_DAEMON: "false",
  FORCE_COLOR: process.env.CI ? "0" : process.env.FORCE_COLOR,
};
// Every bundle first: integration tests start other apps' bundles (the mock behind a node, the
// whole stack behind workloadgen), which a project's own build dependencies do not cover.
const build = spawnSync(nx, ["run-many", "-t", "build", "--output-style=static"], {
  cwd: root,
  stdio: "inherit",
  env,
});
if (build.status !== 0) {
  console.log("\nnpm test: the build failed, no test ran");
  process.exit(build.status || 1);
}
const run = spawnSync(nx, ["run-many", "-t", "test", "--output-style=static", "--parallel=1", ...extra], {
  cwd: root,
  stdio: "inherit",
  env,
});

let passed = 0;
let failed = 0;
let skipped = 0;
const files = existsSync(reports) ? readdirSync(reports).filter((f) => f.endsWith(".json")) : [];
for (const file of files) {
  const report = JSON.parse(readFileSync(join(reports, file), "utf8"));
  passed += report.numPassedTests ?? 0;
  failed += report.numFailedTests ?? 0;
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  if (report.success === false && (report.numFailedTests ?? 0) === 0) {
    // A suite that failed to load counts as a failure even though no test reported one.
    failed += Math.max(1, report.numFailedTestSuites ?? 0);
  }
}
console.log(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (run.status !== 0 || failed > 0 || passed === 0) process.exit(run.status || 1);
// In CI everything the suites need (Docker, Chromium, every bundle) is installed by .ci/run, so a
// skipped test means a missing install step, not an optional extra.
if (process.env.CI && skipped > 0 && !process.env.SYMPHONY_ALLOW_SKIP) {
  console.log(
    `${skipped} tests were skipped in CI: something they need is missing (set SYMPHONY_ALLOW_SKIP=1 to accept)`,
  );
  process.exit(1);
}
