import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bundlePath } from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The containers' results directory, created by Docker for root: the workloadgen service (uid
// 1000) must not fail with EACCES, a stack trace and exit 1.

const PLAN = `workload: { type: open, total_duration: 2, seed: 3 }
client_profiles:
  - profile_name: p
    weight: 1
    inter_arrival_time_dist_config: { type: Constant, value: 0.5 }
    prompt_tokens_dist_config: { type: Constant, value: 16 }
    max_output_tokens_dist_config: { type: Constant, value: 8 }
`;

/** Runs the bundle; as root it runs as `nobody` (65534) so that permissions apply to it. */
function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const asRoot = process.getuid?.() === 0;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--enable-source-maps", bundlePath("workloadgen"), ...args], {
      stdio: ["ignore", "ignore", "pipe"],
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("error", reject);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe("workloadgen bundle, --out directory", () => {
  let dir: string;
  let config: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "wg-out-"));
    chmodSync(dir, 0o755);
    config = join(dir, "plan.yaml");
    writeFileSync(config, PLAN);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("a directory this user cannot write -> one line naming --out, its owner and the user, exit 2 (before: EACCES stack trace, exit 1)", async () => {
    const locked = join(dir, "locked");
    mkdirSync(locked);
    // Owned by root when the test runs as root (the child runs as nobody); read-only otherwise.
    chmodSync(locked, 0o555);
    const r = await run(["--dry-run", "--config", config, "--out", locked]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      new RegExp(
        `^error: --out ${locked}: cannot write there \\(EACCES\\); it belongs to \\d+:\\d+ and this process runs as \\d+:\\d+`,
      ),
    );
  });

  it("a missing nested directory in a writable place -> created, the plan written there", async () => {
    const open = join(dir, "open");
    mkdirSync(open);
    chmodSync(open, 0o777);
    const out = join(open, "a", "b");
    const r = await run(["--dry-run", "--config", config, "--out", out]);
    expect(r.stderr).not.toMatch(/error/);
    expect(r.code).toBe(0);
    expect(existsSync(join(out, "plan-summary.json"))).toBe(true);
  });
});
