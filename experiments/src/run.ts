import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Logger } from "@symphony/runtime";
import type { Config, ScaleName } from "./config";
import { runScale, writeDataset, type ScaleResult } from "./experiment";
import { inProcessRunner, type PointRunner } from "./point-runner";
import {
  capacityCsv,
  capacityTable,
  chartSvg,
  commonSessions,
  equalLoadTable,
  htmlReport,
  pointsCsv,
  sessionsCell,
  sideBySideTable,
} from "./report";

const SCALE_TITLES: Record<ScaleName, string> = {
  sim: "Simulated cluster",
  "sim-small": "Simulated small scale (the live setup, in virtual time)",
  live: "Live local stack",
};

/** Config 4 vs config 1 in one scale: the figures the issue asks the README to state. */
export function headline(r: ScaleResult): Record<string, number | null> {
  const cap = (c: string) => r.capacities.find((x) => x.config === c);
  const base = cap("baseline");
  const hints = cap("hints");
  const n = commonSessions(r);
  const at = (c: string) => r.points.find((p) => p.config === c && p.sessions === n);
  const ok = (x: number | undefined) => (x !== undefined && Number.isFinite(x) ? x : null);
  return {
    sessions_ratio: base && hints && base.max_sessions > 0 ? hints.max_sessions / base.max_sessions : null,
    baseline_max_sessions: ok(base?.max_sessions),
    hints_max_sessions: ok(hints?.max_sessions),
    common_sessions: ok(n),
    e2el_mean_speedup_at_common: ok(
      (at("baseline")?.e2el_mean_ms ?? NaN) / (at("hints")?.e2el_mean_ms ?? NaN),
    ),
    ttft_mean_ratio_at_common: ok((at("hints")?.ttft_mean_ms ?? NaN) / (at("baseline")?.ttft_mean_ms ?? NaN)),
    /** p99 TTFT of config 4 at its capacity relative to config 1 at its capacity (the "latency cost" of the extra sessions). */
    ttft_p99_at_capacity_ratio: ok((hints?.at_max?.ttft_p99_ms ?? NaN) / (base?.at_max?.ttft_p99_ms ?? NaN)),
  };
}

/** Config 4 vs config 1 per scale, beside the paper's claims. */
export function headlineTable(results: readonly ScaleResult[]): string {
  const x = (v: number | null | undefined, d = 2) =>
    v === null || v === undefined ? "n/a" : `${v.toFixed(d)}×`;
  const rows = results.map((r) => {
    const h = headline(r);
    const cap = (c: string) => {
      const found = r.capacities.find((k) => k.config === c);
      return found ? sessionsCell(found) : "n/a";
    };
    const bounded = r.capacities.some(
      (k) => (k.config === "baseline" || k.config === "hints") && k.lower_bound,
    );
    return `| ${r.name} | ${cap("baseline")} → ${cap("hints")} (${x(h.sessions_ratio)}${bounded ? ", a bound" : ""}) | ${x(h.ttft_p99_at_capacity_ratio)} | ${h.common_sessions ?? "n/a"} | ${x(h.e2el_mean_speedup_at_common)} | ${x(h.ttft_mean_ratio_at_common)} |`;
  });
  return (
    [
      "| scale | sessions at SLO, 1 → 4 | p99 TTFT at capacity, 4 / 1 | same-load sessions | mean E2EL speed-up, 1 / 4 | mean TTFT, 4 / 1 |",
      "| --- | --- | --- | --- | --- | --- |",
      ...rows,
      "| paper (Symphony vs vLLM) | up to 4× | ~1.013× (1.3 % latency cost) | | up to 2.4× | |",
    ].join("\n") + "\n"
  );
}

function describeScale(name: ScaleName, c: Config): string {
  const s = name === "sim" ? c.sim : c.live;
  return (
    `${s.nodes} nodes (llama3-8b-h100 engine model${name === "live" ? `, mock-vllm --time-scale ${s.engineTimeScale}` : ""}), ` +
    `KV ${s.kvTokens} tokens/node, CPU tier ${s.cpuTokens} tokens/node (configs 3-4), ` +
    `sessions ${s.sessions.join(",")}, ${s.durationS} s per point (first ${s.warmupS} s not counted), think times / ${s.thinkTimeScale}`
  );
}

