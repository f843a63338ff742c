/**
 * Routing policies side by side on the real stack: 3 mock-vllm engines, 3 node-schedulers
 * registering with the scheduler bundle. For each policy, the same multi-turn chat sessions
 * (whole conversation sent every turn) run and the share of prompt tokens served from the
 * engines' prefix caches (Finished.usage.cached_tokens / prompt_tokens) and the time to first
 * token are reported.
 *
 * Usage: npm run bench:policies -w @symphony/scheduler [-- --sessions 12 --turns 4]
 */
import { bundlePath, spawnService, type RunningService } from "@symphony/testkit";
import { runTurn, schedulerClient, turn } from "../test/client";

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) {
    process.stderr.write(`error: --${name} expects a positive integer, got "${process.argv[i + 1]}"\n`);
    process.exit(2);
  }
  return v;
}

const SYSTEM = "You are a concise assistant for a distributed-systems course. ".repeat(8);

async function runPolicy(policy: string, sessions: number, turns: number) {
  const procs: RunningService[] = [];
  try {
    const scheduler = await spawnService(
      "scheduler",
      bundlePath("scheduler"),
      ["--port", "0", "--metrics-port", "0", "--policy", policy, "--log-level", "info"],
      ["grpc", "metrics"],
    );
    procs.push(scheduler);
    for (let i = 0; i < 3; i++) {
      const engine = await spawnService(
        `mock-vllm-${i}`,
        bundlePath("mock-vllm"),
        ["--port", "0", "--time-scale", "20", "--kv-connector", "--enable-prompt-tokens-details"],
        ["http"],
      );
      procs.push(engine);
      procs.push(
        await spawnService(
          `node-${i}`,
          bundlePath("node-scheduler"),
          [
            ...["--port", "0", "--metrics-port", "0", "--node-id", `node-${i}`],
            ...["--engine-url", `http://127.0.0.1:${engine.ports.http}/v1`],
            ...["--scheduler", `127.0.0.1:${scheduler.ports.grpc}`, "--register-retry-ms", "200"],
          ],
          ["grpc"],
        ),
      );
    }
    const client = schedulerClient(scheduler.ports.grpc!);
    for (let i = 0; i < 100; i++) {
      const status = await new Promise<{ nodes: { state: string }[] }>((res, rej) =>
        client.clusterStatus({}, (e, r) => (e ? rej(e) : res(r))),
      );
      if (status.nodes.filter((n) => n.state === "up").length === 3) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    let prompt = 0;
    let cached = 0;
    let errors = 0;
    const ttfts: number[] = [];
    await Promise.all(
      Array.from({ length: sessions }, async (_, s) => {
        const history: { role: number; content: string }[] = [{ role: 1, content: SYSTEM }];
        for (let t = 0; t < turns; t++) {
          history.push({
            role: 2,
            content: `Session ${s}, question ${t}: explain consistent hashing in one line.`,
          });
          const t0 = performance.now();
          let first = 0;
          const r = await runTurn(
            client,
            turn(`cmp-${s}`, t, { messages: [...history], maxOutputTokens: 32, ignoreEos: true }),
            {
              timeoutMs: 60_000,
              onEvent: (ev) => {
                if (!first && ev.event?.$case === "token") first = performance.now() - t0;
              },
            },
          );
          if (r.error || r.status) {
            errors++;
            continue;
          }
          const fin = r.events.find((e) => e.event?.$case === "finished")?.event;
          if (fin?.$case === "finished" && fin.value.usage) {
            prompt += fin.value.usage.promptTokens;
            cached += fin.value.usage.cachedTokens;
          }
          ttfts.push(first);
          history.push({ role: 3, content: r.text });
        }
      }),
    );
    client.close();
    ttfts.sort((a, b) => a - b);
    return {
      policy,
      turns: ttfts.length,
      errors,
      cachedShare: Math.round((cached / Math.max(1, prompt)) * 1000) / 1000,
      ttftP50Ms: Math.round(ttfts[Math.floor(ttfts.length / 2)] ?? 0),
    };
  } finally {
    for (const p of procs.reverse()) await p.stop();
  }
}

async function main() {
  const sessions = arg("sessions", 12);
  const turns = arg("turns", 4);
  const rows = [];
  for (const policy of ["round-robin", "least-loaded", "session-affinity", "kv-aware"]) {
    rows.push(await runPolicy(policy, sessions, turns));
    process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
  }
  process.stdout.write(`${JSON.stringify({ sessions, turns, rows }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
