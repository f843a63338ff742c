import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderHtmlReport } from "./html-report";
import {
  encodeRequestLineWithoutItl,
  REQUEST_RECORD_KEYS,
  requestLine,
  requestLineWithoutItl,
  type RequestRecord,
} from "./record";
import { RUN_FILES, RunOutputs, SERVER_METRICS_FILE } from "./run-outputs";
import { summaryCsv, SummaryAccumulator, toJson } from "./summary";
import { requestRecord } from "./testing";

const record = (i: number): RequestRecord =>
  requestRecord({
    request_id: `r${i}`,
    client_id: "c0",
    session_id: `s${i}`,
    profile: "chat",
    node_id: "n0",
    scheduled_ms: i * 100,
    sent_ms: i * 100,
    first_token_ms: i * 100 + 20,
    end_ms: i * 100 + 60,
    ttft_ms: 20,
    e2el_ms: 60,
    itl_ms: [10, 10.0004, 9.9996, 10, 10],
    prompt_tokens: 50,
    cached_tokens: 0,
    usage_source: "server",
    queue_time_ms: null,
  });

describe("RunOutputs", () => {
  const root = mkdtempSync(join(tmpdir(), "measure-run-outputs-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("lines as requests finish, then the summary -> the four files, each in its format", () => {
    const dir = mkdtempSync(join(root, "run-"));
    const acc = new SummaryAccumulator(1000, 1, true);
    const outputs = new RunOutputs(dir);
    const records = [0, 1, 2].map(record);
    for (const r of records) {
      acc.add(r);
      outputs.writeRequestLine(requestLine(r));
    }
    const summary = acc.summary(1);
    const charts = acc.chartSource(1);
    outputs.writeSummary(summary, charts, "a test run");

    expect(readdirSync(dir).sort()).toEqual(Object.values(RUN_FILES).sort());
    expect(readFileSync(join(dir, RUN_FILES.requests), "utf8")).toBe(
      records.map((r) => requestLine(r) + "\n").join(""),
    );
    expect(readFileSync(join(dir, RUN_FILES.summary), "utf8")).toBe(toJson(summary) + "\n");
    expect(readFileSync(join(dir, RUN_FILES.summaryCsv), "utf8")).toBe(summaryCsv(summary));
    expect(readFileSync(join(dir, RUN_FILES.report), "utf8")).toBe(
      renderHtmlReport(summary, charts, "a test run"),
    );
  });

  it("records written without their ITLs -> requestLineWithoutItl's lines, odd records included", () => {
    const dir = mkdtempSync(join(root, "run-"));
    const outputs = new RunOutputs(dir);
    const records = [
      record(0),
      { ...record(1), node_id: 'a"\u2028é' },
      { ...record(2), itl_count: 9 } as unknown as RequestRecord,
      { itl_ms: [1] } as unknown as RequestRecord,
    ];
    for (const r of records) outputs.writeRequestRecordWithoutItl(r);
    outputs.closeRequests();
    expect(readFileSync(join(dir, RUN_FILES.requests), "utf8")).toBe(
      records.map((r) => requestLineWithoutItl(r) + "\n").join(""),
    );
  });

  it("records of the load runner's shape -> the same lines, encoded straight into the file's buffer", () => {
    const dir = mkdtempSync(join(root, "run-"));
    const outputs = new RunOutputs(dir);
    const full = (i: number): RequestRecord => {
      const values: Record<string, unknown> = {
        ...record(i),
        usage_source: "server",
        session_kind: "chat",
        parent_session_id: i % 2 ? null : `p${i}`,
        reasoning_tokens: 0,
        ttfct_ms: i % 3 ? 20.001 : null,
        tool_wait_ms: null,
        subagent_wait_ms: i / 7,
        fan_out: 0,
        error: i % 5 ? null : 'CANCELLED: "gone" ü',
      };
      return Object.fromEntries(REQUEST_RECORD_KEYS.map((k) => [k, values[k]])) as unknown as RequestRecord;
    };
    const records = Array.from({ length: 5000 }, (_, i) => full(i));
    // Every one takes the encoder's path (the fallback would write the same bytes).
    const scratch = Buffer.alloc(1 << 16);
    for (const r of records) expect(encodeRequestLineWithoutItl(r, scratch, 0)).toBeGreaterThan(0);
    for (const r of records) outputs.writeRequestRecordWithoutItl(r);
    outputs.closeRequests();
    expect(readFileSync(join(dir, RUN_FILES.requests), "utf8")).toBe(
      records.map((r) => requestLineWithoutItl(r) + "\n").join(""),
    );
  });

  it("the servers' scrapes -> server-metrics.jsonl beside the four files, and their charts in the report", () => {
    const dir = mkdtempSync(join(root, "run-"));
    const acc = new SummaryAccumulator(1000, 1, true);
    acc.add(record(0));
    const samples = [
      { t_ms: -5, endpoint: "http://e:1/metrics", metrics: { "vllm:kv_cache_usage_perc": 0 } },
      { t_ms: 500, endpoint: "http://e:1/metrics", metrics: { "vllm:kv_cache_usage_perc": 0.5 } },
    ];
    new RunOutputs(dir).writeSummary(acc.summary(1), acc.chartSource(1), undefined, samples);
    expect(readdirSync(dir).sort()).toEqual([...Object.values(RUN_FILES), SERVER_METRICS_FILE].sort());
    expect(readFileSync(join(dir, SERVER_METRICS_FILE), "utf8")).toBe(
      samples.map((s) => JSON.stringify(s) + "\n").join(""),
    );
    expect(readFileSync(join(dir, RUN_FILES.report), "utf8")).toContain('id="server-kv-usage"');
  });

  it("closeRequests before the summary -> every line on disk then, and writeSummary still writes", () => {
    const dir = mkdtempSync(join(root, "run-"));
    const acc = new SummaryAccumulator(1000, 1, true);
    const outputs = new RunOutputs(dir);
    acc.add(record(0));
    outputs.writeRequestLine(requestLine(record(0)));
    outputs.closeRequests();
    expect(readFileSync(join(dir, RUN_FILES.requests), "utf8")).toBe(requestLine(record(0)) + "\n");
    outputs.writeSummary(acc.summary(1), acc.chartSource(1));
    expect(readFileSync(join(dir, RUN_FILES.report), "utf8")).toMatch(/<title>workloadgen report<\/title>/);
  });

  it("no request at all -> an empty requests.jsonl and a summary of zero requests", () => {
    const dir = mkdtempSync(join(root, "run-"));
    const acc = new SummaryAccumulator(1000, 1, true);
    new RunOutputs(dir).writeSummary(acc.summary(0), acc.chartSource(0));
    expect(readFileSync(join(dir, RUN_FILES.requests), "utf8")).toBe("");
    expect(JSON.parse(readFileSync(join(dir, RUN_FILES.summary), "utf8"))).toMatchObject({
      completed: 0,
      failed: 0,
    });
  });
});
