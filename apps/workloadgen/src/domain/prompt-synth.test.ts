import { loadTokenizer } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { PromptSynthesizer, promptVocabulary } from "./prompt-synth";

describe.each(["llama3", "llama2", "cl100k"])("PromptSynthesizer, tokenizer %s", (spec) => {
  const tokenizer = loadTokenizer(spec);
  const vocabulary = promptVocabulary(tokenizer);
  const synth = (seed: number, blockTokens?: number) => new PromptSynthesizer(seed, tokenizer, blockTokens);

  it("vocabulary -> large enough that prompts are varied", () => {
    expect(vocabulary.words.length).toBeGreaterThan(200);
    expect(vocabulary.bareFirst.length).toBeGreaterThan(100);
  });

  it.each([1, 2, 7, 64, 128, 513, 4000])("text of %i tokens -> tokenizes to exactly that many", (n) => {
    expect(tokenizer.countTokens(synth(1).text(`k${n}`, n))).toBe(n);
  });

  it.each([1, 5, 300])(
    "text of %i tokens -> no surrounding whitespace (chat templates trim nothing)",
    (n) => {
      const text = synth(3).text(`t${n}`, n);
      expect(text.trim()).toBe(text);
    },
  );

  it("word draws -> every vocabulary word appears, none far more often than the rest", () => {
    const counts = new Array<number>(vocabulary.words.length).fill(0);
    const words = synth(4).text("w", 60_000).split(" ");
    for (const w of words.slice(1)) counts[vocabulary.words.indexOf(` ${w}`)]!++;
    const expected = (words.length - 1) / vocabulary.words.length;
    expect(Math.min(...counts)).toBeGreaterThan(expected * 0.6);
    expect(Math.max(...counts)).toBeLessThan(expected * 1.4);
  });

  it("same seed and key -> same text; other key or seed -> different", () => {
    const a = synth(1).text("r1", 50);
    expect(synth(1).text("r1", 50)).toBe(a);
    expect(synth(1).text("r2", 50)).not.toBe(a);
    expect(synth(2).text("r1", 50)).not.toBe(a);
  });

  it("shared hash ids -> identical prefix blocks, then different text", () => {
    const s = synth(1, 16);
    const a = s.textWithPrefix("a", 40, [7, 8]);
    const b = s.textWithPrefix("b", 40, [7, 8, 9]);
    const c = s.textWithPrefix("c", 40, [1, 8]);
    // Prefix texts start with a space: counted after other text, as they are sent.
    const count = (t: string) => tokenizer.countTokens(tokenizer.prependsSpace ? t.trimStart() : t);
    expect(count(a)).toBe(40);
    expect(count(b)).toBe(40);
    const prefix = synth(1, 16).textWithPrefix("z", 32, [7, 8]);
    expect(a.startsWith(prefix)).toBe(true);
    expect(b.startsWith(prefix)).toBe(true);
    expect(a).not.toBe(b);
    expect(c.startsWith(prefix.slice(0, 40))).toBe(false);
  });

  it("input shorter than its blocks -> truncated to the token count", () => {
    const text = synth(1, 512).textWithPrefix("a", 100, [1, 2]);
    expect(tokenizer.countTokens(tokenizer.prependsSpace ? text.trimStart() : text)).toBe(100);
  });
});

describe("promptVocabulary", () => {
  it("llama3 and cl100k -> the same words (Llama 3's first 100,256 ids are cl100k's), so the same prompts", () => {
    expect(promptVocabulary(loadTokenizer("llama3")).words).toEqual(
      promptVocabulary(loadTokenizer("cl100k")).words,
    );
    expect(new PromptSynthesizer(5, loadTokenizer("llama3")).text("k", 300)).toBe(
      new PromptSynthesizer(5, loadTokenizer("cl100k")).text("k", 300),
    );
  });
});