/** Everything in the results folder, rewritten after each scale so a failure keeps what was measured. */
function writeOutputs(dir: string, c: Config, results: ScaleResult[], startedAt: string): string {
  const sections: { heading: string; markdown: string }[] = [];
  for (const r of results) {
    const name = r.name as ScaleName;
    sections.push({ heading: `${SCALE_TITLES[name]}: setup`, markdown: describeScale(name, c) });
    sections.push({
      heading: `${SCALE_TITLES[name]}: capacity at p99 TTFT <= ${c.sloP99TtftMs} ms`,
      markdown: capacityTable(r),
    });
    sections.push({ heading: `${SCALE_TITLES[name]}: same load`, markdown: equalLoadTable(r) });
  }
  sections.push({
    heading: "Headline: configuration 4 vs configuration 1",
    markdown: headlineTable(results),
  });
  const sim = results.find((r) => r.name === "sim-small");
  const live = results.find((r) => r.name === "live");
  if (sim && live)
    sections.push({ heading: "Small scale: simulated vs live", markdown: sideBySideTable(sim, live) });
  const md = [
    `# symphony-effect results (${startedAt})\n`,
    `SLO: p99 TTFT <= ${c.sloP99TtftMs} ms. Seed ${c.seed}. Dataset: ${c.dataset.conversations} synthetic chats, ` +
      `${c.dataset.minTurns}-${c.dataset.maxTurns} turns, prompts ~${c.dataset.meanPromptTokens} tokens, replies ~${c.dataset.meanReplyTokens} tokens.\n`,
    ...sections.map((s) => `## ${s.heading}\n\n${s.markdown}`),
    `![sessions vs p99 TTFT](chart.svg)\n`,
  ].join("\n");
  writeFileSync(join(dir, "results.md"), md);
  writeFileSync(join(dir, "results.csv"), pointsCsv(results));
  writeFileSync(join(dir, "capacity.csv"), capacityCsv(results));
  writeFileSync(
    join(dir, "results.json"),
    JSON.stringify(
      {
        experiment: c.experiment,
        started_at: startedAt,
        // Without --jobs, which changes no result.
        config: { ...c, jobs: undefined, configs: c.configs.map((x) => x.name) },
        headline: Object.fromEntries(results.map((r) => [r.name, headline(r)])),
        scales: results,
      },
      null,
      2,
    ) + "\n",
  );
  writeFileSync(join(dir, "chart.svg"), chartSvg(results, c.sloP99TtftMs));
  writeFileSync(join(dir, "report.html"), htmlReport(`symphony-effect (${startedAt})`, sections, results));
  return md;
}

/** Runs the experiment's scales in order and writes results/symphony-effect-<timestamp>/. */
export async function runExperiment(
  c: Config,
  logger: Logger,
  write: (s: string) => void,
  runner: PointRunner = inProcessRunner(),
): Promise<ScaleResult[]> {
  const startedAt = new Date().toISOString();
  const dir = resolve(c.outDir, `symphony-effect-${startedAt.replaceAll(":", "-").replace(/\.\d+Z$/, "Z")}`);
  mkdirSync(dir, { recursive: true });
  const datasetPath = writeDataset(join(dir, "dataset.json"), c.dataset, c.seed);
  logger.info("experiment started", { out: dir, scales: c.scales, configs: c.configs.map((x) => x.name) });
  const results: ScaleResult[] = [];
  const t0 = performance.now();
  const measureScale = (name: ScaleName): Promise<ScaleResult> =>
    runScale({
      name,
      scale: name === "sim" ? c.sim : name === "sim-small" ? { ...c.live, mode: "sim" as const } : c.live,
      configs: c.configs,
      datasetPath,
      seed: c.seed,
      sloP99TtftMs: c.sloP99TtftMs,
      logger,
      runner,
    });
  // Simulated scales up to the next live one run side by side (their points share the runner);
  // a live scale starts when everything before it has finished, so its timings have the machine.
  const started = new Map<ScaleName, Promise<ScaleResult>>();
  for (const [i, name] of c.scales.entries()) {
    if (name !== "live" && !started.has(name))
      for (const next of c.scales.slice(i)) {
        if (next === "live") break;
        const r = measureScale(next);
        r.catch(() => {}); // awaited in its turn
        started.set(next, r);
      }
    const r = await (started.get(name) ?? measureScale(name));
    results.push(r);
    writeOutputs(dir, c, results, startedAt);
    write(
      `\n## ${SCALE_TITLES[name]}: capacity at p99 TTFT <= ${c.sloP99TtftMs} ms\n\n${capacityTable(r)}\n${equalLoadTable(r)}`,
    );
  }
  const sim = results.find((r) => r.name === "sim-small");
  const live = results.find((r) => r.name === "live");
  if (sim && live) write(`\n## Small scale: simulated vs live\n\n${sideBySideTable(sim, live)}`);
  write(`\n## Headline: configuration 4 vs configuration 1\n\n${headlineTable(results)}`);
  write(
    `\nwrote ${dir}/{results.md,results.csv,capacity.csv,results.json,chart.svg,report.html} in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`,
  );
  return results;
}
