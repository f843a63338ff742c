// Runs rendered Kubernetes containers as local processes inside a private network and mount
// namespace (`unshare -n -m`, root): its own loopback, so the manifests' fixed ports are free and
// nobody else's, and an /etc/hosts where each Service name resolves to it, as cluster DNS would.
// Run by Node 24 directly (type stripping). Input (argv[2], JSON): { hosts, scheduler: Proc, pod: Proc[], load: Proc, dir, timeoutMs }.
// Output (stdout, one JSON line): what happened. Started only by k8s-pods.test.ts.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

interface Proc {
  name: string;
  command: string[];
  env: Record<string, string>;
}
interface Input {
  dir: string;
  hosts: string[];
  scheduler: Proc;
  pod: Proc[];
  load: Proc;
  schedulerMetricsPort: number;
  nodeMetricsPort: number;
  timeoutMs: number;
}
const input = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as Input;
execFileSync("ip", ["link", "set", "lo", "up"]);
const hostsFile = join(input.dir, "hosts");
writeFileSync(hostsFile, `127.0.0.1 localhost\n${input.hosts.map((h) => `127.0.0.1 ${h}`).join("\n")}\n`);
execFileSync("mount", ["--bind", hostsFile, "/etc/hosts"]);

const children: ChildProcess[] = [];
function start(proc: Proc): ChildProcess {
  const log = openSync(join(input.dir, `${proc.name}.log`), "w");
  const child = spawn(proc.command[0]!, proc.command.slice(1), {
    env: { PATH: process.env.PATH, ...proc.env },
    stdio: ["ignore", log, log],
  });
  children.push(child);
  return child;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function metrics(port: number): Promise<string> {
  try {
    return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  } catch {
    return "";
  }
}
/** Sum of a metric's samples (all label sets). */
const total = (text: string, name: string) =>
  text
    .split("\n")
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((s, l) => s + Number(l.trim().split(/\s+/).pop()), 0);

const result: Record<string, unknown> = {};
const deadline = Date.now() + input.timeoutMs;
try {
  start(input.scheduler);
  for (const proc of input.pod) start(proc);
  const t0 = Date.now();
  result.nodeUp = false;
  while (Date.now() < deadline) {
    if (/^scheduler_nodes\{state="up"\} 1$/m.test(await metrics(input.schedulerMetricsPort))) {
      result.nodeUp = true;
      break;
    }
    await sleep(200);
  }
  result.nodeUpAfterMs = Date.now() - t0;
  const load = start(input.load);
  result.loadExit = await new Promise<number | string | null>((resolve) => {
    const timer = setTimeout(() => resolve("timeout"), Math.max(deadline - Date.now(), 0));
    load.on("exit", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  const node = await metrics(input.nodeMetricsPort);
  result.kvEvents = total(node, "symphony_node_kv_events_total");
  result.schedulerMetrics = (await metrics(input.schedulerMetricsPort)).length > 0;
} finally {
  for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
  await sleep(500);
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
}
process.stdout.write(`${JSON.stringify(result)}\n`);
