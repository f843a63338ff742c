import { loadTokenizer, VirtualTimers } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { DatasetSessionSource } from "./closed-loop";
import type { Conversation } from "./dataset";
import { REQUEST_RECORD_KEYS, type RequestRecord } from "@symphony/measure";
import { LoadRunner, type LoadRunnerOptions, type SendQuota } from "./load-runner";
import { arraySource, type SessionPlan, type SessionSource } from "./plan";
import { PromptSynthesizer } from "./prompt-synth";
import type { SessionHint, Target, TurnHandlers, TurnRequest } from "./target";
import { ThinkTimeModel } from "./think-time";

/** What every fake turn ends with. */
const FINISHED = {
  nodeId: "n1",
  promptTokens: 50,
  completionTokens: 4,
  cachedTokens: 10,
  finishReason: "stop",
} as const;

/** An in-memory Target on virtual time: Started after 1 ms, 4 tokens 5 ms apart, then Finished. */
class FakeTarget implements Target {
  readonly submits: { at: number; req: TurnRequest }[] = [];
  readonly hints: { at: number; hint: SessionHint }[] = [];
  readonly closes: { at: number; sessionId: string }[] = [];
  failSessions = new Set<string>();
  /** A stalled server: turns get Started and one token, then nothing; cancel() is only counted. */
  stall = false;
  cancels = 0;
  /** cancel() reports the turn failed at once, in the target's own words (as undici does). */
  cancelReportsFailure = false;
  /** Replies open with a think block (reasoning the runner must tell from content). */
  thinking = false;
  /** Tokens come as the simulator hands them over: in batches through `tokensAt`, each with its arrival time. */
  batched = false;
  /** Arrival times off whole µs (odd tokens 0.37 µs late), as the simulator's can be. */
  jitter = false;
  /**
   * Not streamed: the whole answer (`replyText`, if set) arrives with Finished, as one `token`
   * chunk ("chunk") or as token texts through `wholeText` ("texts", two characters a text).
   */
  whole: "chunk" | "texts" | undefined;
  replyText: ((req: TurnRequest) => string) | undefined;
  /** With `whole`: a one-token chunk sent just before the whole answer. */
  firstChunk: string | undefined;
  /** Token texts read through `wholeText` (`at` calls that returned a text). */
  textReads = 0;
  constructor(private readonly timers: VirtualTimers) {}

  static reply(req: TurnRequest): string {
    return `answer-${req.requestId}`;
  }

  submit(req: TurnRequest, h: TurnHandlers) {
    const t = this.timers.nowUs();
    this.submits.push({ at: t, req });
    if (this.failSessions.has(req.sessionId)) {
      this.timers.at(t + 1000, () => h.failed({ code: "UNAVAILABLE", message: "down" }));
      return { cancel() {} };
    }
    this.timers.at(t + 1000, () => h.started({ nodeId: "n1", queueTimeUs: 500, kvTier: "new" }));
    if (this.stall) {
      this.timers.at(t + 2000, () => h.token("x", 1));
      return {
        cancel: () => {
          this.cancels++;
          if (this.cancelReportsFailure) h.failed({ code: "CANCELLED", message: "cancelled by the client" });
        },
      };
    }
    const text = this.replyText?.(req) ?? (this.thinking ? "<think>hm</think> " : "") + FakeTarget.reply(req);
    if (this.whole !== undefined) {
      this.timers.at(t + 26_000, () => {
        const texts = Array.from({ length: Math.ceil(text.length / 2) }, (_, i) =>
          text.slice(2 * i, 2 * i + 2),
        );
        if (this.firstChunk !== undefined) h.token(this.firstChunk, 1);
        const counted = {
          at: (i: number) => {
            const piece = texts[i];
            if (piece !== undefined) this.textReads++;
            return piece;
          },
        };
        if (this.whole === "texts" && h.wholeText) h.wholeText(counted, 4);
        else h.token(text, 4);
        h.finished(FINISHED);
      });
      return { cancel() {} };
    }
    const chunks = [text.slice(0, 3), text.slice(3, 6), text.slice(6, 9), text.slice(9)];
    const arrivals = chunks.map((_, i) => t + 10_000 + i * 5_000 + (this.jitter ? (i % 2) * 0.37 : 0));
    if (this.batched && h.tokensAt) {
      // Tokens 0-1 handed over after both arrived, 2-3 just before Finished.
      this.timers.at(t + 16_000, () => h.tokensAt!(chunks, 0, arrivals.slice(0, 2), 2));
      this.timers.at(t + 25_500, () => h.tokensAt!(chunks, 2, new Float64Array(arrivals.slice(2)), 2));
    } else chunks.forEach((c, i) => this.timers.at(arrivals[i]!, () => h.token(c, 1)));
    this.timers.at(t + 26_000, () => h.finished(FINISHED));
    return { cancel() {} };
  }
  advise(hint: SessionHint) {
    this.hints.push({ at: this.timers.nowUs(), hint });
  }
  closeSession(sessionId: string) {
    this.closes.push({ at: this.timers.nowUs(), sessionId });
  }
}

