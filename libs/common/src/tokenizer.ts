// One tokenizer for the whole stack, so client, node and mock engine agree on token counts.
// cl100k_base (pure JS, no download): Llama 3's tokenizer is built on the same tiktoken
// vocabulary plus 28k extra tokens, so counts are close to what a Llama 3 vLLM reports.
import { countTokens as cl100kCount, decode, encode } from "gpt-tokenizer/encoding/cl100k_base";

export const TOKENIZER_NAME = "cl100k_base";

export function encodeText(text: string): number[] {
  return encode(text);
}

export function decodeTokens(tokens: readonly number[]): string {
  return decode(tokens as number[]);
}

export function countTokens(text: string): number {
  return cl100kCount(text);
}
