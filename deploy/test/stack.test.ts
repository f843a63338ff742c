// The compose stack in real containers (testcontainers + Compose v1): images built from the current
// bundles, the default docker-compose.yml started under a unique project name with every host port
// random, a short workload through the scheduler, then a node crash in the middle of a second run.
// Skips (with the reason) when no Docker engine answers; CI starts one (deploy/scripts/docker-engine.sh).
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import {
  DockerComposeEnvironment,
  GenericContainer,
  Wait,
  type StartedDockerComposeEnvironment,
  type StartedTestContainer,
} from "testcontainers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildImages,
  dockerUnavailableReason,
  findContainer,
  inspect,
  removeContainersLabelled,
  logsOf,
  repoRoot,
  sh,
  waitFor,
} from "./support/docker";

const skipReason = dockerUnavailableReason();
if (skipReason) console.warn(`[deploy] container suite SKIPPED: ${skipReason}`);

/** One line of workloadgen's requests.jsonl (the fields these tests read). */
interface RequestLine {
  session_id: string;
  turn_index: number;
  node_id: string;
  sent_ms: number;
  end_ms: number;
  e2el_ms: number;
  completion_tokens: number;
  error: string | null;
}

const readRequests = (dir: string): RequestLine[] => {
  const file = join(dir, "requests.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim().startsWith("{"))
    .map((l) => JSON.parse(l) as RequestLine);
};

/** A results directory the containers' `node` user (uid 1000) can write to. */
const resultsDir = (label: string) => {
  const dir = mkdtempSync(join(tmpdir(), `symphony-deploy-${label}-`));
  chmodSync(dir, 0o777);
  return dir;
};

// Short runs: the mock engine and think times are scaled so the suite stays well under 5 minutes.
const WORKLOAD_CLIENTS = 4;
const WORKLOAD_MAX_REQUESTS = 24;

describe.skipIf(skipReason !== undefined)("compose stack in containers", () => {
  // Compose v1 container names are <project>_<service>_1; the project name is unique per run so
  // parallel CI jobs on one engine never share containers or networks.
  const project = `symphonytest${randomBytes(4).toString("hex")}`;
  const container = (service: string) => `${project}_${service}_1`;
  const firstRunDir = resultsDir("first");
  const failoverDir = resultsDir("failover");
  let stack: StartedDockerComposeEnvironment | undefined;
  /** Settles when the failover run's container has exited (or failed to start). */
  let failoverRun: Promise<StartedTestContainer | Error> | undefined;

  beforeAll(async () => {
    buildImages("latest");
    stack = await new DockerComposeEnvironment(repoRoot, "docker-compose.yml")
      .withProjectName(project)
      .withClientOptions({ executable: { standalone: true, executablePath: "docker-compose" } })
      .withEnvironment({
        // 0 = a random host port for every published port: no clash with anything on the machine.
        SYMPHONY_SCHEDULER_PORT: "0",
        SYMPHONY_SCHEDULER_METRICS_PORT: "0",
        SYMPHONY_NODE_1_METRICS_PORT: "0",
        SYMPHONY_NODE_2_METRICS_PORT: "0",
        SYMPHONY_ENGINE_1_PORT: "0",
        SYMPHONY_ENGINE_2_PORT: "0",
        SYMPHONY_RESULTS_DIR: firstRunDir,
        SYMPHONY_WORKLOAD_CLIENTS: String(WORKLOAD_CLIENTS),
        SYMPHONY_WORKLOAD_MAX_REQUESTS: String(WORKLOAD_MAX_REQUESTS),
        SYMPHONY_WORKLOAD_DURATION: "90",
      })
      .withDefaultWaitStrategy(Wait.forHealthCheck())
      // workloadgen is a batch job: "started" means it ran to completion with exit code 0.
      .withWaitStrategy(container("workloadgen"), Wait.forOneShotStartup())
      .withStartupTimeout(150_000)
      .up();
  });

  afterAll(async () => {
    // A failed test may leave the extra workloadgen being created: give it a moment to appear so
    // that it is removed too (it holds an endpoint on the project network).
    if (failoverRun) await Promise.race([failoverRun, new Promise((r) => setTimeout(r, 15_000))]);
    removeContainersLabelled(`symphony.test-project=${project}`);
    await stack
      ?.down({ removeVolumes: true, timeout: 5_000 })
      .catch((err: Error) => console.warn(err.message));
    // Ryuk is disabled (it cannot be pulled here): make sure nothing of this project survives.
    removeContainersLabelled(`com.docker.compose.project=${project}`);
    spawnSync("docker", ["network", "rm", `${project}_default`], { stdio: "ignore" });
    // SYMPHONY_DEPLOY_KEEP_RESULTS=1 keeps both runs' reports for a look afterwards.
    if (process.env.SYMPHONY_DEPLOY_KEEP_RESULTS === "1")
      console.log(`[deploy] results kept in ${firstRunDir} and ${failoverDir}`);
    else for (const dir of [firstRunDir, failoverDir]) rmSync(dir, { recursive: true, force: true });
  });

  it("default stack, short workload -> every request completes and the report lands in the results dir", () => {
    const state = inspect(container("workloadgen"));
    expect(state.running).toBe(false);
    expect(state.exitCode, logsOf(container("workloadgen"))).toBe(0);

    const summary = JSON.parse(readFileSync(join(firstRunDir, "summary.json"), "utf8")) as {
      completed: number;
      failed: number;
      errors: Record<string, number>;
    };
    expect(summary.errors).toEqual({});
    expect(summary.failed).toBe(0);
    expect(summary.completed).toBe(WORKLOAD_MAX_REQUESTS);

    const requests = readRequests(firstRunDir);
    expect(requests).toHaveLength(WORKLOAD_MAX_REQUESTS);
    for (const r of requests) {
      expect(r.error).toBeNull();
      expect(r.completion_tokens).toBeGreaterThan(0);
    }
    // Both nodes registered with the scheduler and served turns.
    expect(new Set(requests.map((r) => r.node_id))).toEqual(new Set(["node-1", "node-2"]));
  });

  it("services -> healthy, non-root, and the scheduler's port published on loopback only", () => {
    for (const service of ["scheduler", "node-1", "node-2", "mock-vllm-1", "mock-vllm-2"]) {
      expect(inspect(container(service)).health, service).toBe("healthy");
      expect(sh("docker", ["exec", container(service), "id", "-u"]).trim(), service).toBe("1000");
    }
    const published = sh("docker", ["port", container("scheduler"), "50051/tcp"]).trim();
    expect(published).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it("stock-vLLM wiring -> each node reads its engine's KV events and reports the engine's real cache", async () => {
    for (const [node, engine] of [
      ["node-1", "mock-vllm-1"],
      ["node-2", "mock-vllm-2"],
    ] as const) {
      const scrape = async (service: string, port: string) => {
        const hostPort = sh("docker", ["port", container(service), port])
          .trim()
          .split("\n")[0]!;
        return (await (await fetch(`http://${hostPort}/metrics`)).text()).split("\n");
      };
      const sample = (lines: string[], prefix: string) =>
        Number(
          lines
            .find((l) => l.startsWith(prefix))
            ?.split(" ")
            .at(-1) ?? NaN,
        );
      const nodeLines = await scrape(node, "9461/tcp");
      expect(sample(nodeLines, 'symphony_node_kv_events_total{kind="received"}'), node).toBeGreaterThan(0);
      expect(sample(nodeLines, 'symphony_node_kv_events_total{kind="decode_errors"}'), node).toBe(0);
      // The engine's cache as the node sees it from events equals the engine's own count.
      const engineLines = await scrape(engine, "8000/tcp");
      expect(sample(nodeLines, 'symphony_node_engine_kv_cached_tokens{medium="GPU"}'), node).toBe(
        sample(engineLines, 'symphony_mock_kv_cached_blocks{medium="GPU"}') * 16,
      );
    }
  });

  it("grafana dashboard -> every metric it queries is exported by a running service", async () => {
    const endpoints: [string, string, string][] = [
      ["scheduler", "9464/tcp", "/metrics"],
      ["node-1", "9461/tcp", "/metrics"],
      ["mock-vllm-1", "8000/tcp", "/metrics"],
    ];
    const exported = new Set<string>();
    for (const [service, port, path] of endpoints) {
      const hostPort = sh("docker", ["port", container(service), port])
        .trim()
        .split("\n")[0]!;
      const text = await (await fetch(`http://${hostPort}${path}`)).text();
      for (const m of text.matchAll(/^# TYPE (\S+) /gm)) exported.add(m[1]!);
    }
    const dashboard = readFileSync(
      join(repoRoot, "deploy/monitoring/grafana/dashboards/symphony.json"),
      "utf8",
    );
    const queried = new Set(
      [...dashboard.matchAll(/\b((?:symphony_|scheduler_|vllm:)[a-z_:]+)/g)].map((m) =>
        m[1]!.replace(/_(bucket|sum|count)$/, ""),
      ),
    );
    expect(queried.size).toBeGreaterThan(10);
    expect([...queried].filter((name) => !exported.has(name))).toEqual([]);
  });

  it("node-2 killed mid-run -> in-flight turns fail with a clear error, later turns succeed on node-1", async () => {
    const maxRequests = 60;
    const name = `${project}_failover_workloadgen`;
    const runStartedMs = Date.now();
    // Started in the background: one-shot "startup" is the whole run (resolves on exit code 0).
    failoverRun = new GenericContainer("symphony/workloadgen:latest")
      .withName(name)
      .withLabels({ "symphony.test-project": project })
      .withNetworkMode(`${project}_default`)
      .withUser("1000:1000")
      .withBindMounts([{ source: failoverDir, target: "/results" }])
      .withCommand([
        "--target=grpc://scheduler:50051",
        `--num-clients=${WORKLOAD_CLIENTS * 2}`,
        `--max-requests=${maxRequests}`,
        "--duration=120",
        "--time-scale=20",
        "--request-timeout=30",
        "--out=/results",
      ])
      .withWaitStrategy(Wait.forOneShotStartup())
      .withStartupTimeout(150_000)
      .start()
      .catch((err: Error) => err);

    // Crash node-2 (SIGKILL, no drain) as soon as it has served a few turns of this run.
    await waitFor(
      "node-2 to serve 3 turns of the failover run",
      () => {
        if (readRequests(failoverDir).filter((r) => r.node_id === "node-2").length >= 3) return true;
        const state = findContainer(name);
        if (state && !state.running)
          throw new Error(`workloadgen ended before node-2 served 3 turns:\n${logsOf(name)}`);
        return undefined;
      },
      60_000,
    );
    sh("docker", ["kill", container("node-2")]);
    // An upper bound of the kill time on workloadgen's clock (ms since its start; that clock starts
    // after the container did): turns sent later than this were certainly sent after node-2 died.
    const killedAtMs =
      Date.now() - Date.parse(sh("docker", ["inspect", "-f", "{{.State.StartedAt}}", name]).trim());

    // The run must finish on its own: failures are reported, not hung on.
    const outcome = await failoverRun;
    const log = logsOf(name);
    expect(outcome instanceof Error ? outcome.message : "exited 0", log).toBe("exited 0");
    expect(inspect(name).exitCode, log).toBe(0);
    expect(Date.now() - runStartedMs).toBeLessThan(150_000);

    const requests = readRequests(failoverDir);
    expect(requests, log).toHaveLength(maxRequests);
    const failed = requests.filter((r) => r.error !== null);
    for (const r of failed) {
      // A clear error naming the dead node, as soon as the scheduler notices (heartbeat timeout,
      // 3 s by default), not at the 30 s request deadline.
      expect(r.error, JSON.stringify(r)).toMatch(/^UNAVAILABLE: .*node-2/);
      expect(r.e2el_ms, JSON.stringify(r)).toBeLessThan(15_000);
    }
    // Once the failure has played out (after the kill and the last failed turn), every later turn
    // succeeds on the surviving node, including the next turns of sessions that lived on node-2.
    const settledMs = Math.max(killedAtMs, ...failed.map((r) => r.end_ms));
    const later = requests.filter((r) => r.sent_ms > settledMs);
    expect(later.length).toBeGreaterThanOrEqual(10);
    expect(later.filter((r) => r.error !== null)).toEqual([]);
    expect(new Set(later.map((r) => r.node_id))).toEqual(new Set(["node-1"]));

    // The scheduler's own view: node-2 down, node-1 up; the scheduler itself unaffected.
    const metricsAt = sh("docker", ["port", container("scheduler"), "9464/tcp"])
      .trim()
      .split("\n")[0]!;
    const metrics = await (await fetch(`http://${metricsAt}/metrics`)).text();
    expect(metrics).toMatch(/^scheduler_nodes\{state="down"\} 1$/m);
    expect(metrics).toMatch(/^scheduler_nodes\{state="up"\} 1$/m);
    expect(inspect(container("scheduler")).running).toBe(true);
  });
});
