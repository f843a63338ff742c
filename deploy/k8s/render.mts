// Renders a kustomization the way `kubectl apply -k` / `kustomize build` does, for exactly the
// kustomize features these manifests use, so the tests can check what a cluster would receive
// without kubectl, kustomize or a network:
//   resources        files (multi-document YAML) and directories holding a kustomization
//   namespace        metadata.namespace of every namespaced object, the name of a Namespace
//                    object, and RoleBinding subjects named "default" (others are left alone),
//                    as kustomize does
//   images           name -> newName / newTag / digest on every containers[] and initContainers[]
//   secretGenerator  envs files (KEY=VALUE lines) -> an Opaque Secret
//   generatorOptions disableNameSuffixHash: true (required here: no name hashing is implemented)
// Each kustomization's transformers apply to what it accumulated (its resources and their
// kustomizations), as in kustomize. Any other field is refused rather than silently ignored.
//
//   node deploy/k8s/render.mts deploy/k8s/overlays/mock      # the YAML stream kubectl would apply
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse, parseAllDocuments, stringify } from "yaml";

/** A rendered Kubernetes object (plain JSON). */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface ImageEntry {
  name: string;
  newName?: string;
  newTag?: string;
  digest?: string;
}
interface SecretGeneratorEntry {
  name: string;
  type?: string;
  envs?: string[];
}
interface Kustomization {
  apiVersion?: string;
  kind?: string;
  namespace?: string;
  resources?: string[];
  images?: ImageEntry[];
  secretGenerator?: SecretGeneratorEntry[];
  generatorOptions?: { disableNameSuffixHash?: boolean };
}

const SUPPORTED_FIELDS = new Set([
  "apiVersion",
  "kind",
  "namespace",
  "resources",
  "images",
  "secretGenerator",
  "generatorOptions",
]);
const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/** Kinds without a namespace, among those a kustomization here could hold. */
const CLUSTER_SCOPED = new Set([
  "Namespace",
  "ClusterRole",
  "ClusterRoleBinding",
  "PersistentVolume",
  "StorageClass",
  "CustomResourceDefinition",
  "PriorityClass",
  "IngressClass",
  "RuntimeClass",
  "ValidatingWebhookConfiguration",
  "MutatingWebhookConfiguration",
]);

export class RenderError extends Error {}

/** The objects `kustomize build dir` would print, in resource order (generated objects last). */
export function render(dir: string): K8sObject[] {
  const root = resolve(dir);
  const file = KUSTOMIZATION_FILES.map((f) => join(root, f)).find((f) => existsSync(f));
  if (!file) throw new RenderError(`${root}: no kustomization.yaml`);
  const k = (parse(readFileSync(file, "utf8"), { version: "1.1" }) ?? {}) as Kustomization;
  for (const key of Object.keys(k))
    if (!SUPPORTED_FIELDS.has(key))
      throw new RenderError(`${file}: field "${key}" is not supported by this renderer (see render.mts)`);

  const objects: K8sObject[] = [];
  for (const entry of k.resources ?? []) {
    const path = resolve(root, entry);
    if (!existsSync(path)) throw new RenderError(`${file}: resource "${entry}" does not exist`);
    if (statSync(path).isDirectory()) objects.push(...render(path));
    else objects.push(...readObjects(path));
  }
  if (k.secretGenerator?.length && k.generatorOptions?.disableNameSuffixHash !== true)
    throw new RenderError(`${file}: secretGenerator needs generatorOptions.disableNameSuffixHash: true here`);
  for (const gen of k.secretGenerator ?? []) objects.push(generateSecret(root, file, gen));

  if (k.namespace !== undefined) for (const o of objects) setNamespace(o, k.namespace);
  for (const image of k.images ?? []) for (const o of objects) setImage(o, image);
  return objects;
}

