import { VirtualTimers } from "@symphony/common";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { EngineCore, type EngineConfig, type EngineListener, type RequestSummary } from "./engine-core";
import { PROFILES } from "./profiles";
import { coefficientsFor, StepTimeModel } from "./step-time-model";

const model = new StepTimeModel(coefficientsFor(PROFILES["llama3-8b-h100"]!));

interface Arrival {
  atUs: number;
  /** Index of an earlier request whose prompt this one extends (shared prefix), or -1. */
  extendsRequest: number;
  promptLen: number;
  outputLen: number;
  /** Abort this many µs after arrival; -1 = never. */
  abortAfterUs: number;
  /** Index of a request its listener aborts when this one finishes (mid-step); -1 = none. */
  abortsOnFinish: number;
}

interface Scenario {
  config: Omit<EngineConfig, "fastForward">;
  arrivals: Arrival[];
  /** Times at which engine stats are read mid-run. */
  probesUs: number[];
  listenerHasOnTokens: boolean;
}

/** What a run looked like from outside: tokens with times, summaries, events, stats. */
interface Observed {
  tokens: string[][];
  summaries: (RequestSummary | undefined)[];
  steps: string[];
  events: string[];
  probes: string[];
}

function run(s: Scenario, fastForward: boolean): Observed {
  const timers = new VirtualTimers();
  const steps: string[] = [];
  const events: string[] = [];
  const engine = new EngineCore(
    { ...s.config, fastForward },
    model,
    timers,
    { onStep: (shape, us) => steps.push(`${timers.nowUs()} ${JSON.stringify(shape)} ${us}`) },
    { publish: (batch, nowUs) => events.push(`${nowUs} ${JSON.stringify(batch)}`) },
  );
  const out: Observed = { tokens: [], summaries: [], steps, events, probes: [] };
  const prompts: number[][] = [];
  s.arrivals.forEach((a, i) => {
    const base = a.extendsRequest >= 0 && a.extendsRequest < i ? prompts[a.extendsRequest]! : [];
    const prompt = base.concat(Array.from({ length: a.promptLen }, (_, k) => (i * 7919 + k * 31) % 50000));
    prompts.push(prompt);
    const trace: string[] = [];
    out.tokens.push(trace);
    out.summaries.push(undefined);
    const listener: EngineListener = {
      onToken: (index, tokenId) => trace.push(`${index}:${tokenId}@${timers.nowUs()}`),
      onFinish: (summary) => {
        out.summaries[i] = summary;
        if (a.abortsOnFinish >= 0) engine.abort(`r${a.abortsOnFinish}`);
      },
    };
    if (s.listenerHasOnTokens) {
      const outputs = Array.from({ length: a.outputLen }, (_, k) => 1000 + k);
      listener.onTokens = (first, count, timesUs, from) => {
        for (let k = 0; k < count; k++) trace.push(`${first + k}:${outputs[first + k]}@${timesUs[from + k]}`);
      };
    }
    timers.at(a.atUs, () => {
      try {
        engine.submit(
          {
            id: `r${i}`,
            promptTokenIds: prompt,
            outputTokenIds: Array.from({ length: a.outputLen }, (_, k) => 1000 + k),
            finishReason: "length",
          },
          listener,
        );
      } catch (err) {
        trace.push(`rejected ${(err as Error).message}`);
      }
    });
    if (a.abortAfterUs >= 0) timers.at(a.atUs + a.abortAfterUs, () => engine.abort(`r${i}`));
  });
  for (const p of s.probesUs) timers.at(p, () => out.probes.push(`${p} ${JSON.stringify(engine.stats())}`));
  timers.runAll(1_000_000);
  out.probes.push(JSON.stringify(engine.stats()));
  if (!s.listenerHasOnTokens)
    for (const t of out.tokens) for (let k = 0; k < t.length; k++) t[k] = t[k]!.split("@")[0]!;
  return out;
}

