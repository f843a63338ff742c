// The kustomize subset in deploy/k8s/render.mts against hand-written expectations of what
// `kustomize build` prints for the same inputs, and the token script the base's secretGenerator reads.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseEnvFile, render, RenderError, splitImage } from "../k8s/render.mjs";
import { deployDir } from "./support/docker";
import { comparable, kubectlKustomize, kustomizeUnavailableReason } from "./support/kustomize";

const tmp = mkdtempSync(join(tmpdir(), "symphony-k8s-render-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes files (path -> text) under a fresh folder and returns it. */
function tree(name: string, files: Record<string, string>): string {
  const root = join(tmp, name);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const deployment = (name: string, images: string[]) => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name} }
spec:
  template:
    spec:
      initContainers: [{ name: init, image: ${images[0]} }]
      containers:
${images
  .slice(1)
  .map((image, i) => `        - { name: c${i}, image: "${image}" }`)
  .join("\n")}
`;

describe("render (kustomize subset)", () => {
  const root = tree("layered", {
    "base/kustomization.yaml": `
namespace: base-ns
resources: [objects.yaml]
images:
  - { name: app/a, newTag: "1.0" }
secretGenerator:
  - { name: auth, envs: [auth.env] }
generatorOptions: { disableNameSuffixHash: true }
`,
    "base/auth.env": "# tokens\nnode-token=abc\n\nclient-token=x=y\n",
    "base/objects.yaml": `${deployment("in-base", ["app/a", "app/a", "app/b:2"])}
---
apiVersion: v1
kind: Namespace
metadata: { name: renamed }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: cluster-wide }
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: rb, namespace: other }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: Role, name: r }
subjects:
  - { kind: ServiceAccount, name: default }
  - { kind: ServiceAccount, name: prometheus, namespace: fixed }
`,
    "overlay/kustomization.yaml": `
namespace: overlay-ns
resources: [../base, extra.yaml]
images:
  - { name: app/b, newName: registry.example:5000/team/b, newTag: "3.1" }
  - { name: app/c, digest: "sha256:0123" }
