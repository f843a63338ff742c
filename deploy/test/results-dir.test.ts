// The documented container command's results directory: docker-compose's
// workloadgen service writes ./results as SYMPHONY_RESULTS_USER. Run as root and as a normal user,
// with `SYMPHONY_RESULTS_USER="$(id -u):$(id -g)"` into a results directory that user created, the
// run must succeed; a directory the container's user cannot write is one line and exit 2 (it was
// an EACCES stack trace and exit 1). Each case is `docker-compose run --no-deps workloadgen
// --dry-run` on the real compose file and image: the same user, bind mount and --out as `up`.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { composeFile, deployDir, dockerUnavailableReason, repoRoot, sh } from "./support/docker";

const skipReason = dockerUnavailableReason();
if (skipReason) console.warn(`[deploy] results-dir suite SKIPPED: ${skipReason}`);

const PLAN = `workload: { type: open, total_duration: 2, seed: 5 }
client_profiles:
  - profile_name: p
    weight: 1
    inter_arrival_time_dist_config: { type: Constant, value: 0.5 }
    prompt_tokens_dist_config: { type: Constant, value: 16 }
    max_output_tokens_dist_config: { type: Constant, value: 8 }
`;

const isRoot = process.getuid?.() === 0;
const me = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;

describe.skipIf(skipReason !== undefined)("docker-compose workloadgen, the results directory", () => {
  const project = `symphonyresults${randomBytes(4).toString("hex")}`;
  let root: string;
  let plan: string;

  beforeAll(() => {
    sh(join(deployDir, "scripts", "build-images.sh"), ["workloadgen"], 300_000);
    root = mkdtempSync(join(tmpdir(), "symphony-results-"));
    chmodSync(root, 0o755);
    // The plan lives outside the results directory, readable by any user.
    plan = join(root, "plan.yaml");
    writeFileSync(plan, PLAN);
    chmodSync(plan, 0o644);
  });
  afterAll(() => {
    spawnSync("docker-compose", ["-f", composeFile, "-p", project, "down", "--remove-orphans"], {
      cwd: repoRoot,
      stdio: "ignore",
      timeout: 60_000,
    });
    rmSync(root, { recursive: true, force: true });
  });

  /** A results directory created by `owner` (as `mkdir -p results` would, mode 755). */
  const resultsOwnedBy = (label: string, owner: string) => {
    const dir = join(root, label);
    mkdirSync(dir);
    chmodSync(dir, 0o755);
    const [uid, gid] = owner.split(":").map(Number) as [number, number];
    if (isRoot) chownSync(dir, uid, gid);
    return dir;
  };

  /** `docker-compose run` of the workloadgen service as the README's command runs it. */
  const runWorkloadgen = (resultsDir: string, resultsUser: string | undefined) => {
    const env: NodeJS.ProcessEnv = { ...process.env, SYMPHONY_RESULTS_DIR: resultsDir };
    delete env.SYMPHONY_RESULTS_USER;
    if (resultsUser !== undefined) env.SYMPHONY_RESULTS_USER = resultsUser;
    const r = spawnSync(
      "docker-compose",
      [
        ...["-f", composeFile, "-p", project, "run", "--rm", "--no-deps", "-T"],
        ...["-v", `${plan}:/plan.yaml:ro`, "workloadgen"],
        ...["--dry-run", "--config", "/plan.yaml", "--out", "/results"],
      ],
      { cwd: repoRoot, env, encoding: "utf8", timeout: 120_000 },
    );
    return { code: r.status, output: `${r.stdout}${r.stderr}` };
  };

  it.each([
    ["as root: SYMPHONY_RESULTS_USER=0:0, ./results made by root", "0:0", true],
    [
      "as a normal user (uid 1001): SYMPHONY_RESULTS_USER=1001:1001, ./results made by them",
      "1001:1001",
      true,
    ],
    ["as the image's user (uid 1000), no SYMPHONY_RESULTS_USER", "1000:1000", false],
    ["as this test's user: SYMPHONY_RESULTS_USER=$(id -u):$(id -g)", me, true],
  ])("%s -> the run writes its files there, owned by that user", (label, owner, setUser) => {
    if (!isRoot && owner !== me) return; // only root can stage another user's directory
    const dir = resultsOwnedBy(label.replace(/\W+/g, "-").slice(0, 40), owner);
    const r = runWorkloadgen(dir, setUser ? owner : undefined);
    expect(r.code, r.output).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(["plan-summary.json", "plan.jsonl"]);
    const s = statSync(join(dir, "plan-summary.json"));
    expect(`${s.uid}:${s.gid}`).toBe(owner);
  });

  it.skipIf(!isRoot)(
    "./results made by root, no SYMPHONY_RESULTS_USER -> one line naming /results, the owner and the fix, exit 2",
    () => {
      const dir = resultsOwnedBy("root-default-user", "0:0");
      const r = runWorkloadgen(dir, undefined);
      expect(r.code, r.output).toBe(2);
      const errors = r.output.split("\n").filter((l) => l.startsWith("error:"));
      expect(errors).toEqual([
        'error: --out /results: cannot write there (EACCES); it belongs to 0:0 and this process runs as 1000:1000: run the container as the directory\'s owner (docker-compose: SYMPHONY_RESULTS_USER="$(id -u):$(id -g)"), or make it writable',
      ]);
      expect(r.output).not.toMatch(/\n\s+at /); // no stack trace
    },
  );
});
