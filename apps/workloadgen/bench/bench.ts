/**
 * Speed targets of workloadgen (not tests: timing depends on the machine).
 * Run: `npm run bench -w @symphony/workloadgen`. Exits 1 if a target is missed.
 *
 * 1. Planning: a 1-hour, 100 sessions/s open-loop plan (360k sessions) drained and serialized
 *    as plan.jsonl lines in under 5 s.
 * 2. Run loop: client-side overhead per request, measured on virtual time against an instant
 *    in-memory target (no network), at least 20k requests/s.
 * 3. Prompt synthesis: at least 2M tokens/s of deterministic prompt text.
 */
import { loadTokenizer, VirtualTimers } from "@symphony/common";
import {
  LoadRunner,
  OpenLoopSource,
  planLine,
  PromptSynthesizer,
  ThinkTimeModel,
  type ClientProfileConfig,
  type Target,
} from "../src/domain";

const profile: ClientProfileConfig = {
  profile_name: "chat",
  weight: 1,
  inter_arrival_time_dist_config: { type: "Poisson", rate: 100 },
  prompt_tokens_dist_config: { type: "LogNormal", mean: 128, sigma: 64, is_int: true, min: 1 },
  max_output_tokens_dist_config: { type: "LogNormal", mean: 256, sigma: 128, is_int: true, min: 1 },
  conversational_probability: 0.3,
  follow_up_delay_dist_config: { type: "Exponential", mean: 20 },
  follow_up_turns_dist_config: { type: "Poisson", mean: 2 },
  streaming_response_probability: 1,
  priority: "normal",
};

let failed = false;
function report(name: string, value: number, unit: string, ok: boolean, target: string): void {
  failed ||= !ok;
  console.log(`${ok ? "PASS" : "FAIL"}  ${name}: ${value.toFixed(2)} ${unit} (target ${target})`);
}

// 1. Planning.
{
  const t0 = performance.now();
  const source = new OpenLoopSource([profile], { seed: 1, totalDuration: 3600 });
  let sessions = 0;
  let bytes = 0;
  for (let p = source.next(); p; p = source.next()) {
    sessions++;
    bytes += planLine(p).length + 1;
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`      plan: ${sessions} sessions, ${(bytes / 1e6).toFixed(1)} MB of plan.jsonl`);
  report("1-hour 100/s open-loop plan", s, "s", s < 5, "< 5 s");
}

// 2. Run loop overhead.
{
  const timers = new VirtualTimers();
  const target: Target = {
    submit(_turn, h) {
      h.started({ nodeId: "n", queueTimeUs: 0, kvTier: "new" });
      for (let i = 0; i < 8; i++) h.token(" word", 1);
      h.finished({
        nodeId: "n",
        promptTokens: 100,
        completionTokens: 8,
        cachedTokens: 0,
        finishReason: "stop",
      });
      return { cancel() {} };
    },
    advise() {},
    closeSession() {},
  };
  const n = 50_000;
  let records = 0;
  const runner = new LoadRunner(
    {
      timers,
      target,
      source: new OpenLoopSource([profile], { seed: 2, totalDuration: 1e9 }),
      thinkTime: new ThinkTimeModel({ readCharsPerSec: 25, typeCharsPerSec: 6, speedJitter: 0 }),
      synth: new PromptSynthesizer(2, loadTokenizer("llama3")),
    },
    {
      mode: "open",
      concurrency: 1,
      maxRequests: n,
      durationUs: Infinity,
      timeScale: 1,
      hints: true,
      runId: "b",
    },
    () => records++,
    () => {},
  );
  const t0 = performance.now();
  runner.start();
  timers.runAll();
  const s = (performance.now() - t0) / 1000;
  report(
    "run loop (virtual time, instant target)",
    records / s,
    "req/s",
    records === n && records / s > 20_000,
    "> 20000 req/s",
  );
}

// 3. Prompt synthesis.
{
  const synth = new PromptSynthesizer(3, loadTokenizer("llama3"));
  const t0 = performance.now();
  let tokens = 0;
  for (let i = 0; i < 2000; i++) {
    synth.text(`k${i}`, 1000);
    tokens += 1000;
  }
  const s = (performance.now() - t0) / 1000;
  report("prompt synthesis", tokens / s / 1e6, "M tokens/s", tokens / s > 2e6, "> 2 M tokens/s");
}

process.exit(failed ? 1 : 0);
