import { describe, expect, it } from "vitest";
import { sweepChartSvg } from "./output/chart";
import { combinations, formatSweepTable, sweepCsv, type SweepRow } from "./sweep";

function row(run: string, params: Record<string, string>, ttft: number): SweepRow {
  return {
    run,
    params,
    completed: 10,
    failed: 0,
    request_throughput: 2,
    output_token_throughput: 300,
    ttft_mean_ms: ttft,
    ttft_p50_ms: ttft,
    ttft_p99_ms: ttft * 2,
    tpot_mean_ms: 7,
    e2el_mean_ms: 500,
    e2el_p99_ms: 900,
    prefix_cache_hit: 0.5,
    session_hit_rate: 0.9,
    virtual_s: 5,
    wall_s: 0.1,
  };
}

describe("sweep output", () => {
  it("combinations of two axes -> the cartesian product, first axis slowest", () => {
    expect(
      combinations([
        { key: "policy", values: ["a", "b"] },
        { key: "nodes", values: ["2", "4"] },
      ]),
    ).toEqual([
      { policy: "a", nodes: "2" },
      { policy: "a", nodes: "4" },
      { policy: "b", nodes: "2" },
      { policy: "b", nodes: "4" },
    ]);
  });

  it("table and csv, two runs -> a header plus one line per run with the parameters first", () => {
    const rows = [row("nodes=2", { nodes: "2" }, 12.5), row("nodes=4", { nodes: "4" }, 8)];
    const table = formatSweepTable(rows, ["nodes"]).trim().split("\n");
    expect(table).toHaveLength(4);
    expect(table[0]).toMatch(/^nodes\s+done/);
    expect(table[2]).toMatch(/^2\s+10\s+0\s+2\.00/);
    const csv = sweepCsv(rows, ["nodes"]).trim().split("\n");
    expect(csv[0]!.startsWith("run,nodes,completed,failed,")).toBe(true);
    expect(csv[1]!.startsWith("nodes=2,2,10,0,")).toBe(true);
    expect(csv).toHaveLength(3);
  });

  it("chart -> self-contained SVG: one bar label per run and panel, no external references", () => {
    const svg = sweepChartSvg([row("policy=a&b", { policy: "a&b" }, 3), row("policy=c", { policy: "c" }, 6)]);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("policy=a&amp;b");
    expect(svg.match(/>policy=c</g)).toHaveLength(4);
    expect(svg.replace('xmlns="http://www.w3.org/2000/svg"', "")).not.toMatch(/https?:|<script|href=/);
  });
});
