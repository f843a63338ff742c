import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { ClusterStatusResponse, SchedulerServiceClient } from "@symphony/runtime";
import {
  bundlePath,
  runCli,
  spawnService,
  type RunningService,
  startScheduler as startSchedulerBundle,
} from "@symphony/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runTurn, schedulerClient, turn } from "../client";
import { FakeNode } from "../fake-node";

// Hostile callers: registration hijacks, other clients' sessions, no TLS.

const FAST = [
  "--poll-interval-ms",
  "100",
  "--heartbeat-interval-ms",
  "200",
  "--heartbeat-timeout-ms",
  "4000",
];
const TLS_DIR = join(__dirname, "..", "fixtures", "tls");
const tlsFile = (name: string) => join(TLS_DIR, name);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "sched-security-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeTokens(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function unary<Req, Res>(
  fn: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
  req: Req,
): Promise<{ err: grpc.ServiceError | null; res: Res | undefined }> {
  return new Promise((resolve) => fn(req, (err, res) => resolve({ err, res: err ? undefined : res })));
}

const registerNode = (c: SchedulerServiceClient, nodeId: string, address: string) =>
  unary(c.registerNode.bind(c), { nodeId, address });
const clusterStatus = (c: SchedulerServiceClient) =>
  unary<object, ClusterStatusResponse>(c.clusterStatus.bind(c), {});

