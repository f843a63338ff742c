// Offline validation of rendered objects against the Kubernetes OpenAPI schema, as packaged by
// kubernetes-models (its generated validators: types, required fields, enums, formats such as
// quantities). Those validators accept unknown fields, which the API server rejects (kubectl's
// strict field validation) or, worse, drops; so field names are checked here too, against the
// interfaces in the package's type declarations (generated from the same OpenAPI document).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { K8sObject } from "./render.mjs";

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/** kubernetes-models module for an apiVersion: "v1" -> kubernetes-models/v1, "apps/v1" -> .../apps/v1. */
async function modelClass(apiVersion: string, kind: string): Promise<ModelClass | undefined> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(`kubernetes-models/${apiVersion}`)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  return mod[kind] as ModelClass | undefined;
}

/** Schema errors of one object ([] = valid): the OpenAPI validator's, then unknown fields. */
export async function validateObject(o: K8sObject): Promise<string[]> {
  const Model = await modelClass(o.apiVersion, o.kind);
  if (!Model) return [`${o.apiVersion} ${o.kind}: no such kind in the Kubernetes API (kubernetes-models)`];
  const errors: string[] = [];
  try {
    new Model(o).validate();
  } catch (err) {
    errors.push(...String((err as Error).message).split(", "));
  }
  errors.push(...unknownFields(o, typeFile(o.apiVersion, o.kind)));
  return errors;
}

/** node_modules/<name> as Node would find it from `from` (the package is ESM-only: no require.resolve). */
function findPackage(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dirname(dir) === dir) throw new Error(`package ${name} not found from ${from}`);
  }
}
const packageDir = findPackage("kubernetes-models", dirname(fileURLToPath(import.meta.url)));

function typeFile(apiVersion: string, kind: string): string {
  return join(packageDir, apiVersion, `${kind}.d.ts`);
}

interface Shape {
  /** field -> declaration file of its type, or null for a leaf (string, number, map, IntOrString...) */
  fields: Map<string, string | null>;
}
const shapes = new Map<string, Shape | null>();

/**
 * The fields of the first interface declared in a .d.ts file of kubernetes-models, or null when
 * the file declares none (a type alias such as Quantity or IntOrString: no fields to check).
 */
function shapeOf(file: string): Shape | null {
  if (shapes.has(file)) return shapes.get(file)!;
  const text = readFileSync(file, "utf8");
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm))
    imports.set(m[1]!, resolveImport(file, m[2]!));
  const decl = /^export interface \w+(?: extends (\w+))? \{$/m.exec(text);
  let shape: Shape | null = null;
  if (decl) {
    const fields = new Map<string, string | null>();
    if (decl[1] === "TypeMeta") fields.set("apiVersion", null).set("kind", null);
    const body = text.slice(decl.index + decl[0].length, text.indexOf("\n}", decl.index));
    for (const m of body.matchAll(/^ {4}"([^"]+)"\??: (.*)$/gm)) {
      const ref = /^(?:Array<)?(I\w+)>?;$/.exec(m[2]!.trim());
      fields.set(m[1]!, ref && imports.has(ref[1]!) ? imports.get(ref[1]!)! : null);
    }
    shape = { fields };
  }
  shapes.set(file, shape);
  return shape;
}

function resolveImport(from: string, spec: string): string {
  if (spec.startsWith(".")) return resolve(dirname(from), spec.replace(/\.js$/, ".d.ts"));
  // "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta": a sibling package.
  const pkg = spec.split("/").slice(0, 2).join("/");
  return join(findPackage(pkg, packageDir), spec.slice(pkg.length + 1) + ".d.ts");
}

/** Paths of fields the schema does not have, e.g. "spec.template.spec.containers[0].readinesProbe". */
export function unknownFields(value: unknown, file: string, path = ""): string[] {
  if (value === null || typeof value !== "object" || !existsSync(file)) return [];
  const shape = shapeOf(file);
  if (!shape) return [];
  const errors: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const at = path ? `${path}.${key}` : key;
    if (!shape.fields.has(key)) {
      errors.push(`${at}: unknown field`);
      continue;
    }
    const childFile = shape.fields.get(key);
    if (!childFile) continue;
    if (Array.isArray(child))
      child.forEach((item, i) => errors.push(...unknownFields(item, childFile, `${at}[${i}]`)));
    else errors.push(...unknownFields(child, childFile, at));
  }
  return errors;
}
