import { loadTokenizer, rngFor, VirtualTimers } from "@symphony/common";
import { describe, expect, it } from "vitest";
import {
  chatLengths,
  chatShapeProblem,
  drawLogNormalTokens,
  drawTurnCount,
  SHAREGPT_CHAT_SHAPE,
  synthesizeChats,
  SyntheticChatSource,
  type ChatSynthShape,
} from "./chat-synth";
import { DatasetSessionSource } from "./closed-loop";
import { LoadRunner } from "./load-runner";
import { PromptSynthesizer } from "./prompt-synth";
import type { Target, TurnHandlers, TurnRequest } from "./target";
import { ThinkTimeModel } from "./think-time";

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const typing = new ThinkTimeModel({ readCharsPerSec: 25, typeCharsPerSec: 6, speedJitter: 0 });

describe("chat synthesizer distributions", () => {
  it("turns: 1 + Geometric(0.285) capped at 40 -> mean 3.5, 71.5 % multi-turn, cap honoured", () => {
    const rng = rngFor(1, "t");
    const xs = Array.from({ length: 100_000 }, () => drawTurnCount(rng, 0.285, 40));
    // Uncapped mean 1 + 0.715 / 0.285 = 3.509; the cap at 40 removes ~1e-6 of the mass.
    expect(mean(xs)).toBeGreaterThan(3.45);
    expect(mean(xs)).toBeLessThan(3.57);
    const multi = xs.filter((x) => x > 1).length / xs.length;
    expect(Math.abs(multi - 0.715)).toBeLessThan(0.01);
    expect(Math.min(...xs)).toBe(1);
    const capped = Array.from({ length: 10_000 }, () => drawTurnCount(rng, 0.05, 12));
    expect(Math.max(...capped)).toBe(12);
  });

  it.each([
    // [median, σ, min, max]
    [40, 1.3, 4, 4096],
    [275, 0.7, 16, 2048],
  ])(
    "LogNormal(median %s, σ %s) in [%s, %s] -> sample median within 3 %, clamps honoured",
    (m, s, lo, hi) => {
      const rng = rngFor(2, "l");
      const xs = Array.from({ length: 100_000 }, () => drawLogNormalTokens(rng, m, s, lo, hi));
      expect(Math.abs(median(xs) / m - 1)).toBeLessThan(0.03);
      expect(Math.min(...xs)).toBe(lo);
      expect(Math.max(...xs)).toBeLessThanOrEqual(hi);
      // The mean of the unclamped LogNormal is median × e^(σ²/2); clamping moves it a little.
      expect(Math.abs(mean(xs) / (m * Math.exp((s * s) / 2)) - 1)).toBeLessThan(0.08);
    },
  );

  it("a tight cap clamps: max 20 with median 275 -> every reply is 20", () => {
    const rng = rngFor(3, "l");
    expect(new Set(Array.from({ length: 100 }, () => drawLogNormalTokens(rng, 275, 0.7, 16, 20)))).toEqual(
      new Set([20]),
    );
  });

  it("maxContextTokens -> no conversation's text exceeds it; longer chats are cut", () => {
    const shape: ChatSynthShape = { ...SHAREGPT_CHAT_SHAPE, maxContextTokens: 1500 };
    let cut = 0;
    for (let i = 0; i < 2000; i++) {
      const free = chatLengths(SHAREGPT_CHAT_SHAPE, 4, i);
      const l = chatLengths(shape, 4, i);
      const total = l.prompts.reduce((a, b) => a + b, 0) + l.replies.reduce((a, b) => a + b, 0);
      expect(total).toBeLessThanOrEqual(1500);
      expect(l.prompts.length).toBeGreaterThanOrEqual(1);
      if (l.prompts.length < free.prompts.length) cut++;
    }
    expect(cut).toBeGreaterThan(0);
  });

  it.each([
    [{ turnsGeometricP: 0 }, "turnsGeometricP must be in (0, 1]"],
    [{ maxTurns: 0 }, "maxTurns must be an integer >= 1"],
    [{ promptMinTokens: 10, promptMaxTokens: 5 }, "promptMinTokens/promptMaxTokens"],
    [{ replySigma: -1 }, "replySigma must be >= 0"],
    [{ maxContextTokens: 10 }, "cannot hold one turn"],
  ])("bad shape %j -> %s", (patch, message) => {
    expect(chatShapeProblem({ ...SHAREGPT_CHAT_SHAPE, ...patch })).toContain(message);
  });
});