`,
    "overlay/extra.yaml": deployment("in-overlay", ["app/a", "app/c:9", "app/b"]),
  });

  const objects = render(join(root, "overlay"));
  const byName = (name: string) => objects.find((o) => o.metadata.name === name)!;
  const images = (name: string) => {
    const spec = (byName(name).spec as { template: { spec: Record<string, { image: string }[]> } }).template
      .spec;
    return [...spec.initContainers!, ...spec.containers!].map((c) => c.image);
  };

  it("resources depth-first, a kustomization's generated objects after its resources -> accumulation order", () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      "Deployment/in-base",
      "Namespace/overlay-ns",
      "ClusterRole/cluster-wide",
      "RoleBinding/rb",
      "Secret/auth",
      "Deployment/in-overlay",
    ]);
  });

  it("namespace -> the outermost wins on namespaced objects and renames a Namespace object", () => {
    expect(byName("in-base").metadata.namespace).toBe("overlay-ns");
    expect(byName("in-overlay").metadata.namespace).toBe("overlay-ns");
    expect(byName("rb").metadata.namespace).toBe("overlay-ns");
    expect(byName("cluster-wide").metadata.namespace).toBeUndefined();
    expect(byName("overlay-ns")).toEqual({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "overlay-ns" },
    });
  });

  it("namespace on a RoleBinding -> only the subject named default follows", () => {
    expect(byName("rb").subjects).toEqual([
      { kind: "ServiceAccount", name: "default", namespace: "overlay-ns" },
      { kind: "ServiceAccount", name: "prometheus", namespace: "fixed" },
    ]);
  });

  it("images -> a kustomization's entries apply to what it accumulated, not to its parent's files", () => {
    // base's app/a -> 1.0 reaches base's Deployment only; the overlay's app/b and app/c reach both.
    expect(images("in-base")).toEqual(["app/a:1.0", "app/a:1.0", "registry.example:5000/team/b:3.1"]);
    expect(images("in-overlay")).toEqual(["app/a", "app/c@sha256:0123", "registry.example:5000/team/b:3.1"]);
  });

  it("secretGenerator envs -> an Opaque Secret, values base64, comments and blank lines skipped", () => {
    expect(byName("auth")).toEqual({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "auth", namespace: "overlay-ns" },
      type: "Opaque",
      data: { "node-token": "YWJj", "client-token": Buffer.from("x=y").toString("base64") },
    });
  });

  // Registered only where a kubectl with kustomize v4+ is found (not one of the project's installs).
  if (kustomizeUnavailableReason() === undefined)
    it("the same tree through kubectl kustomize -> the same objects (the expectations above are kustomize's)", () => {
      expect(comparable(objects)).toEqual(comparable(kubectlKustomize(join(root, "overlay"))));
    });

  it.each([
    [
      "an unsupported field",
      { "kustomization.yaml": "commonLabels: { a: b }\n" },
      /field "commonLabels" is not supported/,
    ],
    [
      "a missing resource",
      { "kustomization.yaml": "resources: [nope.yaml]\n" },
      /resource "nope.yaml" does not exist/,
    ],
    [
      "a missing envs file",
      {
        "kustomization.yaml":
          "secretGenerator: [{ name: s, envs: [x.env] }]\ngeneratorOptions: { disableNameSuffixHash: true }\n",
      },
      /secretGenerator s: "x.env" does not exist/,
    ],
    [
      "a hashed secret name",
      { "kustomization.yaml": "secretGenerator: [{ name: s, envs: [x.env] }]\n", "x.env": "a=b\n" },
      /disableNameSuffixHash: true/,
    ],
    [
      "a document without a name",
      { "kustomization.yaml": "resources: [a.yaml]\n", "a.yaml": "kind: Pod\n" },
      /metadata.name/,
    ],
    ["no kustomization", { "other.yaml": "" }, /no kustomization.yaml/],
  ])("%s -> RenderError naming it", (name, files, message) => {
    const dir = tree(`bad-${name.replace(/\W+/g, "-")}`, files);
    expect(() => render(dir)).toThrow(RenderError);
    expect(() => render(dir)).toThrow(message);
  });
});

describe("render, YAML", () => {
  it("defaultMode: 0440 -> 288, octal, as Kubernetes reads manifests (YAML 1.1), not 440", () => {
    const dir = tree("octal", {
      "kustomization.yaml": "resources: [cm.yaml]\n",
      "cm.yaml":
        "apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec:\n  volumes: [{ name: v, secret: { secretName: s, defaultMode: 0440 } }]\n",
    });
    const [pod] = render(dir);
    expect(
      (pod!.spec as { volumes: { secret: { defaultMode: number } }[] }).volumes[0]!.secret.defaultMode,
    ).toBe(0o440);
  });
});

describe("render helpers", () => {
  it.each([
    ["app", { name: "app" }],
    ["app:1.2", { name: "app", tag: "1.2" }],
    ["localhost:5000/app", { name: "localhost:5000/app" }],
    ["localhost:5000/app:v1", { name: "localhost:5000/app", tag: "v1" }],
    ["app@sha256:ab", { name: "app", digest: "sha256:ab" }],
    ["app:1@sha256:ab", { name: "app", tag: "1", digest: "sha256:ab" }],
  ])("splitImage(%s)", (image, want) => {
    expect(splitImage(image)).toEqual(want);
  });

  it("parseEnvFile, a line without = -> error with file and line", () => {
    expect(() => parseEnvFile("a=1\nnonsense\n", "f.env")).toThrow("f.env:2: expected KEY=VALUE");
  });
});

describe("scripts/new-tokens.sh", () => {
  const script = join(deployDir, "k8s/scripts/new-tokens.sh");
  // The script writes beside itself (../base/auth.env): run a copy in a scratch tree.
  const root = tree("tokens", { "base/.keep": "" });
  mkdirSync(join(root, "scripts"));
  writeFileSync(join(root, "scripts/new-tokens.sh"), readFileSync(script), { mode: 0o755 });
  const run = (...args: string[]) =>
    execFileSync(join(root, "scripts/new-tokens.sh"), args, { encoding: "utf8", stdio: "pipe" });
  const envFile = join(root, "base/auth.env");

  it("writes two different 256-bit hex tokens, readable only by the owner", () => {
    run();
    const data = parseEnvFile(readFileSync(envFile, "utf8"), envFile);
    expect(Object.keys(data)).toEqual(["node-token", "client-token"]);
    for (const token of Object.values(data)) expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(data["node-token"]).not.toBe(data["client-token"]);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
  });

  it("an existing file -> kept; --force -> new tokens", () => {
    const before = readFileSync(envFile, "utf8");
    run();
    expect(readFileSync(envFile, "utf8")).toBe(before);
    run("--force");
    expect(readFileSync(envFile, "utf8")).not.toBe(before);
  });
});
