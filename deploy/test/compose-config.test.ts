// Static checks of the deployment files: they run without a Docker engine and catch the mistakes that
// otherwise only show up on somebody else's machine (a port open to the network, a dependency that
// never becomes healthy, a service Prometheus forgets, BuildKit-only syntax the classic builder rejects).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { composeFile, deployDir } from "./support/docker";

interface ComposeService {
  image?: string;
  command?: string[];
  ports?: string[];
  healthcheck?: Record<string, unknown>;
  depends_on?: Record<string, { condition?: string }> | string[];
  profiles?: string[];
  environment?: Record<string, string>;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
}

const loadYaml = <T>(path: string): T => parse(readFileSync(path, "utf8"), { merge: true }) as T;
const compose = loadYaml<ComposeFile>(composeFile);
const services = Object.entries(compose.services);
const defaultServices = services.filter(([, s]) => !s.profiles?.length);
/** Value of `--flag=value` in a service's command, if present. */
const flag = (s: ComposeService, name: string) =>
  s.command?.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

/** host:port of every endpoint that serves Prometheus metrics, from the compose file itself. */
function metricsEndpoints(): string[] {
  const endpoints: string[] = [];
  for (const [name, s] of services) {
    const metricsPort = flag(s, "metrics-port");
    if (metricsPort) endpoints.push(`${name}:${metricsPort}`);
    // Engines (mock-vllm and vLLM) serve /metrics on their API port.
    else if (/mock-vllm|vllm-openai/.test(s.image ?? "")) endpoints.push(`${name}:${flag(s, "port")}`);
  }
  return endpoints;
}

describe("docker-compose.yml", () => {
  it("default services -> scheduler, two nodes, two mock engines and workloadgen", () => {
    const images = defaultServices.map(([, s]) => s.image?.replace(/:.*$/, "")).sort();
    expect(images).toEqual([
      "symphony/mock-vllm",
      "symphony/mock-vllm",
      "symphony/node-scheduler",
      "symphony/node-scheduler",
      "symphony/scheduler",
      "symphony/workloadgen",
    ]);
  });

  it.each(services.flatMap(([name, s]) => (s.ports ?? []).map((p) => [name, p] as const)))(
    "%s publishes %s -> on loopback unless SYMPHONY_BIND says otherwise",
    (_name, port) => {
      expect(port).toMatch(/^\$\{SYMPHONY_BIND:-127\.0\.0\.1\}:\$\{[A-Z0-9_]+:-\d+\}:\d+$/);
    },
  );

  it("published host ports -> no two services share a default", () => {
    const defaults = services.flatMap(([, s]) => (s.ports ?? []).map((p) => /:-(\d+)\}:\d+$/.exec(p)![1]));
    expect(new Set(defaults).size).toBe(defaults.length);
  });

  it.each(defaultServices.filter(([name]) => name !== "workloadgen"))(
    "%s, a long-running service -> has a healthcheck",
    (_name, s) => {
      expect(s.healthcheck).toBeDefined();
    },
  );

  it.each(services.filter(([, s]) => s.depends_on))(
    "%s depends_on -> waits for healthy services",
    (_n, s) => {
      const deps = s.depends_on!;
      if (Array.isArray(deps)) return; // plain ordering (grafana -> prometheus) needs no health
      for (const [dep, cond] of Object.entries(deps)) {
        expect(cond.condition, dep).toBe("service_healthy");
        expect(compose.services[dep]?.healthcheck, `${dep} has no healthcheck`).toBeDefined();
      }
    },
  );

  it("each node -> registers with the scheduler and advertises its own compose name", () => {
    for (const name of ["node-1", "node-2"]) {
      const s = compose.services[name]!;
      expect(flag(s, "node-id")).toBe(name);
      expect(flag(s, "advertise-address")).toBe(`${name}:${flag(s, "port")}`);
      expect(flag(s, "scheduler")).toBe(`scheduler:${flag(compose.services.scheduler!, "port")}`);
    }
  });

  it("the vllm profile -> GPU reservations and prefix caching on every vLLM engine", () => {
    const vllm = services.filter(([, s]) => s.profiles?.includes("vllm"));
    expect(vllm.map(([n]) => n)).toEqual(["vllm-1", "vllm-2"]);
    for (const [, s] of vllm) {
      expect(s.image).toMatch(/vllm\/vllm-openai:v[\d.]+\}$/);
      expect(s.command).toContain("--enable-prefix-caching");
      expect(s.command).toContain("--enable-prompt-tokens-details");
      expect(s.command).toContain("--kv-offloading-backend=native");
      const events = JSON.parse(flag(s, "kv-events-config")!) as Record<string, unknown>;
      expect(events).toMatchObject({
        enable_kv_cache_events: true,
        publisher: "zmq",
        endpoint: "tcp://*:5557",
      });
      expect(JSON.stringify((s as { deploy?: unknown }).deploy)).toContain('"capabilities":["gpu"]');
    }
  });
});

