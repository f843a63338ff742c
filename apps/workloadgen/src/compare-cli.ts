import { writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { Command } from "commander";
import { UsageError } from "@symphony/common";
import {
  COMPARED_DISTRIBUTIONS,
  compareRuns,
  distributionValues,
  formatCompareTable,
  prepareOutDir,
  renderCompareReport,
  toJson,
  type ComparedRun,
} from "@symphony/measure";
import { parseArg } from "@symphony/runtime";

import { readRunFolder } from "./merge-cli";

/**
 * `workloadgen compare A B [C...] [--out DIR]`: runs side by side against the first (the
 * baseline): the terminal table, and with --out compare.json and report.html (CDF overlays,
 * per-turn-index curves). See `compareRuns` for the figures and tests.
 */
export async function compareMain(argv: readonly string[]): Promise<void> {
  const program = new Command("workloadgen compare")
    .description("compare workloadgen results folders: the first is the baseline")
    .argument("<dirs...>", "two or more --out folders of workloadgen runs (or of `workloadgen merge`)")
    .option("--out <dir>", "write compare.json and report.html here")
    .option("--labels <list>", "names of the runs, comma-separated (default: the folders' names)")
    .option("--seed <n>", "seed of the bootstrap resampling", parseArg.int(0, 2 ** 31 - 1), 0)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.parse([...argv], { from: "user" });
  const dirs = program.args;
  const o = program.opts<{ out?: string; labels?: string; seed: number }>();
  if (dirs.length < 2)
    throw new UsageError("compare: give at least two results folders (the first is the baseline)");
  const labels = o.labels ? o.labels.split(",").map((s) => s.trim()) : dirs.map((d) => basename(resolve(d)));
  if (labels.length !== dirs.length)
    throw new UsageError(`compare: --labels has ${labels.length} names for ${dirs.length} folders`);
  if (new Set(labels).size !== labels.length)
    throw new UsageError(`compare: two runs would have the same label (${labels.join(", ")}): pass --labels`);
  const runs: ComparedRun[] = dirs.map((d, i) => {
    const folder = readRunFolder(d);
    return { label: labels[i]!, summary: folder.summary, records: folder.records };
  });
  const comparison = compareRuns(runs, o.seed);
  process.stdout.write(formatCompareTable(comparison));
  if (o.out) {
    prepareOutDir(o.out);
    const values = runs.map(
      (r) =>
        Object.fromEntries(
          COMPARED_DISTRIBUTIONS.map((m) => [m, distributionValues(r.records, m, o.seed)]),
        ) as Record<(typeof COMPARED_DISTRIBUTIONS)[number], number[]>,
    );
    writeFileSync(join(o.out, "compare.json"), toJson({ runs: dirs, ...comparison }) + "\n");
    writeFileSync(join(o.out, "report.html"), renderCompareReport(comparison, values));
  }
}
