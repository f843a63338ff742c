import { countTokens } from "@symphony/common";
import { describe, expect, it } from "vitest";
import { PromptSynthesizer, SINGLE_TOKEN_WORDS } from "./prompt-synth";

describe("PromptSynthesizer", () => {
  it("vocabulary -> large enough that prompts are varied", () => {
    expect(SINGLE_TOKEN_WORDS.length).toBeGreaterThan(200);
  });

  it.each([1, 2, 7, 64, 128, 513, 4000])("text of %i tokens -> tokenizes to exactly that many", (n) => {
    expect(countTokens(new PromptSynthesizer(1).text(`k${n}`, n))).toBe(n);
  });

  it.each([1, 5, 300])(
    "text of %i tokens -> no surrounding whitespace (chat templates trim nothing)",
    (n) => {
      const text = new PromptSynthesizer(3).text(`t${n}`, n);
      expect(text.trim()).toBe(text);
    },
  );

  it("word draws -> every vocabulary word appears, none far more often than the rest", () => {
    const counts = new Array<number>(SINGLE_TOKEN_WORDS.length).fill(0);
    const words = new PromptSynthesizer(4).text("w", 60_000).split(" ");
    for (const w of words.slice(1)) counts[SINGLE_TOKEN_WORDS.indexOf(` ${w}`)]!++;
    const expected = (words.length - 1) / SINGLE_TOKEN_WORDS.length;
    expect(Math.min(...counts)).toBeGreaterThan(expected * 0.6);
    expect(Math.max(...counts)).toBeLessThan(expected * 1.4);
  });

  it("same seed and key -> same text; other key or seed -> different", () => {
    const a = new PromptSynthesizer(1).text("r1", 50);
    expect(new PromptSynthesizer(1).text("r1", 50)).toBe(a);
    expect(new PromptSynthesizer(1).text("r2", 50)).not.toBe(a);
    expect(new PromptSynthesizer(2).text("r1", 50)).not.toBe(a);
  });

  it("shared hash ids -> identical prefix blocks, then different text", () => {
    const synth = new PromptSynthesizer(1, 16);
    const a = synth.textWithPrefix("a", 40, [7, 8]);
    const b = synth.textWithPrefix("b", 40, [7, 8, 9]);
    const c = synth.textWithPrefix("c", 40, [1, 8]);
    expect(countTokens(a)).toBe(40);
    expect(countTokens(b)).toBe(40);
    const prefix = new PromptSynthesizer(1, 16).textWithPrefix("z", 32, [7, 8]);
    expect(a.startsWith(prefix)).toBe(true);
    expect(b.startsWith(prefix)).toBe(true);
    expect(a).not.toBe(b);
    expect(c.startsWith(prefix.slice(0, 40))).toBe(false);
  });

  it("input shorter than its blocks -> truncated to the token count", () => {
    expect(countTokens(new PromptSynthesizer(1, 512).textWithPrefix("a", 100, [1, 2]))).toBe(100);
  });
});
