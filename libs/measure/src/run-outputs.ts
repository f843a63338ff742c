import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderHtmlReport } from "./html-report";
import { JsonlWriter } from "./jsonl-writer";
import {
  encodeRequestLineWithoutItl,
  requestLineParts,
  requestLineWithoutItlParts,
  type RequestRecord,
} from "./record";
import type { ServerMetricsSample } from "./server-metrics";
import { summaryCsv, toJson, type ChartSource, type RunSummary } from "./summary";

/** The files of a run's results folder (`--out`). */
export const RUN_FILES = {
  requests: "requests.jsonl",
  summary: "summary.json",
  summaryCsv: "summary.csv",
  report: "report.html",
} as const;

/** Written beside them when the run scraped its servers (`--server-metrics`). */
export const SERVER_METRICS_FILE = "server-metrics.jsonl";

/**
 * One run's results folder: requests.jsonl, one line per request as requests finish, then
 * summary.json, summary.csv and report.html, all three from the same summary. The live run and
 * the simulator (and so the experiments, which drive both) write through this, so their files
 * have one format. The folder must exist and be writable (`prepareOutDir`).
 */
export class RunOutputs {
  private readonly requests: JsonlWriter;

  constructor(readonly dir: string) {
    this.requests = new JsonlWriter(join(dir, RUN_FILES.requests));
  }

  /** Appends one requests.jsonl line (or several joined by "\n"); a newline is added. */
  writeRequestLine(line: string): void {
    this.requests.write(line);
  }

  /** Appends the requests.jsonl line of `record` (`requestLine`'s text, joined in the file's buffer). */
  writeRequestRecord(record: RequestRecord): void {
    this.requests.write(...requestLineParts(record));
  }

  /** Appends `record`'s requests.jsonl line without its ITL gaps (`requestLineWithoutItl`'s text). */
  writeRequestRecordWithoutItl(record: RequestRecord): void {
    // Encoded straight into the file's buffer when the record is of the load runner's shape.
    if (!this.requests.writeEncoded(record, encodeRequestLineWithoutItl))
      this.requests.write(...requestLineWithoutItlParts(record));
  }

  /** Writes every queued line and closes requests.jsonl (idempotent). */
  closeRequests(): void {
    this.requests.close();
  }

  /**
   * Closes requests.jsonl, then writes summary.json, summary.csv, server-metrics.jsonl (the
   * servers' scrapes, when there are any; drawn in the report too) and report.html (`title`: the
   * report page's heading, the live run's by default).
   */
  writeSummary(
    summary: RunSummary,
    charts: ChartSource,
    title?: string,
    serverSamples?: readonly ServerMetricsSample[],
  ): void {
    this.closeRequests();
    writeFileSync(join(this.dir, RUN_FILES.summary), toJson(summary) + "\n");
    writeFileSync(join(this.dir, RUN_FILES.summaryCsv), summaryCsv(summary));
    if (serverSamples && serverSamples.length > 0)
      writeFileSync(
        join(this.dir, SERVER_METRICS_FILE),
        serverSamples.map((s) => JSON.stringify(s) + "\n").join(""),
      );
    writeFileSync(join(this.dir, RUN_FILES.report), renderHtmlReport(summary, charts, title, serverSamples));
  }
}
