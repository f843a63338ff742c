import { loadTokenizer, rngFor } from "@symphony/common";
import { InferenceRequest, Role } from "@symphony/runtime";
import { describe, expect, it } from "vitest";
import { PromptTokenCounter } from "./prompt-token-counter";
import { countPromptTokensSliced, countTextSliced, SLICE_CHARS } from "./sliced-prompt-count";

const tokenizer = loadTokenizer("llama3");
const words = "the quick brown fox jumps over the lazy dog while the engine keeps streaming tokens ";
const english = (chars: number) => words.repeat(Math.ceil(chars / words.length)).slice(0, chars);

/** Text that tokenizes about one token per two characters (the slow case for BPE). */
function hostile(chars: number): string {
  const rng = rngFor(7, "hostile-text");
  let s = "";
  while (s.length < chars) s += `${rng.next().toString(36).slice(2)} `;
  return s.slice(0, chars);
}

describe("countPromptTokensSliced", () => {
  it.each([
    ["a chat of long messages", { messages: [english(50_000), english(90_000), "short"] }],
    ["a long completion prompt", { prompt: english(200_000) }],
  ])("%s -> the same count as PromptTokenCounter", async (_name, shape) => {
    const req = InferenceRequest.fromPartial(
      "messages" in shape
        ? { messages: shape.messages!.map((content) => ({ role: Role.ROLE_USER, content })) }
        : { prompt: shape.prompt },
    );
    expect(await countPromptTokensSliced(tokenizer, req)).toBe(new PromptTokenCounter(tokenizer).count(req));
  });

  it("hostile text -> within a token per slice of the whole count", async () => {
    const text = hostile(100_000);
    const whole = tokenizer.countTokens(text);
    const sliced = await countTextSliced(tokenizer, text);
    expect(Math.abs(sliced - whole)).toBeLessThanOrEqual(Math.ceil(text.length / SLICE_CHARS));
  });

  it("600 KB of hostile text -> the event loop is never held for long while it is counted", async () => {
    let last = performance.now();
    let longest = 0;
    const tick = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last);
      last = now;
    }, 5);
    const t0 = performance.now();
    await countTextSliced(tokenizer, hostile(600_000));
    clearInterval(tick);
    const total = performance.now() - t0;
    // The whole count takes seconds on this machine; no stretch of it blocks more than a slice.
    expect(total).toBeGreaterThan(longest * 3);
    expect(longest).toBeLessThan(400);
  });
});