describe("deploy/compose.vllm.yml", () => {
  it("override -> points each node at its vLLM engine and waits for it", () => {
    const override = loadYaml<ComposeFile>(join(deployDir, "compose.vllm.yml"));
    for (const [node, engine] of [
      ["node-1", "vllm-1"],
      ["node-2", "vllm-2"],
    ] as const) {
      const s = override.services[node]!;
      expect(flag(s, "engine-url")).toBe(`http://${engine}:8000/v1`);
      // The node reads its own engine's KV-cache events (vLLM --kv-events-config).
      expect(flag(s, "kv-events-endpoint")).toBe(`tcp://${engine}:5557`);
      expect(flag(s, "kv-events-replay-endpoint")).toBe(`tcp://${engine}:5558`);
      expect(s.depends_on).toMatchObject({ [engine]: { condition: "service_healthy" } });
      // Everything else on the command line stays as in the base file.
      const engineFlag = (a: string) =>
        /^--(engine-url|kv-events-endpoint|kv-events-replay-endpoint)=/.test(a);
      const base = compose.services[node]!.command!.filter((a) => !engineFlag(a));
      expect(s.command!.filter((a) => !engineFlag(a))).toEqual(base);
    }
  });
});

describe("deploy/monitoring", () => {
  const prometheus = loadYaml<{
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  }>(join(deployDir, "monitoring", "prometheus.yml"));
  const scraped = prometheus.scrape_configs.flatMap((j) => j.static_configs.flatMap((c) => c.targets));

  it.each(metricsEndpoints())("prometheus.yml -> scrapes %s", (endpoint) => {
    expect(scraped).toContain(endpoint);
  });

  const dashboard = JSON.parse(
    readFileSync(join(deployDir, "monitoring", "grafana", "dashboards", "symphony.json"), "utf8"),
  ) as {
    uid: string;
    panels: { title: string; type: string; targets?: { expr: string }[]; datasource?: { uid: string } }[];
  };
  const datasource = loadYaml<{ datasources: { uid: string }[] }>(
    join(deployDir, "monitoring", "grafana", "provisioning", "datasources", "prometheus.yml"),
  );

  it.each(dashboard.panels.filter((p) => p.type !== "row").map((p) => [p.title, p] as const))(
    "dashboard panel %s -> queries the provisioned Prometheus datasource",
    (_title, panel) => {
      expect(panel.datasource?.uid).toBe(datasource.datasources[0]!.uid);
      expect(panel.targets?.length).toBeGreaterThan(0);
      for (const t of panel.targets!) expect(t.expr).toMatch(/(scheduler|node|vllm|workloadgen)[:_]/);
    },
  );
});

describe("deploy/Dockerfile", () => {
  const dockerfile = readFileSync(join(deployDir, "Dockerfile"), "utf8");

  it.each([
    ["a # syntax= directive", /^#\s*syntax=/m],
    ["RUN --mount", /^RUN\s+--mount/m],
    ["a heredoc", /<<-?\s*["']?[A-Z]+/],
    ["COPY --chmod / --link", /^COPY\s+--(chmod|link)/m],
  ])("classic builder -> no %s (BuildKit only)", (_what, pattern) => {
    expect(dockerfile).not.toMatch(pattern);
  });

  it("runtime -> unprivileged user, HEALTHCHECK and an overridable base image", () => {
    expect(dockerfile).toMatch(/^ARG BASE_IMAGE=node:24-slim$/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^HEALTHCHECK /m);
  });
});
