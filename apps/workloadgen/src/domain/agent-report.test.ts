import { describe, expect, it } from "vitest";
import { AgentReportAccumulator, agentReport, formatAgentReport } from "./agent-report";
import type { RequestRecord } from "@symphony/measure";
import { requestRecord } from "@symphony/measure/testing";

let end = 0;
function rec(over: Partial<RequestRecord>): RequestRecord {
  end += 10;
  return requestRecord({
    session_id: "a",
    node_id: "n1",
    first_token_ms: 5,
    end_ms: end,
    ttft_ms: 5,
    e2el_ms: 10,
    tpot_ms: 1,
    itl_ms: [],
    completion_tokens: 4,
    cached_tokens: 0,
    token_count: 4,
    queue_time_ms: 0,
    session_kind: "agent",
    parent_session_id: null,
    reasoning_tokens: 0,
    ttfct_ms: 5,
    tool_wait_ms: null,
    subagent_wait_ms: null,
    fan_out: 0,
    ...over,
  });
}

describe("agentReport", () => {
  const records = [
    rec({ session_kind: "chat", session_id: "c1", ttft_ms: 50, ttfct_ms: 50 }),
    rec({ session_kind: "chat", session_id: "c1", turn_index: 1, error: "UNAVAILABLE: x" }),
    rec({ session_id: "a", ttft_ms: 7, ttfct_ms: 20, reasoning_tokens: 30 }),
    rec({
      session_id: "a/sub-0",
      parent_session_id: "a",
      node_id: "n1",
      prompt_tokens: 200,
      cached_tokens: 150,
    }),
    rec({
      session_id: "a/sub-1",
      parent_session_id: "a",
      node_id: "n2",
      prompt_tokens: 200,
      cached_tokens: 50,
    }),
    rec({
      session_id: "a/sub-0",
      parent_session_id: "a",
      turn_index: 1,
      tool_wait_ms: 300,
      cached_tokens: 90,
    }),
    rec({ session_id: "a", turn_index: 1, fan_out: 2, subagent_wait_ms: 800, cached_tokens: 80 }),
    rec({ session_id: "a", turn_index: 2, tool_wait_ms: 500, cached_tokens: 70 }),
  ];
  const r = agentReport(records);

  it("records of chat and agent sessions -> one breakdown per kind, failures excluded from latencies", () => {
    expect(r.by_kind.chat).toMatchObject({ requests: 2, completed: 1, failed: 1 });
    expect(r.by_kind.chat!.ttft_ms.mean).toBe(50);
    expect(r.by_kind.agent).toMatchObject({ requests: 6, completed: 6, reasoning_tokens: 30 });
    expect(r.by_kind.agent!.ttfct_ms.max).toBe(20);
  });

  it("tool waits, fan-out, sub-agent placement and cache -> counted from the agent records", () => {
    expect(r.tool_wait_ms).toMatchObject({ count: 2, mean: 400 });
    expect(r.tool_wait_total_s).toBeCloseTo(0.8, 9);
    expect(r.fan_out).toMatchObject({ count: 1, mean: 2 });
    expect(r.subagent_wait_ms.mean).toBe(800);
    expect(r.subagent_sessions).toBe(2);
    expect(r.subagents_off_parent_node).toBe(1);
    expect(r.subagent_first_turn_cache).toEqual({
      turns: 2,
      prompt_tokens: 400,
      cached_tokens: 200,
      hit_rate: 0.5,
    });
    expect(r.agent_followup_turn_cache).toEqual({
      turns: 3,
      prompt_tokens: 300,
      cached_tokens: 240,
      hit_rate: 0.8,
    });
  });

  it("formatted -> names the kinds, tool waits and fan-out", () => {
    const text = formatAgentReport(r);
    expect(text).toMatch(/agent: 6\/6 ok/);
    expect(text).toMatch(/tool waits \(not in latencies\): 2, mean 400\.00 ms/);
    expect(text).toMatch(/sub-agents: 2 in 1 fan-outs/);
  });
});

describe("AgentReportAccumulator, long runs", () => {
  it("300,000 agent turns -> latencies from histograms (within 1%), sessions remembered are capped", () => {
    const acc = new AgentReportAccumulator();
    for (let i = 0; i < 300_000; i++)
      acc.add(rec({ session_id: `s${i}`, ttft_ms: 1 + (i % 1000), tool_wait_ms: 100, turn_index: 1 }));
    const r = acc.summary();
    expect(r.percentiles).toBe("hdr(1%)");
    expect(r.by_kind.agent!.ttft_ms.count).toBe(300_000);
    expect(Math.abs(r.by_kind.agent!.ttft_ms.p50 - 500.5) / 500.5).toBeLessThanOrEqual(0.01);
    expect(r.tool_wait_total_s).toBeCloseTo(30_000, 6);
    const kept = acc as unknown as Record<"nodesBySession" | "nodesBySessionBefore", Map<string, unknown>>;
    expect(kept.nodesBySession.size + kept.nodesBySessionBefore.size).toBeLessThanOrEqual(100_000);
    expect(agentReport([rec({})]).percentiles).toBe("exact");
  });
});