async function waitFor(what: string, pred: () => Promise<boolean> | boolean, timeoutMs = 10_000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function spawnScheduler(args: string[], name = "scheduler"): Promise<RunningService> {
  return startSchedulerBundle([], [...FAST, ...args], { name: name });
}

describe("scheduler without auth (the loopback default)", () => {
  let node: FakeNode;
  let svc: RunningService;
  let client: SchedulerServiceClient;

  beforeAll(async () => {
    node = await FakeNode.start({ nodeId: "real", tokens: 2 });
    svc = await spawnScheduler([]);
    client = schedulerClient(svc.ports.grpc!);
    await node.registerWith(`127.0.0.1:${svc.ports.grpc}`);
  });
  afterAll(async () => {
    client?.close();
    await svc?.stop();
    await node?.stop();
  });

  it("RegisterNode claiming a live node's id from a dead address -> ALREADY_EXISTS, turns keep reaching the real node", async () => {
    const { err } = await registerNode(client, "real", "127.0.0.1:1");
    expect(err?.code).toBe(grpc.status.ALREADY_EXISTS);
    expect(err?.details).toMatch(/node id "real" is live at 127\.0\.0\.1:\d+/);
    // The real node's heartbeats go on; the hijack never took hold.
    await new Promise((r) => setTimeout(r, 500));
    const view = (await clusterStatus(client)).res!.nodes;
    expect(view).toMatchObject([{ nodeId: "real", address: node.address, state: "up" }]);
    const r = await runTurn(client, turn("after-hijack", 0));
    expect(r.error).toBeUndefined();
    expect(r.nodeId).toBe("real");
  });

  it("RegisterNode under a new id at a live node's address -> ALREADY_EXISTS (no rename)", async () => {
    const { err } = await registerNode(client, "impostor", node.address);
    expect(err?.code).toBe(grpc.status.ALREADY_EXISTS);
    expect((await clusterStatus(client)).res!.nodes.map((n) => n.nodeId)).toEqual(["real"]);
  });
});

describe("scheduler with --auth-token-file and --client-auth-token-file", () => {
  let node: FakeNode;
  let svc: RunningService;
  let anon: SchedulerServiceClient;
  let alice: SchedulerServiceClient;
  let bob: SchedulerServiceClient;
  let schedulerAddress: string;

  beforeAll(async () => {
    node = await FakeNode.start({ nodeId: "n1", tokens: 2 });
    svc = await spawnScheduler([
      "--auth-token-file",
      writeTokens("nodes", "# the cluster's node token\nnode-secret\n"),
      "--client-auth-token-file",
      writeTokens("clients", "alice-secret\nbob-secret\n"),
    ]);
    schedulerAddress = `127.0.0.1:${svc.ports.grpc}`;
    anon = schedulerClient(svc.ports.grpc!);
    alice = schedulerClient(svc.ports.grpc!, { authToken: "alice-secret" });
    bob = schedulerClient(svc.ports.grpc!, { authToken: "bob-secret" });
    await node.registerWith(schedulerAddress, "node-secret");
  });
  afterAll(async () => {
    for (const c of [anon, alice, bob]) c?.close();
    await svc?.stop();
    await node?.stop();
  });

  it.each([
    ["no token", undefined, /requires "authorization: Bearer <token>"/],
    ["a wrong token", "guess", /invalid token/],
    ["a client's token", "alice-secret", /invalid token/],
  ])("RegisterNode with %s -> UNAUTHENTICATED, nothing registered", async (_what, token, message) => {
    const c = schedulerClient(svc.ports.grpc!, { authToken: token });
    try {
      const { err } = await registerNode(c, "evil", "127.0.0.1:1");
      expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect(err?.details).toMatch(message);
      const hb = await unary(c.heartbeat.bind(c), { nodeId: "n1", draining: true });
      expect(hb.err?.code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      c.close();
    }
    const view = (await clusterStatus(alice)).res!.nodes;
    expect(view.map((n) => [n.nodeId, n.state])).toEqual([["n1", "up"]]);
  });

  it("a node with the token hijacking a live id from another address -> ALREADY_EXISTS", async () => {
    const insider = schedulerClient(svc.ports.grpc!, { authToken: "node-secret" });
    try {
      const { err } = await registerNode(insider, "n1", "127.0.0.1:1");
      expect(err?.code).toBe(grpc.status.ALREADY_EXISTS);
    } finally {
      insider.close();
    }
  });

  it("client calls without a token -> UNAUTHENTICATED; with one -> served", async () => {
    const r = await runTurn(anon, turn("anon", 0));
    expect(r.status?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await clusterStatus(anon)).err?.code).toBe(grpc.status.UNAUTHENTICATED);
    const close = await unary(anon.closeSession.bind(anon), { sessionId: "x" });
    expect(close.err?.code).toBe(grpc.status.UNAUTHENTICATED);
    const advise = await unary(anon.advise.bind(anon), {
      sessionId: "x",
      clientId: "",
      expectedArrivalMs: 10,
      expectedPromptTokens: 0,
      nextTurnIndex: 1,
    });
    expect(advise.err?.code).toBe(grpc.status.UNAUTHENTICATED);
    const ok = await runTurn(alice, turn("alice-0", 0));
    expect(ok.status).toBeUndefined();
    expect(ok.text).toBe("t0 t1 ");
  });

  it("another client's session: Submit, Advise and CloseSession -> PERMISSION_DENIED; the owner closes it", async () => {
    expect((await runTurn(alice, turn("alice-s", 0))).status).toBeUndefined();
    expect((await runTurn(bob, turn("alice-s", 1))).status?.code).toBe(grpc.status.PERMISSION_DENIED);
    const hint = {
      sessionId: "alice-s",
      clientId: "",
      expectedArrivalMs: 10,
      expectedPromptTokens: 0,
      nextTurnIndex: 1,
    };
    expect((await unary(bob.advise.bind(bob), hint)).err?.code).toBe(grpc.status.PERMISSION_DENIED);
    const denied = await unary(bob.closeSession.bind(bob), { sessionId: "alice-s" });
    expect(denied.err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(node.closed).not.toContain("alice-s");
    expect((await unary(alice.advise.bind(alice), hint)).err).toBeNull();
    expect((await runTurn(alice, turn("alice-s", 1))).status).toBeUndefined();
    const closed = await unary(alice.closeSession.bind(alice), { sessionId: "alice-s" });
    expect(closed.err).toBeNull();
    expect(node.closed).toContain("alice-s");
  });

  it("workloadgen with --auth-token-file -> its turns are served; without it -> every turn UNAUTHENTICATED", async () => {
    const tokenFile = writeTokens("alice", "alice-secret\n");
    const run = async (extra: string[], out: string) => {
      const r = await runCli(bundlePath("workloadgen"), [
        "--target",
        `grpc://${schedulerAddress}`,
        "--num-clients",
        "2",
        "--max-requests",
        "4",
        "--duration",
        "20",
        "--max-output-tokens",
        "4",
        "--time-scale",
        "1000",
        "--out",
        join(dir, out),
        ...extra,
      ]);
      const summary = JSON.parse(readFileSync(join(dir, out, "summary.json"), "utf8")) as {
        completed: number;
        failed: number;
      };
      const records = readFileSync(join(dir, out, "requests.jsonl"), "utf8");
      return { r, summary, records };
    };
    const authed = await run(["--auth-token-file", tokenFile], "wg-authed");
    expect(authed.r.code).toBe(0);
    expect(authed.summary).toMatchObject({ completed: 4, failed: 0 });
    // The token never lands in the outputs.
    expect(readFileSync(join(dir, "wg-authed", "summary.json"), "utf8")).not.toContain("alice-secret");
    const anonymous = await run([], "wg-anon");
    expect(anonymous.summary).toMatchObject({ completed: 0, failed: 4 });
    expect(anonymous.records).toContain("UNAUTHENTICATED");
  });

  it("a node-scheduler bundle with --auth-token-file registers; without it, it is refused and keeps retrying", async () => {
    // No engine behind them (its health probes are off, or the node would rightly leave rotation).
    const common = [
      ...["--port", "0", "--metrics-port", "0", "--engine-url", "http://127.0.0.1:1/v1"],
      ...["--engine-health-interval-ms", "0"],
    ];
    const good = await spawnService(
      "node-good",
      bundlePath("node-scheduler"),
      [
        ...common,
        "--node-id",
        "good",
        "--scheduler",
        schedulerAddress,
        "--auth-token-file",
        join(dir, "nodes"),
      ],
      ["grpc"],
    );
    const bad = await spawnService(
      "node-bad",
      bundlePath("node-scheduler"),
      [...common, "--node-id", "bad", "--scheduler", schedulerAddress, "--register-retry-ms", "100"],
      ["grpc"],
    );
    try {
      await waitFor("node good registered", async () =>
        (await clusterStatus(alice)).res!.nodes.some((n) => n.nodeId === "good" && n.state === "up"),
      );
      await waitFor("node bad refused", () =>
        bad.logs.some((l) => String(l.error ?? "").includes("UNAUTHENTICATED")),
      );
      expect((await clusterStatus(alice)).res!.nodes.map((n) => n.nodeId)).not.toContain("bad");
    } finally {
      await Promise.all([good.stop(), bad.stop()]);
    }
  });
});

describe("scheduler over TLS and mTLS", () => {
  let node: FakeNode;
  beforeAll(async () => {
    node = await FakeNode.start({ nodeId: "tls-node", tokens: 2 });
  });
  afterAll(async () => node?.stop());

  const ca = () => readFileSync(tlsFile("ca.pem"));

  it("--tls-cert/--tls-key: a client trusting the CA runs a turn; a plaintext client cannot", async () => {
    const svc = await spawnScheduler([
      "--nodes",
      node.address,
      "--tls-cert",
      tlsFile("server.pem"),
      "--tls-key",
      tlsFile("server.key"),
    ]);
    const secure = schedulerClient(svc.ports.grpc!, {
      host: "localhost",
      credentials: grpc.credentials.createSsl(ca()),
    });
    const plain = schedulerClient(svc.ports.grpc!);
    try {
      await waitFor("node up", async () => (await clusterStatus(secure)).res?.nodes[0]?.state === "up");
      const r = await runTurn(secure, turn("tls", 0));
      expect(r.status).toBeUndefined();
      expect(r.text).toBe("t0 t1 ");
      const p = await runTurn(plain, turn("plain", 0), { timeoutMs: 2000 });
      expect(p.status?.code).toBeOneOf([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);
    } finally {
      secure.close();
      plain.close();
      await svc.stop();
    }
  });

  it("--tls-ca (mTLS): a client without a certificate is refused; one with a CA-signed certificate is served", async () => {
    const svc = await spawnScheduler([
      "--nodes",
      node.address,
      "--tls-cert",
      tlsFile("server.pem"),
      "--tls-key",
      tlsFile("server.key"),
      "--tls-ca",
      tlsFile("ca.pem"),
    ]);
    const withCert = schedulerClient(svc.ports.grpc!, {
      host: "localhost",
      credentials: grpc.credentials.createSsl(
        ca(),
        readFileSync(tlsFile("client.key")),
        readFileSync(tlsFile("client.pem")),
      ),
    });
    const noCert = schedulerClient(svc.ports.grpc!, {
      host: "localhost",
      credentials: grpc.credentials.createSsl(ca()),
    });
    try {
      await waitFor("node up", async () => (await clusterStatus(withCert)).res?.nodes[0]?.state === "up");
      expect((await runTurn(withCert, turn("mtls", 0))).status).toBeUndefined();
      const r = await runTurn(noCert, turn("no-cert", 0), { timeoutMs: 2000 });
      expect(r.status?.code).toBeOneOf([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);
    } finally {
      withCert.close();
      noCert.close();
      await svc.stop();
    }
  });

  it("unreadable --tls-cert -> one line naming the flag, exit 2", async () => {
    const r = await runCli(bundlePath("scheduler"), [
      "--port",
      "0",
      "--metrics-port",
      "0",
      "--tls-cert",
      "/nonexistent.pem",
      "--tls-key",
      tlsFile("server.key"),
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: --tls-cert: cannot read "\/nonexistent\.pem" \(ENOENT\)$/);
  });
});
