// Byte-identity of seeded outputs: the simulator's results and workloadgen's dry-run plans, for a
// fixed set of scenarios, hashed after dropping the wall-clock fields. A refactor must leave every
// hash unchanged; a deliberate change of results regenerates them with
// `UPDATE_GOLDEN=1 npx vitest run test/golden` and says why in its commit.
// report.html is left out: it is presentation, and its panels change without any result changing.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { repoRoot, runCli } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const simulator = join(repoRoot, "dist", "apps", "simulator", "main.js");
const workloadgen = join(repoRoot, "dist", "apps", "workloadgen", "main.js");
const examples = join(repoRoot, "apps", "workloadgen", "examples");
const expectedFile = join(__dirname, "expected.json");
const update = process.env.UPDATE_GOLDEN === "1";
const dir = mkdtempSync(join(tmpdir(), "golden-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Scenario {
  readonly name: string;
  readonly bundle: string;
  readonly args: readonly string[];
}

const sim = (name: string, ...args: string[]): Scenario => ({
  name: `simulator ${name}`,
  bundle: simulator,
  args,
});
const dryRun = (name: string, ...args: string[]): Scenario => ({
  name: `workloadgen dry-run ${name}`,
  bundle: workloadgen,
  args: ["--dry-run", ...args],
});

const scenarios: readonly Scenario[] = [
  // Small budgets make the residency and preemption paths run, not just the happy path.
  sim(
    "closed-loop hint-aware 16k",
    ...["--config", join(examples, "closed-loop.yaml"), "--num-clients", "40", "--duration", "60"],
    ...["--kv-budget-tokens", "16384", "--seed", "3"],
  ),
  sim(
    "closed-loop lru 8k no hints",
    ...["--config", join(examples, "closed-loop.yaml"), "--num-clients", "30", "--duration", "40"],
    ...["--kv-budget-tokens", "8192", "--residency-policy", "lru", "--no-hints", "--seed", "4"],
  ),
  sim(
    "open-loop round-robin",
    ...[
      "--config",
      join(examples, "open-loop.yaml"),
      "--policy",
      "round-robin",
      "--duration",
      "20",
      "--seed",
      "2",
    ],
  ),
  sim(
    "agent kv-aware",
    ...["--config", join(examples, "agent.yaml"), "--policy", "kv-aware", "--duration", "30", "--seed", "2"],
  ),
  sim(
    "closed-loop sweep",
    ...["--config", join(examples, "closed-loop.yaml"), "--num-clients", "20", "--duration", "20"],
    ...[
      "--kv-budget-tokens",
      "16384",
      "--sweep",
      "policy=least-loaded,session-affinity",
      "--sweep",
      "nodes=2,3",
    ],
  ),
  dryRun("closed-loop", "--config", join(examples, "closed-loop.yaml"), "--seed", "5"),
  dryRun("open-loop", "--config", join(examples, "open-loop.yaml"), "--seed", "5"),
  dryRun("agent", "--config", join(examples, "agent.yaml"), "--seed", "5"),
];

/**
 * The only volatile content: how long the run took on this machine, how many timer events the
 * simulator used for it (an implementation detail: fewer when it batches work, same results),
 * and the temporary file the simulator hands workloadgen's resolver.
 */
const VOLATILE_JSON_KEYS =
  /"(wall_time_s|wall_s|speed_ratio|events_per_s|events_processed|configFile)":\s*[^,\n}]+/g;

function normalised(file: string): string {
  const text = readFileSync(file, "utf8");
  if (file.endsWith(".json")) return text.replace(VOLATILE_JSON_KEYS, '"$1": "<volatile>"');
  // The sweep table ends each row with its wall time.
  if (file.endsWith(".csv") && /,wall_s\n/.test(text)) return text.replace(/,[^,\n]*$/gm, "");
  return text;
}

/** sha256 of every output file except report.html, by path relative to the run's folder. */
function hashes(out: string, prefix = ""): Record<string, string> {
  const result: Record<string, string> = {};
  for (const entry of readdirSync(out, { withFileTypes: true }).sort((a, b) =>
    a.name.localeCompare(b.name),
  )) {
    const path = join(out, entry.name);
    if (entry.isDirectory()) Object.assign(result, hashes(path, `${prefix}${entry.name}/`));
    else if (!entry.name.endsWith(".html"))
      result[`${prefix}${entry.name}`] = createHash("sha256").update(normalised(path)).digest("hex");
  }
  return result;
}

const expected: Record<string, Record<string, string>> = existsSync(expectedFile)
  ? JSON.parse(readFileSync(expectedFile, "utf8"))
  : {};
const actual: Record<string, Record<string, string>> = {};

describe("golden outputs (same seed -> same bytes)", () => {
  beforeAll(() => {
    for (const bundle of [simulator, workloadgen])
      if (!existsSync(bundle)) throw new Error(`${bundle} is missing: build the apps first (npm run build)`);
  });
  afterAll(() => {
    if (update) writeFileSync(expectedFile, `${JSON.stringify(actual, null, 2)}\n`);
  });

  it.each(scenarios.map((s) => [s.name, s] as const))("%s", async (name, scenario) => {
    const out = join(dir, name.replace(/[^a-z0-9]+/gi, "-"));
    const r = await runCli(scenario.bundle, [...scenario.args, "--out", out], 120_000);
    expect(r.code, r.stderr).toBe(0);
    actual[name] = hashes(out);
    if (!update) expect(actual[name]).toEqual(expected[name]);
  });
});
