// Each overlay with the load Job, run: the scheduler's container, one engine pod's two containers
// (the vllm overlay's vLLM container runs mock-vllm, which takes vLLM's flags) and shard 0 of the Job, started from the built bundles with exactly the rendered
// args and env (downward API values filled in as the kubelet would: pod name, pod IP, completion
// index), Secret and volume mounts mapped to scratch folders, in a private network namespace where
// the Service name resolves to loopback. Proves what the static checks cannot: the flags work
// together (the node registers with the node token, the engine's KV events reach the node over the
// in-pod ZMQ wiring, workloadgen is admitted with the client token and its turns complete).
// Needs root and unshare(1) (network + mount namespaces); skipped with a reason otherwise.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type K8sObject, render, splitImage } from "../k8s/render.mjs";
import { deployDir, repoRoot } from "./support/docker";

interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { fieldRef?: { fieldPath: string }; secretKeyRef?: object };
  }[];
  volumeMounts?: { name: string; mountPath: string }[];
}
interface Volume {
  name: string;
  secret?: { secretName: string; items: { key: string; path: string }[] };
  persistentVolumeClaim?: { claimName: string };
}
interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
}
interface Proc {
  name: string;
  command: string[];
  env: Record<string, string>;
}

const APPS = ["scheduler", "node-scheduler", "mock-vllm", "workloadgen"];
const bundle = (app: string) => join(repoRoot, "dist/apps", app, "main.js");

function skipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (network and mount namespaces)";
  const probe = spawnSync("unshare", ["-n", "-m", "ip", "link", "set", "lo", "up"], { encoding: "utf8" });
  if (probe.error || probe.status !== 0)
    return `unshare -n -m failed (${probe.error?.message ?? probe.stderr.trim()})`;
  const missing = APPS.filter((app) => !existsSync(bundle(app)));
  if (missing.length) return `bundles missing (${missing.join(", ")}): npm run build first`;
  return undefined;
}
const skip = skipReason();
if (skip) console.warn(`[deploy] k8s pods-as-processes test SKIPPED: ${skip}`);

