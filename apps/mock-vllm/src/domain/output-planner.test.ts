import { loadTokenizer } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { OutputPlanner } from "./output-planner";
import { TokenCache } from "./tokens";

const prompt = [128000, 1, 2, 3];

describe.each(["cl100k", "llama3", "llama2"])("OutputPlanner, tokenizer %s", (spec) => {
  const tokens = new TokenCache(loadTokenizer(spec));
  const decodeTokens = (ids: readonly number[]) => tokens.tokenizer.decode(ids);
  const planner = new OutputPlanner(0, 0, tokens);
  const text = "The answer is forty-two, of course.";
  const n = tokens.encode(text).length;

  it.each([
    ["shorter than max_tokens", { maxTokens: n + 10, minTokens: 0, ignoreEos: false }, n, "stop"],
    ["exactly max_tokens", { maxTokens: n, minTokens: 0, ignoreEos: false }, n, "length"],
    ["truncated by max_tokens", { maxTokens: 3, minTokens: 0, ignoreEos: false }, 3, "length"],
    ["ignore_eos", { maxTokens: n + 10, minTokens: 0, ignoreEos: true }, n + 10, "length"],
    ["min_tokens past the answer", { maxTokens: n + 10, minTokens: n + 4, ignoreEos: false }, n + 4, "stop"],
  ])("expected response, %s -> %i tokens, %s", (_name, limits, wantLen, wantReason) => {
    const plan = planner.plan({ promptTokenIds: prompt, expectedResponse: text, ...limits });
    expect(plan.tokenIds).toHaveLength(wantLen);
    expect(plan.finishReason).toBe(wantReason);
    const got = decodeTokens(Array.from(plan.tokenIds));
    if (wantLen >= n) expect(got.startsWith(text)).toBe(true);
  });

  it("empty expected response -> one text-less end-of-turn token, stop", () => {
    const plan = planner.plan({
      promptTokenIds: prompt,
      expectedResponse: "",
      maxTokens: 5,
      minTokens: 0,
      ignoreEos: false,
    });
    expect(plan.tokenIds).toHaveLength(1);
    expect(tokens.tokenizer.isSpecial(plan.tokenIds[0]!)).toBe(true);
    expect(tokens.streamPieces(plan.tokenIds)).toEqual([""]);
  });

  it("generated text, no EOS sampling -> max_tokens single-token words", () => {
    const plan = planner.plan({ promptTokenIds: prompt, maxTokens: 50, minTokens: 0, ignoreEos: false });
    expect(plan.tokenIds).toHaveLength(50);
    expect(plan.finishReason).toBe("length");
    expect(tokens.encode(decodeTokens(Array.from(plan.tokenIds)))).toEqual(Array.from(plan.tokenIds));
  });

  it("same seed and prompt -> identical output; other seed or prompt -> different", () => {
    const input = { promptTokenIds: prompt, maxTokens: 30, minTokens: 0, ignoreEos: false };
    const a = new OutputPlanner(1, 0, tokens).plan(input).tokenIds;
    expect(new OutputPlanner(1, 0, tokens).plan(input).tokenIds).toEqual(a);
    expect(new OutputPlanner(2, 0, tokens).plan(input).tokenIds).not.toEqual(a);
    expect(new OutputPlanner(1, 0, tokens).plan({ ...input, promptTokenIds: [9, 9] }).tokenIds).not.toEqual(
      a,
    );
  });

  it("EOS mean 40 -> mean length near 40 over many prompts, and some stop early", () => {
    const p = new OutputPlanner(3, 40, tokens);
    let sum = 0;
    let stops = 0;
    const count = 2000;
    for (let i = 0; i < count; i++) {
      const plan = p.plan({ promptTokenIds: [i, i + 1], maxTokens: 100000, minTokens: 0, ignoreEos: false });
      sum += plan.tokenIds.length;
      if (plan.finishReason === "stop") stops++;
    }
    expect(sum / count).toBeGreaterThan(34);
    expect(sum / count).toBeLessThan(46);
    expect(stops).toBe(count);
  });
});

describe.each(["cl100k", "llama3", "llama2"])("TokenCache.streamPieces, tokenizer %s", (spec) => {
  const tokens = new TokenCache(loadTokenizer(spec));
  it.each([
    "plain ascii words",
    "Ünïcödé façade",
    "日本語のテキスト",
    "emoji 🎉🚀 mix",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ ᚠᛇᚻ 🦜🪿",
    "",
  ])("%j -> pieces join to the text, one piece per token, the same whatever was decoded before", (text) => {
    const ids = tokens.encode(text);
    const pieces = tokens.streamPieces(ids);
    // Characters cut over several tokens must not leak into the next decode (nor depend on
    // the previous one): again, and on a cache that never decoded anything, the same pieces.
    expect(tokens.streamPieces(ids)).toEqual(pieces);
    expect(new TokenCache(loadTokenizer(spec)).streamPieces(ids)).toEqual(pieces);
    expect(pieces).toHaveLength(ids.length);
    // SentencePiece output streams with its leading space (" Hello"), as Llama 2 in vLLM does.
    expect(pieces.join("")).toBe(tokens.tokenizer.prependsSpace && text ? ` ${text}` : text);
    expect(pieces.some((p) => p.includes("\uFFFD"))).toBe(false);
  });
});

describe("OutputPlanner, seeded filler", () => {
  it.each([
    [0, [128000, 1, 2, 3], 91, [813, 323, 1790, 904, 1715, 6636]],
    [42, Array.from({ length: 1234 }, (_, i) => (i * 7919) % 100000), 52, [574, 311, 1855, 1614, 422, 1203]],
    [7, [], 22, [2035, 904, 1288, 2103, 389, 2646]],
  ])(
    "seed %i, a prompt -> the same plan as ever (%#: its output stream is named after the prompt)",
    (seed, ids, len, first) => {
      const tokens = new TokenCache(loadTokenizer("cl100k"));
      const plan = new OutputPlanner(seed, 40, tokens).plan({
        promptTokenIds: ids,
        maxTokens: 200,
        minTokens: 0,
        ignoreEos: false,
      });
      expect(plan.finishReason).toBe("stop");
      expect(plan.tokenIds).toHaveLength(len);
      expect(Array.from(plan.tokenIds.slice(0, 6))).toEqual(first);
    },
  );
});
