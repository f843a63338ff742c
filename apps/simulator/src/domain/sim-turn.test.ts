import { encodeText } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { FastTokenCache } from "./fast-token-cache";
import { StreamTexts } from "./sim-turn";

describe("StreamTexts", () => {
  const tokens = new FastTokenCache();
  it.each([
    ["plain words", " the model streams plain words one token at a time"],
    // cl100k cuts these characters over several tokens (pieces "" until the one that completes it).
    ["characters cut over tokens", " plain first, then 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ꙮ ᚠᛇᚻ 🦜🪿, café"],
  ])("%s -> each piece and the whole text as TokenCache.streamPieces gives them", (_what, text) => {
    const ids = Int32Array.from(encodeText(text));
    const want = tokens.streamPieces(ids);
    const inOrder = new StreamTexts(ids, tokens);
    expect(Array.from({ length: ids.length }, (_, i) => inOrder.at(i))).toEqual(want);
    const backwards = new StreamTexts(ids, tokens);
    for (let i = ids.length - 1; i >= 0; i--) expect(backwards.at(i)).toBe(want[i]);
    expect(new StreamTexts(ids, tokens).text()).toBe(want.join(""));
    expect(inOrder.at(ids.length)).toBeUndefined();
  });

  it("the cut characters really give pieces that differ from each token's own text", () => {
    const ids = Int32Array.from(encodeText(" 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🦜🪿"));
    expect(tokens.streamPieces(ids).some((p, i) => p !== tokens.tokenText(ids[i]!))).toBe(true);
  });
});
