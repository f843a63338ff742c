import { encodeText } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { FastTokenCache, type KnownIds } from "./fast-token-cache";

/** Ids as `remember` takes them. */
function known(...ids: number[]): KnownIds {
  return {
    length: ids.length,
    writeInto(out, at) {
      for (const id of ids) out[at++] = id;
      return at;
    },
  };
}

describe("FastTokenCache", () => {
  it.each([
    ["words with leading space", " time year people way day thing"],
    ["words without leading space", "hello world this is a test"],
    ["mixed case words", "Hello World Tokenizer Stuff"],
    ["long rare words", "antidisestablishmentarianism supercalifragilistic"],
    ["punctuation (full tokenizer)", "Hello, world! It's 3 o'clock."],
    ["double spaces (full tokenizer)", "two  spaces   here"],
    ["newlines (full tokenizer)", "line one\nline two"],
    ["unicode (full tokenizer)", "café naïve 日本語"],
  ])("encode, %s -> exactly the cl100k encoding", (_what, text) => {
    expect([...new FastTokenCache().encode(text)]).toEqual(encodeText(text));
  });

  it("word-only text -> never runs the full tokenizer on the whole text", () => {
    const cache = new FastTokenCache();
    cache.encode(" time year people");
    cache.encode("time year people");
    expect(cache.fullEncodes).toBe(0);
  });

  it("same text twice -> one full encode (memoised)", () => {
    const cache = new FastTokenCache();
    cache.encode("Hello, world!");
    cache.encode("Hello, world!");
    expect(cache.fullEncodes).toBe(1);
  });

  it("more texts than maxTexts -> the oldest is dropped", () => {
    const cache = new FastTokenCache(2);
    for (const t of ["a, b", "c, d", "e, f"]) cache.encode(t);
    expect(cache.size).toBe(2);
    cache.encode("a, b");
    expect(cache.fullEncodes).toBe(4);
  });

  it("a remembered text -> encode, count and encodeInto give its remembered ids", () => {
    const cache = new FastTokenCache();
    // Deliberately not the text's real encoding: a hit must come from what was remembered.
    cache.remember("x y", known(7, 8, 9));
    expect([...cache.encode("x y")]).toEqual([7, 8, 9]);
    expect(cache.count("x y")).toBe(3);
    const out = [1, 2];
    expect(cache.encodeInto("x y", out, 1)).toBe(4);
    expect(out).toEqual([1, 7, 8, 9]);
  });

  it("a text not remembered -> count and encodeInto match encode", () => {
    const cache = new FastTokenCache();
    const text = "Hello, world! It's 3 o'clock.";
    const out: number[] = [];
    expect(cache.encodeInto(text, out, 0)).toBe(encodeText(text).length);
    expect(out).toEqual(encodeText(text));
    expect(cache.count(text)).toBe(encodeText(text).length);
  });

  it("remembered texts past maxRecent -> the oldest are forgotten, same-length texts kept apart", () => {
    // maxRecent 3; every text has 3 letters, so all share one length chain.
    const cache = new FastTokenCache(10, 3);
    const texts = ["a b", "c d", "e f", "g h"];
    texts.forEach((t, i) => cache.remember(t, known(100 + i)));
    // "a b" fell out of the ring: it is encoded for real again (word by word).
    expect([...cache.encode("a b")]).toEqual(encodeText("a b"));
    // The others still give their remembered ids; an equal string built anew finds its entry too.
    expect([...cache.encode("c d")]).toEqual([101]);
    expect([...cache.encode(["g", "h"].join(" "))]).toEqual([103]);
    expect(cache.count("e f")).toBe(1);
    // Remembering a text again replaces its ids without taking another slot.
    cache.remember("e f", known(7, 7));
    cache.remember("i j", known(104));
    expect([...cache.encode("e f")]).toEqual([7, 7]);
    expect([...cache.encode("c d")]).toEqual(encodeText("c d"));
  });

  it("forget -> that text only is encoded for real again; its slot and chain are reused cleanly", () => {
    const cache = new FastTokenCache(10, 3);
    ["a b", "c d", "e f"].forEach((t, i) => cache.remember(t, known(100 + i)));
    cache.forget("c d"); // the middle of the length chain
    cache.forget("x y"); // never remembered: nothing changes
    expect(cache.size).toBe(2);
    expect([...cache.encode("c d")]).toEqual(encodeText("c d"));
    expect([...cache.encode("a b")]).toEqual([100]);
    expect([...cache.encode("e f")]).toEqual([102]);
    // Two more: the first takes the oldest slot ("a b"), the second the forgotten one's.
    cache.remember("g h", known(103));
    cache.remember("i j", known(104));
    expect([...cache.encode("a b")]).toEqual(encodeText("a b"));
    expect([...cache.encode("e f")]).toEqual([102]);
    expect([...cache.encode("g h")]).toEqual([103]);
    expect([...cache.encode("i j")]).toEqual([104]);
    cache.forget("i j"); // the head of the chain
    expect([...cache.encode("g h")]).toEqual([103]);
    expect([...cache.encode("i j")]).toEqual(encodeText("i j"));
  });
});
