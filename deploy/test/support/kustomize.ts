import { spawnSync } from "node:child_process";
import { parseAllDocuments } from "yaml";
import type { K8sObject } from "../../k8s/render.mjs";

/**
 * Why `kubectl kustomize` cannot serve as the reference here, or undefined when it can: kubectl
 * must be installed with an embedded kustomize v4 or later (Debian's kubectl 1.20 has v2).
 */
export function kustomizeUnavailableReason(): string | undefined {
  const r = spawnSync("kubectl", ["version", "--client"], { encoding: "utf8", timeout: 20_000 });
  if (r.error || r.status !== 0) return "kubectl is not installed";
  const m = /Kustomize Version: v(\d+)/.exec(r.stdout);
  if (!m || Number(m[1]) < 4)
    return `kubectl's kustomize is older than v4 (${r.stdout.trim().split("\n")[0]})`;
  return undefined;
}

/** `kubectl kustomize dir`, parsed as Kubernetes parses YAML (1.1). Throws with kubectl's stderr. */
export function kubectlKustomize(dir: string): K8sObject[] {
  const out = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8", timeout: 60_000 });
  if (out.status !== 0) throw new Error(`kubectl kustomize ${dir}: ${out.stderr}`);
  return parseAllDocuments(out.stdout, { version: "1.1" }).map((d) => d.toJS() as K8sObject);
}

/** Objects by kind/name, Secret data decoded (kustomize wraps base64 at 76 columns). */
export function comparable(objects: readonly K8sObject[]): Record<string, unknown> {
  return Object.fromEntries(
    objects.map((o) => [
      `${o.kind}/${o.metadata.name}`,
      o.kind === "Secret"
        ? {
            ...o,
            data: Object.fromEntries(
              Object.entries((o.data ?? {}) as Record<string, string>).map(([k, v]) => [
                k,
                Buffer.from(v, "base64").toString(),
              ]),
            ),
          }
        : o,
    ]),
  );
}
