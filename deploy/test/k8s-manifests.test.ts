// The Kubernetes manifests, rendered per overlay as `kubectl apply -k` would (deploy/k8s/render.mts),
// with no cluster and no network: every object against the Kubernetes OpenAPI schema, then the
// wiring a cluster would only reveal at run time (a Service selecting nothing, a flag naming a port
// nobody listens on, a flag the app does not have, a Secret that does not exist), security
// settings, and the load Job's sharding.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type K8sObject, render, splitImage } from "../k8s/render.mjs";
import { validateObject } from "../k8s/schema.mjs";
import { deployDir, repoRoot } from "./support/docker";
import { comparable, kubectlKustomize, kustomizeUnavailableReason } from "./support/kustomize";

// A scratch copy with fresh tokens: the real base/auth.env is gitignored and may not exist.
const tmp = mkdtempSync(join(tmpdir(), "symphony-k8s-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const k8sDir = join(tmp, "k8s");
cpSync(join(deployDir, "k8s"), k8sDir, {
  recursive: true,
  filter: (src) => !src.endsWith("auth.env"),
});
const tokens = spawnSync(join(k8sDir, "scripts/new-tokens.sh"), { encoding: "utf8" });
if (tokens.status !== 0) throw new Error(`new-tokens.sh failed: ${tokens.stderr}`);

// ---- object access ------------------------------------------------------------------------------

interface Container {
  name: string;
  image: string;
  args?: string[];
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: Record<string, Record<string, unknown>> }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    privileged?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Probe {
  grpc?: { port: number };
  httpGet?: { port: number | string; path?: string };
  tcpSocket?: { port: number | string };
}
interface Volume {
  name: string;
  secret?: { secretName: string; items?: { key: string; path: string }[]; optional?: boolean };
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string };
  emptyDir?: unknown;
  [k: string]: unknown;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  serviceAccountName?: string;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; seccompProfile?: { type: string } };
}
interface Pod {
  /** "Deployment/engine" */
  owner: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  spec: PodSpec;
  object: K8sObject;
}

function podOf(o: K8sObject): Pod | undefined {
  const spec = o.spec as Record<string, unknown> | undefined;
  if (o.kind === "Pod")
    return {
      owner: `Pod/${o.metadata.name}`,
      labels: (o.metadata.labels ?? {}) as Record<string, string>,
      annotations: (o.metadata.annotations ?? {}) as Record<string, string>,
      spec: spec as unknown as PodSpec,
      object: o,
    };
  const template = spec?.template as
    | { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec }
    | undefined;
  if (!template) return undefined;
  return {
    owner: `${o.kind}/${o.metadata.name}`,
    labels: template.metadata?.labels ?? {},
    annotations: template.metadata?.annotations ?? {},
    spec: template.spec,
    object: o,
  };
}