const arrival = fc.record({
  atUs: fc.integer({ min: 0, max: 400_000 }),
  extendsRequest: fc.integer({ min: -3, max: 30 }),
  promptLen: fc.integer({ min: 1, max: 300 }),
  outputLen: fc.integer({ min: 1, max: 120 }),
  abortAfterUs: fc.oneof(fc.constant(-1), fc.constant(-1), fc.integer({ min: 0, max: 300_000 })),
  abortsOnFinish: fc.oneof(
    fc.constant(-1),
    fc.constant(-1),
    fc.constant(-1),
    fc.integer({ min: 0, max: 29 }),
  ),
});

const scenario: fc.Arbitrary<Scenario> = fc.record({
  config: fc.record({
    maxNumSeqs: fc.integer({ min: 1, max: 24 }),
    maxNumBatchedTokens: fc.integer({ min: 8, max: 1024 }),
    numGpuBlocks: fc.integer({ min: 40, max: 400 }),
    blockSize: fc.constantFrom(1, 4, 16),
    enablePrefixCaching: fc.boolean(),
    timeScale: fc.constantFrom(1, 10, 1000),
    cpuOffload: fc.option(
      fc.record({
        numCpuBlocks: fc.integer({ min: 1, max: 300 }),
        bytesPerBlock: fc.constant(2_097_152),
        linkBytesPerUs: fc.constantFrom(1_000, 25_000),
      }),
      { nil: undefined },
    ),
  }),
  arrivals: fc.array(arrival, { minLength: 1, maxLength: 30 }),
  probesUs: fc.array(fc.integer({ min: 0, max: 800_000 }), { maxLength: 6 }),
  listenerHasOnTokens: fc.boolean(),
});

describe("EngineCore fastForward", () => {
  it("gives the same tokens (and times), summaries, step shapes, KV events and stats as stepping one by one", () => {
    fc.assert(
      fc.property(scenario, (s) => {
        expect(run(s, true)).toEqual(run(s, false));
      }),
      { numRuns: 150, seed: 21 },
    );
  });

  it("stays equivalent when a listener aborts a request while others finish in the same step", () => {
    // r1 and r2 decode in step and finish together; r1's finish aborts r0 (ahead of them in the
    // batch, so its token of that step is out already), ending the stretch while r2 is still to
    // be completed in that step.
    const same = { atUs: 0, extendsRequest: -1, promptLen: 40, abortAfterUs: -1 };
    for (const listenerHasOnTokens of [false, true]) {
      const s: Scenario = {
        config: {
          maxNumSeqs: 8,
          maxNumBatchedTokens: 512,
          numGpuBlocks: 200,
          blockSize: 4,
          enablePrefixCaching: true,
          timeScale: 1,
        },
        arrivals: [
          { ...same, outputLen: 90, abortsOnFinish: -1 },
          { ...same, outputLen: 50, abortsOnFinish: 0 },
          { ...same, outputLen: 50, abortsOnFinish: -1 },
        ],
        probesUs: [],
        listenerHasOnTokens,
      };
      const ff = run(s, true);
      expect(ff).toEqual(run(s, false));
      expect(ff.summaries.map((x) => x?.finishReason)).toEqual(["abort", "length", "length"]);
    }
  });

  it("actually skips work: a long decode-only stretch hands its tokens over in runs", () => {
    const timers = new VirtualTimers();
    const engine = new EngineCore(
      {
        maxNumSeqs: 8,
        maxNumBatchedTokens: 2048,
        numGpuBlocks: 1000,
        blockSize: 16,
        enablePrefixCaching: true,
        timeScale: 1,
        fastForward: true,
      },
      model,
      timers,
    );
    let singles = 0;
    let runs = 0;
    let tokens = 0;
    engine.submit(
      {
        id: "a",
        promptTokenIds: [1, 2, 3],
        outputTokenIds: Array.from({ length: 200 }, (_, k) => k),
        finishReason: "length",
      },
      {
        onToken: () => (singles++, tokens++),
        onTokens: (_first, count) => (runs++, (tokens += count)),
        onFinish: () => {},
      },
    );
    timers.runAll();
    expect(tokens).toBe(200);
    // The prefill's token and the last step's are emitted one by one; the rest come in runs, at
    // most one per block filled (every 16 steps).
    expect(singles).toBeLessThanOrEqual(3);
    expect(runs).toBeLessThanOrEqual(200 / 16 + 2);
  });
});
