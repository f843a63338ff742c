// `npm start`: the whole stack as local processes on loopback (2 mock engines, 2 node-schedulers,
// the scheduler), one short workloadgen run on the sample dataset, its results table, then a
// clean shutdown. Bundled by esbuild and run on Node 24 (see package.json "start").
import { spawn } from "node:child_process";
import { join } from "node:path";
import { bundlePath, repoRoot, startLocalStack } from "@symphony/testkit";

const TIME_SCALE = 10; // think times and engine timing both run 10x faster than real time
const DURATION_S = 30;

async function main(): Promise<void> {
  const outDir = join(repoRoot, "results", `start-${new Date().toISOString().replace(/[:.]/g, "-")}`);
  process.stdout.write("Starting the local stack (2 mock-vllm, 2 node-schedulers, 1 scheduler)...\n");
  const stack = await startLocalStack({
    nodes: 2,
    timeScale: TIME_SCALE,
    onStarted: (s) => process.stdout.write(`  ${s.name.padEnd(18)} up: ${JSON.stringify(s.ports)}\n`),
  });
  let stopping = false;
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write("Stopping the stack...\n");
    await stack.stop();
  };
  process.once("SIGINT", () => void shutdown().then(() => process.exit(130)));
  process.once("SIGTERM", () => void shutdown().then(() => process.exit(143)));

  const [host, port] = stack.schedulerAddress.split(":") as [string, string];
  const args = [
    "--enable-source-maps",
    bundlePath("workloadgen"),
    "--scheduler-ip",
    host,
    "--scheduler-port",
    port,
    "--num-clients",
    "8",
    "--duration",
    String(DURATION_S),
    "--time-scale",
    String(TIME_SCALE),
    "--out",
    outDir,
  ];
  process.stdout.write(`Running workloadgen for ${DURATION_S} s (time scale ${TIME_SCALE}x)...\n`);
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "inherit", "inherit"] });
    child.once("exit", resolve);
    // A stack service that dies mid-run makes the results meaningless: say so and stop.
    for (const service of [...stack.mocks, ...stack.nodes, stack.scheduler]) {
      service.child.once("exit", (exitCode) => {
        if (stopping) return;
        process.stderr.write(`${service.name} exited unexpectedly (code ${exitCode}); stopping the run\n`);
        child.kill("SIGTERM");
      });
    }
  });
  await shutdown();
  process.stdout.write(`Results: ${outDir}/summary.json, ${outDir}/requests.jsonl\n`);
  process.exit(code ?? 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`npm start failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