const conversations: Conversation[] = [
  {
    id: "a",
    turns: [
      { user: "hello there", assistant: "hi" },
      { user: "how are you doing", assistant: "fine" },
      { user: "bye", assistant: "ciao" },
    ],
  },
  {
    id: "b",
    turns: [
      { user: "what is two plus two", assistant: "four" },
      { user: "thanks", assistant: "welcome" },
    ],
  },
];
const thinkTime = new ThinkTimeModel({ readCharsPerSec: 25, typeCharsPerSec: 6, speedJitter: 0 });

/** Twelve requests of the closed loop against a target set up by `configure`: the records and what was sent. */
function runTwelve(configure: (target: FakeTarget) => void) {
  const { timers, runner, records, target } = setup({ maxRequests: 12 });
  configure(target);
  runner.start();
  timers.runAll(1e6);
  return { records, sent: target.submits.map((s) => s.req) };
}

function setup(options: Partial<LoadRunnerOptions>, source?: SessionSource, sendQuota?: SendQuota) {
  const timers = new VirtualTimers();
  const target = new FakeTarget(timers);
  const records: RequestRecord[] = [];
  let done = 0;
  const runner = new LoadRunner(
    {
      timers,
      target,
      source:
        source ??
        new DatasetSessionSource(conversations, thinkTime, {
          seed: 1,
          tokenizer: loadTokenizer("llama3"),
          maxOutputTokens: 100,
          priority: "normal",
          stream: true,
          numClients: 3,
        }),
      thinkTime,
      synth: new PromptSynthesizer(1, loadTokenizer("llama3")),
      ...(sendQuota ? { sendQuota } : {}),
    },
    {
      mode: "closed",
      concurrency: 3,
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
  return { timers, target, records, runner, done: () => done };
}

describe("LoadRunner, closed loop", () => {
  it("3 clients -> exactly 3 sessions active whenever sampled, until stopped", () => {
    const { timers, runner } = setup({ durationUs: 120e6 });
    runner.start();
    for (let t = 1e6; t < 119e6; t += 1.7e6) {
      timers.runUntil(t);
      expect(runner.activeSessions).toBe(3);
    }
    timers.runAll(1e6);
    expect(runner.activeSessions).toBe(0);
  });

  it("records -> the keys requests.jsonl writes field by field, in its order", () => {
    const { timers, records, runner } = setup({ maxRequests: 6 });
    runner.start();
    timers.runAll(1e6);
    expect(records.length).toBeGreaterThan(0);
    for (const r of records) expect(Object.keys(r)).toEqual(REQUEST_RECORD_KEYS);
  });

  it("each turn -> sent at previous end + reading time of the ACTUAL reply + typing time", () => {
    const { timers, records, runner, target } = setup({ maxRequests: 30, timeScale: 4 });
    runner.start();
    timers.runAll(1e6);
    const byId = new Map(target.submits.map((s) => [s.req.requestId, s.req]));
    for (const r of records.filter((x) => x.turn_index > 0)) {
      const prev = records.find((x) => x.session_id === r.session_id && x.turn_index === r.turn_index - 1)!;
      const req = byId.get(r.request_id)!;
      const prompt = req.messages!.at(-1)!.content;
      const thinkMs = (FakeTarget.reply(byId.get(prev.request_id)!).length / 25 + prompt.length / 6) * 1000;
      expect(r.sent_ms).toBeCloseTo(prev.end_ms + thinkMs / 4, 2);
      expect(r.schedule_lag_ms).toBe(0);
    }
    // First turns wait typing time only.
    for (const r of records.filter((x) => x.turn_index === 0 && x.session_id < "s000003")) {
      const prompt = byId.get(r.request_id)!.messages!.at(-1)!.content;
      expect(r.sent_ms).toBeCloseTo(((prompt.length / 6) * 1000) / 4, 2);
    }
  });

  it.each([
    [0, undefined, undefined, [0, 0, 0]],
    [9e6, undefined, undefined, [0, 3e6, 6e6]],
    // A runner holding clients 1, 3 and 5 of 6 (worker threads): their places on the run's ramp.
    [9e6, 1, 2, [1.5e6, 4.5e6, 7.5e6]],
  ])(
    "ramp-up %d µs, slot offset %s stride %s -> first sessions start at %j (+ typing time)",
    (rampUpUs, slotOffset, slotStride, startsUs) => {
      const { timers, runner, target } = setup({
        durationUs: 12e6,
        rampUpUs,
        ...(slotOffset !== undefined ? { slotOffset, slotStride: slotStride!, totalClients: 6 } : {}),
      });
      runner.start();
      timers.runAll(1e6);
      // Each client's first turn of its first session.
      const byClient = new Map<string, (typeof target.submits)[number]>();
      for (const x of [...target.submits].sort((a, b) => a.at - b.at))
        if (x.req.turnIndex === 0 && !byClient.has(x.req.clientId)) byClient.set(x.req.clientId, x);
      const first = [...byClient.values()];
      expect(first).toHaveLength(3);
      const typingUs = (s: (typeof first)[number]) => (s.req.messages!.at(-1)!.content.length / 6) * 1e6;
      const starts = first.map((s) => Math.round(s.at - typingUs(s))).sort((a, b) => a - b);
      startsUs.forEach((us, i) => expect(Math.abs(starts[i]! - us)).toBeLessThanOrEqual(1));
    },
  );

  it("stopped while clients still wait on the ramp -> done once, their start timers cancelled", () => {
    const { timers, runner, target, done } = setup({ rampUpUs: 60e6, durationUs: 5e6 });
    runner.start();
    timers.runAll(1e6);
    expect(done()).toBe(1);
    // Only client 0 (at 0 s) started before the stop at 5 s; clients 1 and 2 (20 s, 40 s) never did.
    expect(new Set(target.submits.map((s) => s.req.clientId))).toEqual(new Set(["client-0"]));
    expect(timers.pendingCount).toBe(0);
  });

  it("each next turn -> one Advise announcing the wait and turn index, before it is sent", () => {
    const { timers, runner, target } = setup({ maxRequests: 20 });
    runner.start();
    timers.runAll(1e6);
    for (const s of target.submits.filter((x) => x.req.turnIndex > 0)) {
      const hint = target.hints.find(
        (h) => h.hint.sessionId === s.req.sessionId && h.hint.nextTurnIndex === s.req.turnIndex,
      )!;
      expect(hint).toBeDefined();
      expect(Math.abs(hint.at / 1000 + hint.hint.expectedArrivalMs - s.at / 1000)).toBeLessThanOrEqual(0.5);
    }
  });

  it("hints off -> no Advise", () => {
    const { timers, runner, target } = setup({ maxRequests: 20, hints: false });
    runner.start();
    timers.runAll(1e6);
    expect(target.hints).toHaveLength(0);
  });

  it("max requests 10 -> exactly 10 sent and recorded, every session closed once, done once", () => {
    const { timers, runner, target, records, done } = setup({ maxRequests: 10 });
    runner.start();
    timers.runAll(1e6);
    expect(target.submits).toHaveLength(10);
    expect(records).toHaveLength(10);
    expect(done()).toBe(1);
    const sessions = new Set(target.submits.map((s) => s.req.sessionId));
    expect(target.closes.map((c) => c.sessionId).sort()).toEqual([...sessions].sort());
  });

  it("history -> turn k carries the k earlier prompts and the replies actually received", () => {
    const { timers, runner, target } = setup({ maxRequests: 12 });
    runner.start();
    timers.runAll(1e6);
    for (const { req } of target.submits) {
      expect(req.messages).toHaveLength(2 * req.turnIndex + 1);
      const earlier = target.submits.filter(
        (s) => s.req.sessionId === req.sessionId && s.req.turnIndex < req.turnIndex,
      );
      for (const e of earlier)
        expect(req.messages![2 * e.req.turnIndex + 1]!.content).toBe(FakeTarget.reply(e.req));
      // Sessions alternate conversations a (3 turns) and b (2 turns).
      const turns = Number(req.sessionId.slice(1)) % 2 === 0 ? 3 : 2;
      expect(req.isLast).toBe(req.turnIndex === turns - 1);
    }
  });

  it("duration 30 s -> nothing sent after 30 s, in-flight turns finish", () => {
    const { timers, runner, target, records, done } = setup({ durationUs: 30e6 });
    runner.start();
    timers.runAll(1e6);
    expect(target.submits.length).toBeGreaterThan(0);
    expect(Math.max(...target.submits.map((s) => s.at))).toBeLessThanOrEqual(30e6);
    expect(records).toHaveLength(target.submits.length);
    expect(done()).toBe(1);
  });

  it.each([false, true])(
    "duration 30 s + grace 5 s, server stalls (target reports the cancel: %s) -> at 35 s in-flight turns are cancelled and recorded CANCELLED with why, done once",
    (cancelReportsFailure) => {
      const { timers, runner, target, records, done } = setup({ durationUs: 30e6, graceUs: 5e6 });
      target.stall = true;
      target.cancelReportsFailure = cancelReportsFailure;
      runner.start();
      timers.runUntil(34_999_999);
      expect(records).toHaveLength(0);
      expect(done()).toBe(0);
      const inFlight = runner.inFlight;
      expect(inFlight).toBeGreaterThan(0);
      timers.runUntil(35_000_000);
      expect(target.cancels).toBe(inFlight);
      expect(records).toHaveLength(inFlight);
      for (const r of records) {
        expect(r.error).toBe("CANCELLED: hard end: 30 s duration + 5 s grace passed with the turn in flight");
        expect(r.end_ms).toBe(35_000);
      }
      expect(done()).toBe(1);
      expect(timers.pendingCount).toBe(0);
    },
  );

  it("no grace (the simulator) -> a stalled turn is waited for, not cancelled", () => {
    const { timers, runner, target, records, done } = setup({ durationUs: 30e6 });
    target.stall = true;
    runner.start();
    timers.runUntil(600e6);
    expect(target.cancels).toBe(0);
    expect(records).toHaveLength(0);
    expect(done()).toBe(0);
  });

  it("abort() while the target never answers -> every in-flight turn recorded CANCELLED at once, done", () => {
    const { timers, runner, target, records, done } = setup({});
    target.stall = true;
    runner.start();
    timers.runUntil(20e6);
    const inFlight = runner.inFlight;
    expect(inFlight).toBeGreaterThan(0);
    runner.abort();
    expect(records.map((r) => r.error)).toEqual(
      Array(inFlight).fill("CANCELLED: cancelled when the run was stopped"),
    );
    expect(done()).toBe(1);
  });

  it("stop() mid-run (SIGINT) -> in-flight turns finish and are recorded, every session closed, done once", () => {
    const { timers, runner, target, records, done } = setup({});
    runner.start();
    timers.runUntil(1_840_000); // first turns of "hello there" went out at 11 / 6 s and take 26 ms
    const inFlight = runner.inFlight;
    expect(inFlight).toBeGreaterThan(0);
    runner.stop();
    timers.runAll(1e6);
    expect(records).toHaveLength(target.submits.length);
    expect(done()).toBe(1);
    const sessions = new Set(target.submits.map((s) => s.req.sessionId));
    expect(new Set(target.closes.map((c) => c.sessionId))).toEqual(sessions);
  });

  it("failed turn -> recorded with its error, session closed and replaced", () => {
    const { timers, runner, target, records } = setup({ maxRequests: 12 });
    target.failSessions.add("s000001");
    runner.start();
    timers.runAll(1e6);
    const failed = records.filter((r) => r.error !== null);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ session_id: "s000001", error: "UNAVAILABLE: down", ttft_ms: null });
    expect(target.closes.some((c) => c.sessionId === "s000001")).toBe(true);
    expect(target.submits.some((s) => s.req.sessionId === "s000003")).toBe(true);
  });

  it.each([false, true])(
    "tokens handed over in batches with their arrival times (thinking %s) -> the same records and histories as one by one",
    (thinking) => {
      const run = (batched: boolean) =>
        runTwelve((target) => {
          target.thinking = thinking;
          target.batched = batched;
          target.jitter = true;
        });
      const oneByOne = run(false);
      const batched = run(true);
      expect(batched.records).toHaveLength(12);
      expect(batched.records).toEqual(oneByOne.records);
      expect(batched.sent).toEqual(oneByOne.sent);
      if (thinking) expect(batched.records[0]!.reasoning_tokens).toBeGreaterThan(0);
      expect(batched.records[0]!.itl_ms.map((x) => Math.round(x * 1e5) / 1e5)).toEqual([
        5.00037, 4.99963, 5.00037,
      ]);
    },
  );

  it.each([
    ["plain", (r: TurnRequest) => FakeTarget.reply(r)],
    ["think block", (r: TurnRequest) => `<think>hm</think> ${FakeTarget.reply(r)}`],
    ["leading whitespace", (r: TurnRequest) => ` \n  ${FakeTarget.reply(r)}`],
    ["whitespace only", () => " \n "],
    ["empty", () => ""],
    ["a think tag's start only", () => "<thi"],
    ["unclosed think block", (r: TurnRequest) => `<think>${FakeTarget.reply(r)}`],
    [
      "whitespace after a closed think chunk",
      (r: TurnRequest) => `  \n ${FakeTarget.reply(r)}`,
      "<think>hm</think>",
    ],
  ])(
    "a whole answer handed over as token texts (%s) -> the same records and histories as one chunk",
    (_name, replyText, firstChunk?: string) => {
      const run = (whole: "chunk" | "texts") =>
        runTwelve((target) => {
          target.whole = whole;
          target.replyText = replyText;
          target.firstChunk = firstChunk;
        });
      const chunk = run("chunk");
      const texts = run("texts");
      expect(texts.records).toHaveLength(12);
      expect(texts.records).toEqual(chunk.records);
      expect(texts.sent).toEqual(chunk.sent);
    },
  );

  it("record -> ttft, e2el, tpot, itl from the token timing", () => {
    const { timers, runner, records } = setup({ maxRequests: 1 });
    runner.start();
    timers.runAll(1e6);
    expect(records[0]).toMatchObject({
      ttft_ms: 10,
      e2el_ms: 26,
      tpot_ms: 16 / 3,
      itl_ms: [5, 5, 5],
      token_count: 4,
      completion_tokens: 4,
      cached_tokens: 10,
      queue_time_ms: 0.5,
      node_id: "n1",
    });
  });
});