describe("synthetic conversations", () => {
  const tokenizer = loadTokenizer("llama3");

  it("texts have exactly the drawn token counts", () => {
    const convs = synthesizeChats(SHAREGPT_CHAT_SHAPE, 5, 20, tokenizer);
    for (let i = 0; i < convs.length; i++) {
      const l = chatLengths(SHAREGPT_CHAT_SHAPE, 5, i);
      expect(convs[i]!.turns.map((t) => tokenizer.countTokens(t.user))).toEqual(l.prompts);
      expect(convs[i]!.turns.map((t) => tokenizer.countTokens(t.assistant))).toEqual(l.replies);
    }
  });

  it("same seed -> byte-identical conversations; another seed -> different ones", () => {
    const a = JSON.stringify(synthesizeChats(SHAREGPT_CHAT_SHAPE, 9, 30, tokenizer));
    expect(JSON.stringify(synthesizeChats(SHAREGPT_CHAT_SHAPE, 9, 30, tokenizer))).toBe(a);
    expect(JSON.stringify(synthesizeChats(SHAREGPT_CHAT_SHAPE, 10, 30, tokenizer))).not.toBe(a);
  });

  it("conversation k does not depend on how many are drawn, nor prompts on reply parameters", () => {
    const few = synthesizeChats(SHAREGPT_CHAT_SHAPE, 9, 3, tokenizer);
    expect(synthesizeChats(SHAREGPT_CHAT_SHAPE, 9, 10, tokenizer).slice(0, 3)).toEqual(few);
    const longer = { ...SHAREGPT_CHAT_SHAPE, replyMedianTokens: 500 };
    for (let i = 0; i < 20; i++)
      expect(chatLengths(longer, 9, i).prompts).toEqual(chatLengths(SHAREGPT_CHAT_SHAPE, 9, i).prompts);
  });

  it("source: fresh conversation per session, planned lengths, chat mode, deterministic", () => {
    const make = () =>
      new SyntheticChatSource(SHAREGPT_CHAT_SHAPE, typing, {
        seed: 3,
        tokenizer,
        maxOutputTokens: 100,
        priority: "normal",
        stream: true,
        numClients: 2,
      });
    const src = make();
    const plans = Array.from({ length: 5 }, () => src.next());
    expect(new Set(plans.map((p) => p.turns[0]!.text)).size).toBe(5);
    expect(plans.map((p) => p.clientId)).toEqual([
      "client-0",
      "client-1",
      "client-0",
      "client-1",
      "client-0",
    ]);
    for (const [i, p] of plans.entries()) {
      const l = chatLengths(SHAREGPT_CHAT_SHAPE, 3, i);
      expect(p.mode).toBe("chat");
      expect(p.turns.map((t) => t.promptTokens)).toEqual(l.prompts);
      expect(p.turns.map((t) => t.maxOutputTokens)).toEqual(l.replies.map((r) => Math.min(100, r)));
      expect(p.turns.every((t) => t.delayUs === undefined)).toBe(true); // typing: waits follow the texts
    }
    const again = make();
    expect(JSON.stringify(Array.from({ length: 5 }, () => again.next()))).toBe(JSON.stringify(plans));
  });

  it("source with chat-gaps think time -> every turn has a planned wait", () => {
    const gaps = new ThinkTimeModel({
      kind: "chat-gaps",
      readCharsPerSec: 25,
      typeCharsPerSec: 6,
      speedJitter: 0,
    });
    const src = new SyntheticChatSource(SHAREGPT_CHAT_SHAPE, gaps, {
      seed: 3,
      tokenizer,
      maxOutputTokens: 2048,
      priority: "normal",
      stream: true,
      numClients: 1,
    });
    const turns = Array.from({ length: 50 }, () => src.next()).flatMap((p) => p.turns);
    expect(turns.every((t) => (t.delayUs ?? 0) > 0)).toBe(true);
  });
});

describe("playing synthetic chats", () => {
  const tokenizer = loadTokenizer("llama3");

  it("every turn resends the history with the replies actually received, not the planned ones", () => {
    const timers = new VirtualTimers();
    const sent: TurnRequest[] = [];
    // Answers with its own text, so the history must carry what came back, not the plan's reply.
    const target: Target = {
      submit(req: TurnRequest, h: TurnHandlers) {
        sent.push(req);
        timers.at(timers.nowUs() + 1000, () => h.started({ nodeId: "n", queueTimeUs: 0, kvTier: "new" }));
        timers.at(timers.nowUs() + 2000, () => h.token(`received-${req.requestId}`, 1));
        timers.at(timers.nowUs() + 3000, () =>
          h.finished({
            nodeId: "n",
            promptTokens: 1,
            completionTokens: 1,
            cachedTokens: 0,
            finishReason: "stop",
          }),
        );
        return { cancel() {} };
      },
      advise() {},
      closeSession() {},
    };
    const shape: ChatSynthShape = { ...SHAREGPT_CHAT_SHAPE, turnsGeometricP: 0.01, maxTurns: 3 };
    const runner = new LoadRunner(
      {
        timers,
        target,
        source: new SyntheticChatSource(shape, typing, {
          seed: 1,
          tokenizer,
          maxOutputTokens: 2048,
          priority: "normal",
          stream: true,
          numClients: 1,
        }),
        thinkTime: typing,
        synth: new PromptSynthesizer(1, tokenizer),
      },
      {
        mode: "closed",
        concurrency: 1,
        maxRequests: 3,
        durationUs: Infinity,
        timeScale: 1000,
        hints: false,
        runId: "r",
      },
      () => {},
      () => {},
    );
    runner.start();
    timers.runUntil(600e6);
    expect(sent).toHaveLength(3);
    const third = sent[2]!.messages!;
    expect(third.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant", "user"]);
    expect(third[1]!.content).toBe(`received-${sent[0]!.requestId}`);
    expect(third[3]!.content).toBe(`received-${sent[1]!.requestId}`);
  });

  it("dataset replay with chat-gaps -> every turn gets a planned wait; typing -> none", () => {
    const conversations = synthesizeChats(SHAREGPT_CHAT_SHAPE, 2, 5, tokenizer);
    const options = {
      seed: 1,
      tokenizer,
      maxOutputTokens: 100,
      priority: "normal" as const,
      stream: true,
      numClients: 1,
    };
    const gaps = new ThinkTimeModel({
      kind: "chat-gaps",
      readCharsPerSec: 25,
      typeCharsPerSec: 6,
      speedJitter: 0,
    });
    const withGaps = new DatasetSessionSource(conversations, gaps, options).next().turns;
    expect(withGaps.every((t) => (t.delayUs ?? 0) > 0)).toBe(true);
    const plain = new DatasetSessionSource(conversations, typing, options).next().turns;
    expect(plain.every((t) => t.delayUs === undefined)).toBe(true);
  });
});
