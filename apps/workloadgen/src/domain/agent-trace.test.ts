import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadTokenizer } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { parseAgentTrace } from "./agent-trace";

const sample = readFileSync(join(__dirname, "../../data/sample-agent-trace.jsonl"), "utf8");
const line = (o: Record<string, unknown>) => JSON.stringify(o);
const tokenizer = loadTokenizer("llama3");
const countTokens = (text: string) => tokenizer.countTokens(text);

describe("parseAgentTrace", () => {
  it("the sample -> 3 sessions in start order, tool latencies, sub-agents nested under their parent", () => {
    const t = parseAgentTrace(sample, 0, tokenizer);
    expect(t.sessions.map((s) => [s.sessionId, s.startUs])).toEqual([
      ["fix-bug", 0],
      ["research", 500_000],
      ["shell", 1_200_000],
    ]);
    expect(t.subAgentSessions).toBe(2);
    expect(t.messages).toBe(sample.trim().split("\n").length);
    const fix = t.sessions[0]!;
    expect(fix.system).toMatch(/^You are a coding agent/);
    expect(fix.turns.map((x) => [x.kind, x.delayUs])).toEqual([
      ["user", 0],
      ["tool", 2_350_000],
      ["tool", 40_000],
      ["tool", 25_000],
      ["tool", 3_100_000],
    ]);
    expect(fix.turns[1]!.text).toMatch(/^FAILED/);
    expect(fix.turns[1]!.promptTokens).toBe(countTokens(fix.turns[1]!.text!));
    expect(fix.turns[0]!.maxOutputTokens).toBe(countTokens(fix.turns[0]!.expectedResponse!));
    const research = t.sessions[1]!;
    const join = research.turns[1]!;
    expect(join.kind).toBe("join");
    expect(join.subAgents!.map((c) => [c.sessionId, c.parentSessionId, c.turns.length])).toEqual([
      ["research/sub-0", "research", 2],
      ["research/sub-1", "research", 3],
    ]);
    // reasoning_tokens -> a <think> block of that many tokens before the reply.
    expect(research.turns[0]!.expectedResponse).toMatch(/^<think>.*<\/think>spawn_subagents/s);
    const shell = t.sessions[2]!;
    expect(shell.turns.map((x) => [x.kind, x.delayUs, x.promptTokens, x.maxOutputTokens])).toEqual([
      ["user", 0, 300, 30],
      ["tool", 12_000_000, 800, 30],
      ["user", 8_000_000, 40, 60],
    ]);
  });

  it("same text and seed -> identical plans", () => {
    expect(JSON.stringify(parseAgentTrace(sample, 3, tokenizer))).toBe(
      JSON.stringify(parseAgentTrace(sample, 3, tokenizer)),
    );
  });

  it.each<[string, string[], RegExp]>([
    [
      "an unknown role",
      [
        line({ session_id: "s", role: "user", content: "hi" }),
        line({ session_id: "s", role: "robot", content: "x" }),
      ],
      /^line 2: role: expected one of system, user, assistant, tool \(got "robot"\)$/,
    ],
    ["invalid JSON", ["{nope"], /^line 1: invalid JSON/],
    [
      "negative tool latency",
      [
        line({ session_id: "s", role: "user", content: "a" }),
        line({ session_id: "s", role: "assistant", content: "b" }),
        line({ session_id: "s", role: "tool", content: "c", latency_ms: -5 }),
      ],
      /^line 3: latency_ms: .*>=0.* \(got -5\)$/,
    ],
    [
      "latency on a user message",
      [line({ session_id: "s", role: "user", content: "a", latency_ms: 5 })],
      /^line 1: latency_ms: only allowed on role tool$/,
    ],
    [
      "both content and tokens",
      [line({ session_id: "s", role: "user", content: "a", tokens: 4 })],
      /^line 1: content: give exactly one of content or tokens$/,
    ],
    [
      "a session ending without a reply",
      [line({ session_id: "s", role: "user", content: "a" })],
      /^line 1: role: session "s" ends with a user message: no assistant reply$/,
    ],
    [
      "two user messages in a row",
      [
        line({ session_id: "s", role: "user", content: "a" }),
        line({ session_id: "s", role: "user", content: "b" }),
      ],
      /^line 2: role: expected assistant after the user message on line 1, got user$/,
    ],
    [
      "a sub-agent that is not in the trace",
      [
        line({ session_id: "p", role: "user", content: "a" }),
        line({ session_id: "p", role: "assistant", content: "b" }),
        line({ session_id: "p", role: "tool", subagents: ["p/x"] }),
        line({ session_id: "p", role: "assistant", content: "c" }),
      ],
      /^line 3: subagents: no session "p\/x" in the trace$/,
    ],
    [
      "a sub-agent nobody joins",
      [
        line({ session_id: "p", role: "user", content: "a" }),
        line({ session_id: "p", role: "assistant", content: "b" }),
        line({ session_id: "c", parent_session_id: "p", role: "user", content: "a" }),
        line({ session_id: "c", role: "assistant", content: "b" }),
      ],
      /^line 3: parent_session_id: session "p" has no tool line listing "c" in subagents$/,
    ],
    ["an empty file", [""], /the trace has no messages/],
  ])("%s -> TraceFormatError naming the line and key", (_name, lines, pattern) => {
    expect(() => parseAgentTrace(lines.join("\n"), 0, tokenizer)).toThrow(pattern);
  });
});