describe("LoadRunner, open loop", () => {
  const plan = (n: number, startUs: number, turns = 1): SessionPlan => ({
    sessionId: `s${n}`,
    clientId: `c${n}`,
    profile: "p",
    startUs,
    priority: "normal",
    stream: true,
    ignoreEos: true,
    mode: turns > 1 ? "chat" : "completion",
    turns: Array.from({ length: turns }, (_, i) => ({
      turnIndex: i,
      promptTokens: 5,
      maxOutputTokens: 4,
      delayUs: i === 0 ? 0 : 2e6,
    })),
  });

  it("whole answers handed over as token texts -> a kept one read whole, one not kept only up to its first content", () => {
    const { timers, runner, records, target } = setup(
      { mode: "open" },
      arraySource([plan(0, 0), plan(1, 1000), plan(2, 1000, 2)]),
    );
    target.whole = "texts";
    const reply = (r: TurnRequest) => `${FakeTarget.reply(r)} ${"and more words ".repeat(20)}`;
    target.replyText = reply;
    runner.start();
    timers.runAll(1e7);
    expect(records).toHaveLength(4);
    // s2's first answer feeds its second turn's history (kept: every text); the three last
    // answers are plain content from their first text on (one text each).
    const kept = target.submits.find((s) => s.req.sessionId === "s2" && s.req.turnIndex === 0)!.req;
    expect(target.textReads).toBe(Math.ceil(reply(kept).length / 2) + 3);
  });

  it("sessions -> sent at startUs / timeScale regardless of responses; follow-ups after their delay", () => {
    const { timers, runner, target, done } = setup(
      { mode: "open", timeScale: 2 },
      arraySource([plan(0, 0), plan(1, 1000), plan(2, 1000, 2), plan(3, 4e6)]),
    );
    runner.start();
    timers.runAll(1e6);
    const at = (sid: string, turn = 0) =>
      target.submits.find((s) => s.req.sessionId === sid && s.req.turnIndex === turn)!.at;
    expect([at("s0"), at("s1"), at("s2"), at("s3")]).toEqual([0, 500, 500, 2e6]);
    expect(at("s2", 1)).toBe(500 + 26_000 + 1e6);
    expect(target.submits.find((s) => s.req.sessionId === "s1")!.req.prompt).toMatch(/^\w+( \w+){4}$/);
    expect(done()).toBe(1);
  });
});