const find = (objects: K8sObject[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name);
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** `--name=value` or `--name value` in args; true for a bare boolean flag; undefined if absent. */
function flag(args: readonly string[] | undefined, name: string): string | true | undefined {
  for (let i = 0; i < (args ?? []).length; i++) {
    const a = args![i]!;
    if (a === `--${name}`) {
      const next = args![i + 1];
      return next !== undefined && !next.startsWith("--") ? next : true;
    }
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}
const flagValue = (args: readonly string[] | undefined, name: string): string | undefined => {
  const v = flag(args, name);
  return typeof v === "string" ? v : undefined;
};

/** Our four apps, by image repository (after kustomize's images: a registry may prefix it). */
const APPS = ["workloadgen", "scheduler", "node-scheduler", "mock-vllm"] as const;
type App = (typeof APPS)[number];
function appOf(c: Container): App | "vllm" | undefined {
  const repo = splitImage(c.image).name;
  if (/(^|\/)vllm\/vllm-openai$/.test(repo)) return "vllm";
  if (c.command) return undefined; // the image run as something else (the results pod)
  return APPS.find((app) => repo === `symphony/${app}` || repo.endsWith(`/${app}`));
}
const isEngine = (c: Container) => appOf(c) === "mock-vllm" || appOf(c) === "vllm";

function portNumber(c: Container, port: number | string): number | undefined {
  if (typeof port === "number") return c.ports?.some((p) => p.containerPort === port) ? port : undefined;
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

// ---- the renders ---------------------------------------------------------------------------------

const OVERLAYS = ["mock", "vllm"] as const;
const cluster = Object.fromEntries(
  OVERLAYS.map((overlay) => [overlay, render(join(k8sDir, "overlays", overlay))]),
) as Record<(typeof OVERLAYS)[number], K8sObject[]>;
const load = render(join(k8sDir, "load"));
/** Everything that ends up in the namespace when the load run is applied on top of an overlay. */
const withLoad = Object.fromEntries(OVERLAYS.map((o) => [o, [...cluster[o], ...load]])) as typeof cluster;

const renders: [string, K8sObject[]][] = [
  ...OVERLAYS.map((o) => [`overlays/${o}`, cluster[o]] as [string, K8sObject[]]),
  ["load", load],
];
const allPods = (objects: K8sObject[]) => objects.map(podOf).filter((p): p is Pod => p !== undefined);
const containersOf = (objects: K8sObject[]) =>
  allPods(objects).flatMap((pod) =>
    [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map((c) => ({ pod, c })),
  );

// ---- the renderer against the real kustomize, where a kubectl with kustomize v4+ is installed ----

// An optional cross-check (kubectl is not one of the project's installs), so it is registered only
// where kubectl is found rather than counted as skipped.
const noKustomize = kustomizeUnavailableReason();
if (noKustomize) console.warn(`[deploy] k8s comparison with kubectl kustomize not run: ${noKustomize}`);
else
  describe("render.mts vs kubectl kustomize", () => {
    it.each(renders)("%s -> the same objects (kustomize prints them sorted by kind)", (name, mine) => {
      expect(comparable(mine)).toEqual(comparable(kubectlKustomize(join(k8sDir, name))));
    });
  });

describe.each(renders)("%s", (_name, objects) => {
  it.each(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o] as const))(
    "%s -> valid against the Kubernetes OpenAPI schema, no unknown fields",
    async (_id, o) => {
      expect(await validateObject(o)).toEqual([]);
    },
  );

  it("every object -> in namespace symphony (cluster-scoped ones aside)", () => {
    for (const o of objects)
      if (o.kind !== "Namespace")
        expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe("symphony");
  });

  it("images -> pinned: a tag other than latest, or a digest", () => {
    for (const { pod, c } of containersOf(objects)) {
      const { tag, digest } = splitImage(c.image);
      expect(digest ?? tag, `${pod.owner} ${c.name}: ${c.image}`).toBeDefined();
      expect(tag, `${pod.owner} ${c.name}: ${c.image}`).not.toBe("latest");
    }
  });

  it("pods -> non-root, seccomp RuntimeDefault, no host namespaces, only restricted-profile volumes", () => {
    for (const pod of allPods(objects)) {
      const s = pod.spec;
      expect(s.securityContext?.runAsNonRoot, pod.owner).toBe(true);
      expect(s.securityContext?.runAsUser, pod.owner).toBeGreaterThan(0);
      expect(s.securityContext?.seccompProfile?.type, pod.owner).toBe("RuntimeDefault");
      expect([s.hostNetwork, s.hostPID, s.hostIPC].some(Boolean), pod.owner).toBe(false);
      for (const v of s.volumes ?? []) {
        const type = Object.keys(v).filter((k) => k !== "name");
        expect(type, `${pod.owner} volume ${v.name}`).toEqual([
          expect.stringMatching(/^(emptyDir|secret|configMap|persistentVolumeClaim|projected|downwardAPI)$/),
        ]);
      }
    }
  });

  it("containers -> no privilege escalation, ALL capabilities dropped, CPU and memory requested, memory limited", () => {
    for (const { pod, c } of containersOf(objects)) {
      const id = `${pod.owner} ${c.name}`;
      expect(c.securityContext?.allowPrivilegeEscalation, id).toBe(false);
      expect(c.securityContext?.privileged ?? false, id).toBe(false);
      expect(c.securityContext?.capabilities?.drop, id).toContain("ALL");
      expect(c.securityContext?.capabilities?.add ?? [], id).toEqual([]);
      expect(c.resources?.requests?.cpu, id).toBeDefined();
      expect(c.resources?.requests?.memory, id).toBeDefined();
      expect(c.resources?.limits?.memory, id).toBeDefined();
    }
  });

  it("read-only root filesystems -> everywhere but vLLM (JIT caches in unknown places)", () => {
    for (const { pod, c } of containersOf(objects))
      expect(c.securityContext?.readOnlyRootFilesystem, `${pod.owner} ${c.name}`).toBe(appOf(c) !== "vllm");
  });

  it("probes -> on a port the same container declares", () => {
    for (const { pod, c } of containersOf(objects))
      for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
        if (!probe) continue;
        const port = probe.grpc?.port ?? probe.httpGet?.port ?? probe.tcpSocket?.port;
        expect(
          port === undefined ? undefined : portNumber(c, port),
          `${pod.owner} ${c.name} probe port ${port}`,
        ).toBeDefined();
      }
  });

  it("long-running servers -> readiness and liveness probes; gRPC services probe grpc.health.v1", () => {
    for (const { pod, c } of containersOf(objects)) {
      const app = appOf(c);
      if (app === undefined || app === "workloadgen") continue;
      expect(c.readinessProbe, `${pod.owner} ${c.name}`).toBeDefined();
      expect(c.livenessProbe, `${pod.owner} ${c.name}`).toBeDefined();
      // Tokenizers and weights load before any port listens: liveness must wait for startup.
      if (app !== "scheduler") expect(c.startupProbe, `${pod.owner} ${c.name}`).toBeDefined();
      if (app === "scheduler" || app === "node-scheduler")
        expect(c.readinessProbe?.grpc?.port, `${pod.owner} ${c.name}`).toBe(
          Number(flagValue(c.args, "port")),
        );
    }
  });

  it("$(VAR) in args -> each VAR is an env var of the container", () => {
    for (const { pod, c } of containersOf(objects))
      for (const arg of c.args ?? [])
        for (const [, name] of arg.matchAll(/\$\(([A-Z0-9_]+)\)/g))
          expect(
            c.env?.map((e) => e.name),
            `${pod.owner} ${c.name}: ${arg}`,
          ).toContain(name);
  });
});

describe.each(OVERLAYS)("overlay %s: wiring", (overlay) => {
  const objects = withLoad[overlay];
  const pods = allPods(objects);
  const services = objects.filter((o) => o.kind === "Service");
  const containers = containersOf(objects);

  /** The containers behind host:port, where host is a Service in the namespace: [] if none. */
  function behindService(host: string, port: number) {
    const svc = find(objects, "Service", host);
    const sp = (
      svc?.spec as { ports: { port: number; targetPort?: number | string }[] } | undefined
    )?.ports.find((p) => p.port === port);
    if (!svc || !sp) return [];
    const selector = (svc.spec as { selector: Record<string, string> }).selector;
    return pods
      .filter((p) => matches(selector, p.labels))
      .flatMap((p) => p.spec.containers)
      .filter((c) => portNumber(c, sp.targetPort ?? sp.port) !== undefined)
      .map((c) => ({ c, containerPort: portNumber(c, sp.targetPort ?? sp.port)! }));
  }

  it.each(services.map((s) => [s.metadata.name, s] as const))(
    "Service %s -> selects a pod, and every targetPort is a port of a selected container",
    (_n, svc) => {
      const spec = svc.spec as {
        selector: Record<string, string>;
        ports: { port: number; targetPort?: number | string }[];
      };
      const selected = pods.filter((p) => matches(spec.selector, p.labels));
      expect(selected.length).toBeGreaterThan(0);
      for (const p of spec.ports)
        expect(
          selected.some((pod) =>
            pod.spec.containers.some((c) => portNumber(c, p.targetPort ?? p.port) !== undefined),
          ),
          `port ${p.port} -> ${p.targetPort}`,
        ).toBe(true);
    },
  );

  it("workload selectors -> match their own pod template labels", () => {
    for (const o of objects) {
      const selector = (o.spec as { selector?: { matchLabels?: Record<string, string> } } | undefined)
        ?.selector?.matchLabels;
      if (selector && o.kind !== "Service")
        expect(matches(selector, podOf(o)!.labels), `${o.kind}/${o.metadata.name}`).toBe(true);
    }
  });

  it("NetworkPolicies -> select pods, and name ports those pods declare", () => {
    for (const np of objects.filter((o) => o.kind === "NetworkPolicy")) {
      const spec = np.spec as {
        podSelector: { matchLabels: Record<string, string> };
        ingress: {
          from?: { podSelector: { matchLabels: Record<string, string> } }[];
          ports: { port: string | number }[];
        }[];
      };
      const selected = pods.filter((p) => matches(spec.podSelector.matchLabels, p.labels));
      expect(selected.length, np.metadata.name).toBeGreaterThan(0);
      for (const rule of spec.ingress) {
        for (const from of rule.from ?? [])
          expect(
            pods.some((p) => matches(from.podSelector.matchLabels, p.labels)),
            `${np.metadata.name} from`,
          ).toBe(true);
        for (const { port } of rule.ports)
          expect(
            selected.every((pod) => pod.spec.containers.some((c) => portNumber(c, port) !== undefined)),
            `${np.metadata.name} port ${port}`,
          ).toBe(true);
      }
    }
  });

  it("port flags (--port, --metrics-port) -> a containerPort of the same container", () => {
    let checked = 0;
    for (const { pod, c } of containers) {
      if (appOf(c) === undefined) continue;
      for (const name of ["port", "metrics-port"]) {
        const value = flagValue(c.args, name);
        if (value === undefined) continue;
        checked++;
        expect(portNumber(c, Number(value)), `${pod.owner} ${c.name} --${name}=${value}`).toBeDefined();
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it("--scheduler and workloadgen's --target -> a Service port that reaches the scheduler's --port", () => {
    const dialed = containers.flatMap(({ pod, c }) => {
      const v = flagValue(c.args, "scheduler") ?? flagValue(c.args, "target")?.replace(/^grpc:\/\//, "");
      return v === undefined ? [] : [{ id: `${pod.owner} ${c.name}`, address: v }];
    });
    expect(dialed.length).toBe(2); // the node-scheduler and the load Job
    for (const { id, address } of dialed) {
      const [host, port] = address.split(":");
      const targets = behindService(host!, Number(port));
      expect(targets.length, `${id}: ${address}`).toBeGreaterThan(0);
      for (const { c, containerPort } of targets) {
        expect(appOf(c), `${id}: ${address}`).toBe("scheduler");
        expect(Number(flagValue(c.args, "port"))).toBe(containerPort);
      }
    }
  });

  const enginePods = pods.filter((p) => p.spec.containers.some(isEngine));
  it("engine pods -> one engine and one node-scheduler each", () => {
    expect(enginePods.length).toBe(1);
    for (const pod of enginePods)
      expect(pod.spec.containers.map((c) => appOf(c)).sort()).toEqual(
        [overlay === "mock" ? "mock-vllm" : "vllm", "node-scheduler"].sort(),
      );
  });

  describe.each(enginePods.map((p) => [p.owner, p] as const))("%s", (_owner, pod) => {
    const engine = pod.spec.containers.find(isEngine)!;
    const node = pod.spec.containers.find((c) => appOf(c) === "node-scheduler")!;
    const kvConfig = JSON.parse(flagValue(engine.args, "kv-events-config")!) as Record<string, unknown>;

    it("--engine-url -> the engine's --port on the pod's loopback", () => {
      const url = new URL(flagValue(node.args, "engine-url")!);
      expect(url.hostname).toBe("127.0.0.1");
      expect(Number(url.port)).toBe(Number(flagValue(engine.args, "port")));
      expect(portNumber(engine, Number(url.port))).toBeDefined();
    });

    it("KV events -> the node binds the endpoint the engine's publisher connects to; replay on loopback", () => {
      expect(kvConfig).toMatchObject({ enable_kv_cache_events: true, publisher: "zmq" });
      const endpoint = kvConfig.endpoint as string;
      // vLLM binds an endpoint with "*" and connects to any other; the node must do the opposite.
      expect(endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
      expect(flagValue(node.args, "kv-events-endpoint")).toBe(endpoint);
      expect(flag(node.args, "kv-events-bind")).toBe(true);
      expect(kvConfig.replay_endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
      expect(flagValue(node.args, "kv-events-replay-endpoint")).toBe(kvConfig.replay_endpoint);
      expect(kvConfig.replay_endpoint).not.toBe(endpoint);
    });

    it("engine flags -> prefix caching, cached_tokens in usage, native CPU offload", () => {
      if (appOf(engine) === "vllm") expect(flag(engine.args, "enable-prefix-caching")).toBe(true); // mock: on by default
      expect(flag(engine.args, "enable-prompt-tokens-details")).toBe(true);
      expect(flagValue(engine.args, "kv-offloading-backend")).toBe("native");
      expect(Number(flagValue(engine.args, "kv-offloading-size"))).toBeGreaterThan(0);
    });

    it("--cpu-budget-tokens -> the engine's CPU tier at Llama 3 8B's 131072 bytes per token", () => {
      const gib = Number(flagValue(engine.args, "kv-offloading-size"));
      const bytesPerToken = Number(flagValue(node.args, "kv-bytes-per-token") ?? 131072);
      expect(Number(flagValue(node.args, "cpu-budget-tokens")) * bytesPerToken).toBe(gib * 2 ** 30);
    });

    // Registered only where it applies: CI counts a skipped test as a missing install step.
    if (appOf(engine) === "vllm")
      it("vLLM's memory limit -> above its CPU offload tier (pinned host memory)", () => {
        const gib = Number(flagValue(engine.args, "kv-offloading-size"));
        const limit = String(engine.resources!.limits!.memory);
        const m = /^(\d+)(Mi|Gi)$/.exec(limit)!;
        expect(Number(m[1]) * (m[2] === "Gi" ? 1 : 1 / 1024)).toBeGreaterThan(gib);
      });

    it("--node-id and --advertise-address -> the pod's name and IP (downward API), the node's --port", () => {
      const env = Object.fromEntries((node.env ?? []).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
      expect(flagValue(node.args, "node-id")).toBe("$(POD_NAME)");
      expect(env.POD_NAME).toBe("metadata.name");
      expect(flagValue(node.args, "advertise-address")).toBe(`$(POD_IP):${flagValue(node.args, "port")}`);
      expect(env.POD_IP).toBe("status.podIP");
      expect(flagValue(node.args, "host")).toBe("0.0.0.0");
      expect(flagValue(node.args, "prefetch-mode")).toBe("warmup");
    });

    it("GPU -> vLLM requests one; mock engines none", () => {
      const gpus = engine.resources?.limits?.["nvidia.com/gpu"];
      expect(gpus).toBe(appOf(engine) === "vllm" ? 1 : undefined);
    });
  });

  it("token flags -> a file in a mounted Secret volume whose item exists in the Secret", () => {
    let checked = 0;
    for (const { pod, c } of containers)
      for (const name of ["auth-token-file", "client-auth-token-file"]) {
        const path = flagValue(c.args, name);
        if (path === undefined) continue;
        checked++;
        const id = `${pod.owner} ${c.name} --${name}=${path}`;
        const mount = c.volumeMounts?.find((m) => path.startsWith(`${m.mountPath}/`));
        expect(mount, id).toBeDefined();
        const volume = pod.spec.volumes?.find((v) => v.name === mount!.name);
        expect(volume?.secret, id).toBeDefined();
        const item = volume!.secret!.items?.find((i) => `${mount!.mountPath}/${i.path}` === path);
        expect(item, id).toBeDefined();
        const secret = find(objects, "Secret", volume!.secret!.secretName);
        expect(Object.keys((secret?.data ?? {}) as object), id).toContain(item!.key);
      }
    expect(checked).toBe(4); // scheduler: node + client tokens; node-scheduler; workloadgen
  });

  it("node token -> the scheduler accepts the token nodes send; clients send a client token", () => {
    const keyOf = (app: App, name: string) => {
      const { pod, c } = containers.find(({ c }) => appOf(c) === app)!;
      const path = flagValue(c.args, name)!;
      const mount = c.volumeMounts!.find((m) => path.startsWith(`${m.mountPath}/`))!;
      const volume = pod.spec.volumes!.find((v) => v.name === mount.name)!;
      return volume.secret!.items!.find((i) => `${mount.mountPath}/${i.path}` === path)!.key;
    };
    expect(keyOf("node-scheduler", "auth-token-file")).toBe(keyOf("scheduler", "auth-token-file"));
    expect(keyOf("workloadgen", "auth-token-file")).toBe(keyOf("scheduler", "client-auth-token-file"));
  });

  it("referenced Secrets, ConfigMaps, PersistentVolumeClaims, ServiceAccounts -> exist (optional Secrets aside)", () => {
    const missing: string[] = [];
    const need = (kind: string, name: string, by: string) => {
      if (!find(objects, kind, name)) missing.push(`${by} -> ${kind}/${name}`);
    };
    for (const pod of pods) {
      for (const v of pod.spec.volumes ?? []) {
        if (v.secret && !v.secret.optional) need("Secret", v.secret.secretName, pod.owner);
        if (v.configMap) need("ConfigMap", v.configMap.name, pod.owner);
        if (v.persistentVolumeClaim)
          need("PersistentVolumeClaim", v.persistentVolumeClaim.claimName, pod.owner);
      }
      if (pod.spec.serviceAccountName) need("ServiceAccount", pod.spec.serviceAccountName, pod.owner);
      for (const c of pod.spec.containers)
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef as { name: string; optional?: boolean } | undefined;
          if (ref && !ref.optional) need("Secret", ref.name, `${pod.owner} ${c.name}`);
        }
    }
    for (const rb of objects.filter((o) => o.kind === "RoleBinding")) {
      need((rb.roleRef as { kind: string }).kind, (rb.roleRef as { name: string }).name, rb.metadata.name);
      for (const s of rb.subjects as { kind: string; name: string; namespace: string }[]) {
        need(s.kind, s.name, rb.metadata.name);
        expect(s.namespace).toBe("symphony");
      }
    }
    expect(missing).toEqual([]);
  });

  it("every volume mount -> names a volume of its pod", () => {
    for (const { pod, c } of containers)
      for (const m of c.volumeMounts ?? [])
        expect(
          pod.spec.volumes?.map((v) => v.name),
          `${pod.owner} ${c.name} ${m.mountPath}`,
        ).toContain(m.name);
  });

  describe("Prometheus", () => {
    const config = parse(
      (find(objects, "ConfigMap", "prometheus-config")!.data as Record<string, string>)["prometheus.yml"]!,
    ) as {
      scrape_configs: {
        job_name: string;
        relabel_configs?: { source_labels: string[]; regex: string; action?: string }[];
      }[];
    };
    const job = config.scrape_configs.find((j) => j.job_name === "symphony")!;
    const keep = (label: string) => {
      const rule = job.relabel_configs!.find((r) => r.action === "keep" && r.source_labels[0] === label)!;
      return new RegExp(`^(?:${rule.regex})$`); // Prometheus anchors relabel regexes
    };
    const portName = keep("__meta_kubernetes_pod_container_port_name");
    const scrape = keep("__meta_kubernetes_pod_annotation_prometheus_io_scrape");

    it("scrapes every metrics endpoint -> its port's name is kept, its pod is annotated", () => {
      const endpoints = containers.flatMap(({ pod, c }) => {
        const app = appOf(c);
        const port = isEngine(c)
          ? flagValue(c.args, "port")
          : app
            ? flagValue(c.args, "metrics-port")
            : undefined;
        return port === undefined ? [] : [{ pod, c, port: Number(port) }];
      });
      expect(endpoints.map(({ c }) => appOf(c)).sort()).toEqual(
        [overlay === "mock" ? "mock-vllm" : "vllm", "node-scheduler", "scheduler", "workloadgen"].sort(),
      );
      for (const { pod, c, port } of endpoints) {
        const name = c.ports!.find((p) => p.containerPort === port)?.name;
        expect(name, `${pod.owner} ${c.name}:${port}`).toMatch(portName);
        expect(pod.annotations["prometheus.io/scrape"], pod.owner).toMatch(scrape);
      }
    });

    it("no gRPC port -> scraped", () => {
      for (const { c } of containers)
        for (const p of c.ports ?? []) if (p.name === "grpc") expect(p.name).not.toMatch(portName);
    });

    it("its config file -> mounted where --config.file points; discovery -> allowed by its Role", () => {
      const pod = pods.find((p) => p.owner === "Deployment/prometheus")!;
      const c = pod.spec.containers[0]!;
      const file = flagValue(c.args, "config.file")!;
      const mount = c.volumeMounts!.find((m) => file === `${m.mountPath}/prometheus.yml`)!;
      expect(pod.spec.volumes!.find((v) => v.name === mount.name)!.configMap!.name).toBe("prometheus-config");
      const role = find(objects, "Role", "prometheus-discovery")!;
      expect(role.rules).toEqual([{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }]);
      expect(Number(flagValue(c.args, "web.listen-address")!.split(":").pop())).toBe(portNumber(c, "web"));
    });
  });
});

describe("load Job", () => {
  const job = find(load, "Job", "workloadgen")!;
  const spec = job.spec as { completionMode: string; completions: number; parallelism: number };
  const c = podOf(job)!.spec.containers[0]!;

  it("Indexed, --shard i/n with i = the completion index and n = completions = parallelism", () => {
    expect(spec.completionMode).toBe("Indexed");
    expect(flagValue(c.args, "shard")).toBe(`$(JOB_COMPLETION_INDEX)/${spec.completions}`);
    expect(spec.parallelism).toBe(spec.completions);
    const env = c.env!.find((e) => e.name === "JOB_COMPLETION_INDEX")!;
    expect(env.valueFrom!.fieldRef!.fieldPath).toBe(
      "metadata.annotations['batch.kubernetes.io/job-completion-index']",
    );
  });

  it("each shard -> its own results folder on the shared volume, which the results pod reads", () => {
    const out = flagValue(c.args, "out")!;
    expect(out).toContain("$(JOB_COMPLETION_INDEX)");
    const mount = c.volumeMounts!.find((m) => out.startsWith(`${m.mountPath}/`))!;
    const claim = podOf(job)!.spec.volumes!.find((v) => v.name === mount.name)!.persistentVolumeClaim!
      .claimName;
    const reader = podOf(find(load, "Pod", "results")!)!;
    const readerVolume = reader.spec.volumes!.find((v) => v.persistentVolumeClaim?.claimName === claim)!;
    expect(
      reader.spec.containers[0]!.volumeMounts!.find((m) => m.name === readerVolume.name)!.mountPath,
    ).toBe(mount.mountPath);
  });
});

// ---- every flag passed to our apps exists in that app's --help ------------------------------------

/** The long flags an app's --help lists, or undefined when its bundle is missing or fails. */
function helpFlags(app: App): Set<string> | undefined {
  const bundle = join(repoRoot, "dist/apps", app, "main.js");
  if (!existsSync(bundle)) return undefined;
  const r = spawnSync(process.execPath, [bundle, "--help"], { encoding: "utf8", timeout: 30_000 });
  if (r.status !== 0) return undefined;
  return new Set([...r.stdout.matchAll(/^\s+(?:-\w, )?(--[a-z0-9.-]+)/gm)].map((m) => m[1]!));
}

describe("flags passed to our apps", () => {
  const uses = renders.flatMap(([name, objects]) =>
    containersOf(objects).flatMap(({ pod, c }) => {
      const app = appOf(c);
      if (app === undefined || app === "vllm") return [];
      return (c.args ?? [])
        .filter((a) => a.startsWith("--"))
        .map((a) => ({ app, flag: a.split("=")[0]!, where: `${name} ${pod.owner} ${c.name}` }));
    }),
  );

  it("the flags of all four apps -> collected", () => {
    expect(new Set(uses.map((u) => u.app))).toEqual(new Set(APPS));
  });

  describe.each(APPS)("%s", (app) => {
    const known = helpFlags(app);
    if (!known)
      console.warn(
        `[deploy] k8s flag check SKIPPED for ${app}: dist/apps/${app}/main.js missing or --help failed (npm run build first)`,
      );
    const mine = [...new Map(uses.filter((u) => u.app === app).map((u) => [u.flag, u])).values()];
    it.skipIf(!known).each(mine.map((u) => [u.flag, u.where] as const))(
      "%s (%s) -> in its --help",
      (name) => {
        expect([...known!]).toContain(name);
      },
    );
  });
});
