import { encodeText, loadTokenizer } from "@symphony/common";
import { ChatTemplate } from "@symphony/mock-vllm/domain";
import { PromptSynthesizer } from "@symphony/workloadgen/domain";
import { describe, expect, it } from "vitest";
import { FastTokenCache } from "./fast-token-cache";
import { TokenAwareSynthesizer } from "./token-aware-synthesizer";

describe("TokenAwareSynthesizer", () => {
  it.each([
    [1, "s1:0", 0],
    [1, "s1:0", 1],
    [1, "s1:0", 9],
    [1, "s1:1", 50],
    [7, "x", 300],
  ])("seed %i key %s, %i tokens -> the same text as workloadgen's PromptSynthesizer", (seed, key, tokens) => {
    const text = new TokenAwareSynthesizer(seed, 512, new FastTokenCache()).text(key, tokens);
    expect(text).toBe(new PromptSynthesizer(seed, loadTokenizer("cl100k"), 512).text(key, tokens));
  });

  it("a synthetic prompt -> its ids (as sent and trimmed) are cached, equal to the real encoding, no full encode", () => {
    const cache = new FastTokenCache();
    const text = new TokenAwareSynthesizer(3, 512, cache).text("k", 120);
    expect([...cache.encode(text)]).toEqual(encodeText(text));
    expect([...cache.encode(text.trim())]).toEqual(encodeText(text.trim()));
    expect(cache.fullEncodes).toBe(0);
  });

  it("a synthetic prompt -> the engine's prompt array is BOS + the real encoding, written from the words", () => {
    const cache = new FastTokenCache();
    const text = new TokenAwareSynthesizer(5, 512, cache).text("k", 77);
    const template = new ChatTemplate(cache);
    expect([...template.completionPromptIds(text)]).toEqual([template.format.bosId, ...encodeText(text)]);
    expect(cache.count(text)).toBe(77);
    expect(cache.fullEncodes).toBe(0);
  });
});
