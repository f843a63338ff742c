import { loadTokenizer, VirtualTimers } from "@symphony/common";
import { describe, expect, it } from "vitest";
import type { RequestRecord } from "@symphony/measure";
import { LoadRunner, type LoadRunnerOptions } from "./load-runner";
import { arraySource, type PlannedTurn, type SessionPlan } from "./plan";
import { PromptSynthesizer } from "./prompt-synth";
import type { SessionHint, Target, TurnHandlers, TurnRequest } from "./target";
import { ThinkTimeModel } from "./think-time";
import { agentReport } from "./agent-report";

/**
 * In-memory target on virtual time: the reply (expected_response, else `answer-<request id>`)
 * arrives in 4 chunks 5 ms apart from +10 ms; Finished at +30 ms. `reasoningFlag` marks
 * `<think>` chunks the way a server with a reasoning parser would.
 */
class FakeTarget implements Target {
  readonly submits: { at: number; req: TurnRequest }[] = [];
  readonly hints: { at: number; hint: SessionHint }[] = [];
  readonly closes: { at: number; sessionId: string }[] = [];
  reasoningFlag = false;
  constructor(private readonly timers: VirtualTimers) {}

  static reply(req: TurnRequest): string {
    return req.expectedResponse ?? `answer-${req.requestId}`;
  }

  submit(req: TurnRequest, h: TurnHandlers) {
    const t = this.timers.nowUs();
    this.submits.push({ at: t, req });
    this.timers.at(t + 1000, () => h.started({ nodeId: "n1", queueTimeUs: 0, kvTier: "new" }));
    const text = FakeTarget.reply(req);
    const marked = /^<think>(.*)<\/think>(.*)$/s.exec(text);
    const chunks = this.reasoningFlag
      ? marked
        ? [[marked[1]!, true] as const, [marked[2]!, false] as const]
        : [[text, false] as const]
      : [0, 1, 2, 3].map(
          (i) => [text.slice((i * text.length) / 4, ((i + 1) * text.length) / 4), false] as const,
        );
    chunks.forEach(([c, reasoning], i) =>
      this.timers.at(t + 10_000 + i * 5_000, () => h.token(c, 1, this.reasoningFlag ? reasoning : undefined)),
    );
    this.timers.at(t + 30_000, () =>
      h.finished({
        nodeId: "n1",
        promptTokens: 50,
        completionTokens: 4,
        cachedTokens: 10,
        finishReason: "stop",
      }),
    );
    return { cancel() {} };
  }
  advise(hint: SessionHint) {
    this.hints.push({ at: this.timers.nowUs(), hint });
  }
  closeSession(sessionId: string) {
    this.closes.push({ at: this.timers.nowUs(), sessionId });
  }
}

const turn = (i: number, over: Partial<PlannedTurn> = {}): PlannedTurn => ({
  turnIndex: i,
  promptTokens: 5,
  maxOutputTokens: 4,
  delayUs: 0,
  kind: "user",
  ...over,
});

function agent(id: string, turns: PlannedTurn[], over: Partial<SessionPlan> = {}): SessionPlan {
  return {
    sessionId: id,
    clientId: `c-${id}`,
    profile: "agent",
    startUs: 0,
    priority: "normal",
    stream: true,
    ignoreEos: true,
    mode: "chat",
    kind: "agent",
    turns,
    ...over,
  };
}

const child = (parent: string, k: number, turns: number, toolUs: number) =>
  agent(
    `${parent}/sub-${k}`,
    Array.from({ length: turns }, (_, i) => turn(i, i === 0 ? {} : { kind: "tool", delayUs: toolUs })),
    { parentSessionId: parent, startUs: undefined },
  );

function run(
  plans: SessionPlan[],
  options: Partial<LoadRunnerOptions> = {},
  setup?: (t: FakeTarget) => void,
) {
  const timers = new VirtualTimers();
  const target = new FakeTarget(timers);
  setup?.(target);
  const records: RequestRecord[] = [];
  let done = 0;
  const runner = new LoadRunner(
    {
      timers,
      target,
      source: arraySource(plans),
      thinkTime: new ThinkTimeModel({ readCharsPerSec: 25, typeCharsPerSec: 6, speedJitter: 0 }),
      synth: new PromptSynthesizer(1, loadTokenizer("llama3")),
    },
    {
      mode: "open",
      concurrency: 1,
      maxRequests: Infinity,
      durationUs: Infinity,
      timeScale: 1,
      hints: true,
      runId: "r",
      ...options,
    },
    (r) => records.push(r),
    () => done++,
  );
  runner.start();
  return { timers, target, records, runner, done: () => done };
}