describe("LoadRunner, split across runners (worker threads)", () => {
  /** A shared cap like the workers' SharedArrayBuffer counter, single-threaded. */
  const sharedQuota = (max: number) => {
    let taken = 0;
    return {
      take: () => (taken < max ? (taken++, true) : false),
      get exhausted() {
        return taken >= max;
      },
    };
  };

  it("two runners with a shared quota of 10 -> exactly 10 sends in total, both finish", () => {
    const quota = sharedQuota(10);
    const a = setup({}, undefined, quota);
    const b = setup({}, undefined, quota);
    a.runner.start();
    b.runner.start();
    a.timers.runAll(1e6);
    b.timers.runAll(1e6);
    expect(a.target.submits.length + b.target.submits.length).toBe(10);
    expect(a.records.length + b.records.length).toBe(10);
    expect(a.done() + b.done()).toBe(2);
  });

  it("slot offset 1, stride 3 -> clients 1, 4, 7 (unique run-wide)", () => {
    const { timers, runner, target } = setup({ maxRequests: 12, slotOffset: 1, slotStride: 3 });
    runner.start();
    timers.runAll(1e6);
    expect([...new Set(target.submits.map((s) => s.req.clientId))].sort()).toEqual([
      "client-1",
      "client-4",
      "client-7",
    ]);
  });
});
