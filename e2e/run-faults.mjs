// The fault suite (issue 17): every test that kills, stalls, corrupts or attacks a running part of
// the stack, package by package (each under its own vitest config), then one summary line.
//
//   npm run build && npm run test:faults -w @symphony/e2e
//
// Exit 0 only when every suite ran and passed.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");

/** [package folder, test files, what they break]. */
const SUITES = [
  [
    "apps/scheduler",
    [
      "test/integration/security.int.test.ts",
      "test/integration/engine-down.int.test.ts",
      "test/integration/engine-killed.int.test.ts",
      "test/integration/real-stack.int.test.ts",
      "test/integration/ports.int.test.ts",
    ],
    "hostile registration and clients, TLS; engine down or killed; node killed and restarted; ports in use",
  ],
  [
    "apps/node-scheduler",
    [
      "test/integration/failures.int.test.ts",
      "test/integration/hostile-engine.int.test.ts",
      "test/integration/oversized.int.test.ts",
      "test/integration/kv-events-faults.int.test.ts",
    ],
    "engine down, limits, cancels, deadlines; engine sending garbage; oversized requests; KV events lost, engine restarted",
  ],
  [
    "apps/workloadgen",
    ["test/integration/stalls.int.test.ts", "test/integration/hostile-input.int.test.ts"],
    "servers stalling mid-stream; hostile workload files",
  ],
  [
    "e2e",
    ["faults.test.ts"],
    "the whole stack under a workload: scheduler restarted, node killed, engine killed, engine garbage, hostile registration, oversized input",
  ],
];

for (const app of ["workloadgen", "scheduler", "node-scheduler", "mock-vllm"]) {
  if (!existsSync(join(root, "dist", "apps", app, "main.js"))) {
    process.stderr.write(`error: dist/apps/${app}/main.js is missing: run \`npm run build\` first\n`);
    process.exit(2);
  }
}

const reports = mkdtempSync(join(tmpdir(), "symphony-faults-"));
let passed = 0;
let failed = 0;
let skipped = 0;
const broken = [];
for (const [dir, files, what] of SUITES) {
  process.stdout.write(`\n== ${dir}: ${what}\n`);
  const report = join(reports, `${dir.replaceAll("/", "-")}.json`);
  const r = spawnSync(
    "vitest",
    ["run", ...files, "--reporter=default", "--reporter=json", `--outputFile.json=${report}`],
    { cwd: join(root, dir), stdio: "inherit" },
  );
  if (!existsSync(report)) {
    broken.push(`${dir} (vitest did not run: ${r.error?.message ?? `exit ${r.status}`})`);
    continue;
  }
  const json = JSON.parse(readFileSync(report, "utf8"));
  passed += json.numPassedTests;
  failed += json.numFailedTests;
  skipped += json.numPendingTests + json.numTodoTests;
  if (r.status !== 0) broken.push(dir);
}
rmSync(reports, { recursive: true, force: true });
process.stdout.write(`\nFault tests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
if (broken.length > 0) process.stdout.write(`failing: ${broken.join(", ")}\n`);
process.exit(broken.length === 0 && failed === 0 && passed > 0 ? 0 : 1);