const tmp = mkdtempSync(join(tmpdir(), "symphony-k8s-pods-"));
afterAll(() => {
  if (process.env.SYMPHONY_DEPLOY_KEEP_RESULTS)
    console.log(`[deploy] k8s pods: logs and results kept in ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
});

/**
 * The bundle a container runs: the last path segment of its image repository; vLLM's container
 * runs mock-vllm, which takes vLLM's flags, with exactly the vLLM container's args.
 */
const appOf = (c: Container) => {
  const app = splitImage(c.image).name.split("/").pop()!;
  return app === "vllm-openai" ? "mock-vllm" : app;
};

/**
 * A container as a local process: downward-API env resolved, $(VAR) expanded in args (Kubernetes'
 * rule), each volume mount's path replaced by a scratch folder holding the Secret's items.
 */
function processOf(
  scratch: string,
  objects: K8sObject[],
  podName: string,
  spec: PodSpec,
  c: Container,
  fields: Record<string, string>,
): Proc {
  const env: Record<string, string> = {};
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath]!;
  }
  const mounts = (c.volumeMounts ?? []).map((m) => {
    const local = join(scratch, podName, m.name);
    mkdirSync(local, { recursive: true });
    const volume = spec.volumes!.find((v) => v.name === m.name)!;
    if (volume.secret) {
      const secret = objects.find(
        (o) => o.kind === "Secret" && o.metadata.name === volume.secret!.secretName,
      )!;
      for (const item of volume.secret.items) {
        const value = Buffer.from((secret.data as Record<string, string>)[item.key]!, "base64");
        writeFileSync(join(local, item.path), value, { mode: 0o440 });
      }
    }
    return { from: m.mountPath, to: local };
  });
  const args = (c.args ?? []).map((a) => {
    let out = a.replace(/\$\(([A-Z0-9_]+)\)/g, (whole, name: string) => env[name] ?? whole);
    for (const { from, to } of mounts) out = out.replace(`=${from}/`, `=${to}/`);
    return out;
  });
  return { name: `${podName}-${c.name}`, command: [process.execPath, bundle(appOf(c)), ...args], env };
}

describe.skipIf(skip !== undefined).each(["mock", "vllm"])(
  "overlay %s + load Job, run as processes",
  (overlay) => {
    it("node registers with the token, KV events flow in the pod, shard 0's turns complete", () => {
      const scratch = join(tmp, overlay);
      const k8sDir = join(scratch, "k8s");
      cpSync(join(deployDir, "k8s"), k8sDir, { recursive: true, filter: (src) => !src.endsWith("auth.env") });
      expect(spawnSync(join(k8sDir, "scripts/new-tokens.sh")).status).toBe(0);
      const objects = [...render(join(k8sDir, "overlays", overlay)), ...render(join(k8sDir, "load"))];
      const templateOf = (kind: string, name: string) => {
        const o = objects.find((x) => x.kind === kind && x.metadata.name === name)!;
        return (o.spec as { template: { spec: PodSpec } }).template.spec;
      };

      const scheduler = templateOf("Deployment", "scheduler");
      const engine = templateOf("Deployment", "engine");
      const job = templateOf("Job", "workloadgen");
      const fields = {
        "metadata.name": "engine-0",
        "status.podIP": "127.0.0.1",
        "metadata.annotations['batch.kubernetes.io/job-completion-index']": "0",
      };
      const load = processOf(scratch, objects, "workloadgen-0", job, job.containers[0]!, fields);
      // A short run of the same Job: fewer clients and turns, same flags otherwise.
      const sized = (a: string) =>
        a
          .replace(/^--num-clients=.*/, "--num-clients=6")
          .replace(/^--duration=.*/, "--duration=20")
          .replace(/^--max-requests=.*/, "--max-requests=9");
      load.command = load.command.map(sized);
      const input = {
        dir: scratch,
        hosts: objects.filter((o) => o.kind === "Service").map((o) => o.metadata.name),
        scheduler: processOf(scratch, objects, "scheduler-0", scheduler, scheduler.containers[0]!, fields),
        pod: engine.containers.map((c) => processOf(scratch, objects, "engine-0", engine, c, fields)),
        load,
        schedulerMetricsPort: 9464,
        nodeMetricsPort: 9461,
        timeoutMs: 150_000,
      };
      const inputFile = join(scratch, "input.json");
      writeFileSync(inputFile, JSON.stringify(input));
      const run = spawnSync(
        "unshare",
        ["-n", "-m", process.execPath, join(__dirname, "support/k8s-pod-driver.mts"), inputFile],
        { encoding: "utf8", timeout: 180_000 },
      );
      const logs = () =>
        ["scheduler-0-scheduler", "engine-0-engine", "engine-0-node-scheduler", "workloadgen-0-workloadgen"]
          .map(
            (n) =>
              `--- ${n}\n${existsSync(join(scratch, `${n}.log`)) ? readFileSync(join(scratch, `${n}.log`), "utf8").slice(-2000) : "(none)"}`,
          )
          .join("\n");
      expect(run.status, `${run.stderr}\n${logs()}`).toBe(0);
      const result = JSON.parse(run.stdout) as {
        nodeUp: boolean;
        nodeUpAfterMs: number;
        loadExit: number | string;
        kvEvents: number;
      };
      console.log(
        `[deploy] k8s pods (${overlay}): node up after ${result.nodeUpAfterMs} ms, ${result.kvEvents} KV events at the node`,
      );
      expect(result.loadExit, logs()).toBe(0);
      expect(result.nodeUp, logs()).toBe(true);
      expect(result.kvEvents, logs()).toBeGreaterThan(0);

      const out = load.command.find((a) => a.startsWith("--out="))!.slice("--out=".length);
      const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")) as {
        completed: number;
        failed: number;
      };
      expect(summary.failed, logs()).toBe(0);
      expect(summary.completed, logs()).toBeGreaterThan(0);
      expect(dirname(out)).toBe(join(scratch, "workloadgen-0", "results"));
    });
  },
);