function readObjects(path: string): K8sObject[] {
  const out: K8sObject[] = [];
  // YAML 1.1, as Kubernetes reads manifests (go-yaml): `defaultMode: 0440` is octal (288).
  for (const doc of parseAllDocuments(readFileSync(path, "utf8"), { version: "1.1" })) {
    if (doc.errors.length) throw new RenderError(`${path}: ${doc.errors[0]!.message}`);
    const o = doc.toJS() as K8sObject | null;
    if (o === null) continue;
    if (
      typeof o.apiVersion !== "string" ||
      typeof o.kind !== "string" ||
      typeof o.metadata?.name !== "string"
    )
      throw new RenderError(`${path}: every document needs apiVersion, kind and metadata.name`);
    out.push(o);
  }
  return out;
}

/** kustomize's envs file format: KEY=VALUE per line, blank lines and # comments skipped. */
export function parseEnvFile(text: string, path: string): Record<string, string> {
  const data: Record<string, string> = {};
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) throw new RenderError(`${path}:${i + 1}: expected KEY=VALUE`);
    data[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return data;
}

function generateSecret(root: string, file: string, gen: SecretGeneratorEntry): K8sObject {
  const data: Record<string, string> = {};
  for (const env of gen.envs ?? []) {
    const path = resolve(root, env);
    if (!existsSync(path))
      throw new RenderError(`${file}: secretGenerator ${gen.name}: "${env}" does not exist (${path})`);
    for (const [key, value] of Object.entries(parseEnvFile(readFileSync(path, "utf8"), path)))
      data[key] = Buffer.from(value, "utf8").toString("base64");
  }
  return { apiVersion: "v1", kind: "Secret", metadata: { name: gen.name }, type: gen.type ?? "Opaque", data };
}

function setNamespace(o: K8sObject, namespace: string): void {
  // kustomize's namespace field specs include metadata/name of kind Namespace: it is renamed.
  if (o.kind === "Namespace") o.metadata.name = namespace;
  if (CLUSTER_SCOPED.has(o.kind)) return;
  o.metadata.namespace = namespace;
  if (o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding")
    for (const s of (o.subjects ?? []) as { name?: string; namespace?: string }[])
      if (s.name === "default") s.namespace = namespace;
}

/** Splits "registry/name:tag@digest" into its name and the rest, as kustomize's image parser. */
export function splitImage(image: string): { name: string; tag?: string; digest?: string } {
  const at = image.indexOf("@");
  const digest = at >= 0 ? image.slice(at + 1) : undefined;
  const rest = at >= 0 ? image.slice(0, at) : image;
  const colon = rest.lastIndexOf(":");
  // A colon before the last "/" belongs to a registry port (localhost:5000/app).
  if (colon > rest.lastIndexOf("/"))
    return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), ...(digest ? { digest } : {}) };
  return { name: rest, ...(digest ? { digest } : {}) };
}

function setImage(node: unknown, entry: ImageEntry): void {
  if (Array.isArray(node)) {
    for (const item of node) setImage(item, entry);
    return;
  }
  if (node === null || typeof node !== "object") return;
  for (const [key, value] of Object.entries(node as Record<string, unknown>)) {
    if ((key === "containers" || key === "initContainers") && Array.isArray(value)) {
      for (const c of value as { image?: string }[]) {
        if (typeof c.image !== "string") continue;
        const parsed = splitImage(c.image);
        if (parsed.name !== entry.name) continue;
        const name = entry.newName ?? parsed.name;
        if (entry.digest) c.image = `${name}@${entry.digest}`;
        else if (entry.newTag) c.image = `${name}:${entry.newTag}`;
        else
          c.image = `${name}${parsed.tag !== undefined ? `:${parsed.tag}` : ""}${parsed.digest ? `@${parsed.digest}` : ""}`;
      }
    } else setImage(value, entry);
  }
}

/** The objects as one YAML stream, as `kustomize build` prints them. */
export function toYaml(objects: readonly K8sObject[]): string {
  return objects.map((o) => stringify(o, { lineWidth: 0 })).join("---\n");
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === resolve(import.meta.filename ?? "")) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write("usage: node deploy/k8s/render.mts <kustomization dir>\n");
    process.exit(2);
  }
  try {
    process.stdout.write(toYaml(render(dir)));
  } catch (err) {
    if (!(err instanceof RenderError)) throw err;
    process.stderr.write(`error: ${err.message}\n`);
    process.exit(2);
  }
}