describe("LoadRunner, agent sessions", () => {
  it("tool turns -> sent at previous end + latency / time-scale, hinted with that latency first", () => {
    const plan = agent("a", [
      turn(0),
      turn(1, { kind: "tool", delayUs: 2e6 }),
      turn(2, { kind: "tool", delayUs: 5e5 }),
    ]);
    const { timers, target, records, done } = run([plan], { timeScale: 2 });
    timers.runAll(1e6);
    expect(done()).toBe(1);
    expect(records.map((r) => r.error)).toEqual([null, null, null]);
    for (const [i, latencyMs] of [
      [1, 1000],
      [2, 250],
    ] as const) {
      const r = records[i]!;
      expect(r.sent_ms).toBeCloseTo(records[i - 1]!.end_ms + latencyMs, 6);
      expect(r.tool_wait_ms).toBeCloseTo(latencyMs, 6);
      // TTFT/E2EL start at the send: the tool wait is not in them.
      expect(r.e2el_ms).toBeCloseTo(30, 6);
      const hint = target.hints[i - 1]!;
      expect(hint.hint).toMatchObject({ sessionId: "a", expectedArrivalMs: latencyMs, nextTurnIndex: i });
      expect(hint.at / 1000).toBeCloseTo(records[i - 1]!.end_ms, 6);
    }
    expect(records[0]!.tool_wait_ms).toBeNull();
    expect(records.every((r) => r.session_kind === "agent" && r.parent_session_id === null)).toBe(true);
  });

  it("adviseDelayUs -> the hint announces the estimate, the turn waits the planned latency", () => {
    const plan = agent("a", [turn(0), turn(1, { kind: "tool", delayUs: 3e6, adviseDelayUs: 2e6 })]);
    const { timers, target, records } = run([plan]);
    timers.runAll(1e6);
    expect(target.hints[0]!.hint.expectedArrivalMs).toBe(2000);
    expect(records[1]!.sent_ms - records[0]!.end_ms).toBeCloseTo(3000, 6);
  });

  it("fan-out -> sub-agents start from the parent's context, the parent joins after the last one ends", () => {
    const children = [child("a", 0, 2, 1e6), child("a", 1, 3, 2e6)];
    const plan = agent("a", [
      turn(0),
      turn(1, { kind: "join", subAgents: children }),
      turn(2, { kind: "tool", delayUs: 1e5 }),
    ]);
    const { timers, target, records, runner, done } = run([plan]);
    timers.runAll(1e6);
    expect(done()).toBe(1);
    expect(runner.sessionsStarted).toBe(1);
    expect(runner.subAgentsStarted).toBe(2);
    expect(records).toHaveLength(3 + 2 + 3);
    expect(records.every((r) => !r.error)).toBe(true);

    const req = (sessionId: string, turnIndex: number) =>
      target.submits.find((s) => s.req.sessionId === sessionId && s.req.turnIndex === turnIndex)!;
    const rec = (sessionId: string, turnIndex: number) =>
      records.find((r) => r.session_id === sessionId && r.turn_index === turnIndex)!;
    const parentFirst = req("a", 0);
    for (const k of [0, 1]) {
      const first = req(`a/sub-${k}`, 0);
      // Same client, the parent's messages (prompt + the answer received) as the prefix, then its task.
      expect(first.req.clientId).toBe("c-a");
      expect(first.req.messages!.slice(0, 2)).toEqual([
        ...parentFirst.req.messages!,
        { role: "assistant", content: FakeTarget.reply(parentFirst.req) },
      ]);
      expect(first.at / 1000).toBeCloseTo(rec("a", 0).end_ms, 6);
      expect(rec(`a/sub-${k}`, 0).parent_session_id).toBe("a");
    }
    // The join waits for the slower child (3 turns, 2 s tools) and carries both last answers.
    const lastChildEnd = Math.max(rec("a/sub-0", 1).end_ms, rec("a/sub-1", 2).end_ms);
    const join = rec("a", 1);
    expect(join.sent_ms).toBeCloseTo(lastChildEnd, 6);
    expect(join.fan_out).toBe(2);
    expect(join.subagent_wait_ms).toBeCloseTo(lastChildEnd - rec("a", 0).end_ms, 6);
    const joinPrompt = req("a", 1).req.messages!.at(-1)!.content;
    expect(joinPrompt).toBe(
      [FakeTarget.reply(req("a/sub-0", 1).req), FakeTarget.reply(req("a/sub-1", 2).req)].join("\n\n"),
    );
    // No hint while the sub-agents run (their duration is unknown); hints for the children's tools and the parent's.
    expect(target.hints.map((h) => h.hint.sessionId).sort()).toEqual(["a", "a/sub-0", "a/sub-1", "a/sub-1"]);
    expect(target.closes.map((c) => c.sessionId).sort()).toEqual(["a", "a/sub-0", "a/sub-1"]);
    // Children's last turns are is_last: their node can release them.
    expect(req("a/sub-0", 1).req.isLast).toBe(true);
    expect(req("a/sub-1", 2).req.isLast).toBe(true);

    const report = agentReport(records);
    expect(report.fan_out).toMatchObject({ count: 1, mean: 2 });
    expect(report.subagent_sessions).toBe(2);
    expect(report.subagents_off_parent_node).toBe(0);
    expect(report.tool_wait_ms.count).toBe(1 + 2 + 1);
  });

  it("stop while sub-agents run -> they finish their turn, the parent is closed, onDone fires", () => {
    const children = [child("a", 0, 3, 5e6), child("a", 1, 3, 5e6)];
    const plan = agent("a", [turn(0), turn(1, { kind: "join", subAgents: children })]);
    const { timers, target, records, runner, done } = run([plan]);
    timers.runUntil(45_000); // parent's first turn done, children's first turns in flight
    expect(runner.activeSessions).toBe(3);
    runner.stop();
    timers.runAll(1e6);
    expect(done()).toBe(1);
    expect(runner.activeSessions).toBe(0);
    expect(records).toHaveLength(3);
    expect(target.closes.map((c) => c.sessionId).sort()).toEqual(["a", "a/sub-0", "a/sub-1"]);
  });

  it("maxRequests during a fan-out -> stops after that many sends and still completes", () => {
    const children = [child("a", 0, 4, 1e5), child("a", 1, 4, 1e5)];
    const plan = agent("a", [turn(0), turn(1, { kind: "join", subAgents: children })]);
    const { timers, records, done } = run([plan], { maxRequests: 4 });
    timers.runAll(1e6);
    expect(done()).toBe(1);
    expect(records).toHaveLength(4);
  });

  it.each([
    ["a <think> block in the stream", false],
    ["server-marked reasoning chunks", true],
  ])(
    "reasoning via %s -> reasoning tokens counted, TTFCT after TTFT, history has the answer only",
    (_n, flag) => {
      const reply = "<think>let me think</think>the answer";
      const plan = agent("a", [
        turn(0, { expectedResponse: reply }),
        turn(1, { kind: "tool", delayUs: 1000 }),
      ]);
      const { timers, target, records } = run([plan], {}, (t) => (t.reasoningFlag = flag));
      timers.runAll(1e6);
      const r = records[0]!;
      expect(r.reasoning_tokens).toBeGreaterThan(0);
      expect(r.ttft_ms).toBeCloseTo(10, 6);
      expect(r.ttfct_ms!).toBeGreaterThan(r.ttft_ms!);
      const history = target.submits[1]!.req.messages!;
      expect(history[1]).toEqual({ role: "assistant", content: "the answer" });
      // A reply without reasoning: TTFCT = TTFT.
      expect(records[1]!.reasoning_tokens).toBe(0);
      expect(records[1]!.ttfct_ms).toBe(records[1]!.ttft_ms);
    },
  );
});
