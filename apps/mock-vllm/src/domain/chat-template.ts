import { SPECIAL, type TokenCache } from "./tokens";

export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

/**
 * Llama 3.1's chat template, token by token (approximation documented in the README):
 *
 *   <|begin_of_text|>
 *   <|start_header_id|>system<|end_header_id|>\n\n Cutting Knowledge Date: ...\n\n{system}<|eot_id|>
 *   <|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>      (each other message)
 *   <|start_header_id|>assistant<|end_header_id|>\n\n                    (generation prompt)
 *
 * Content is tokenised with the stack's tokenizer (cl100k_base) and memoised per message, so a
 * conversation resent every turn costs only its new messages. Turn k's prompt is a token prefix
 * of turn k+1's, which is what makes prefix caching work across turns, as in vLLM.
 */
export class ChatTemplate {
  private readonly headerCache = new Map<string, readonly number[]>();
  private readonly preamble: readonly number[];

  constructor(private readonly tokens: TokenCache) {
    this.preamble = tokens.encode("Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n");
  }

  /** Token ids of the templated conversation. */
  apply(messages: readonly ChatMessage[], addGenerationPrompt = true): number[] {
    const out: number[] = [SPECIAL.beginOfText];
    let rest = messages;
    const first = messages[0];
    // The template always emits a system block, with the knowledge-date preamble.
    this.pushAll(out, this.header("system"));
    this.pushAll(out, this.preamble);
    if (first && first.role === "system") {
      this.pushAll(out, this.tokens.encode(first.content.trim()));
      rest = messages.slice(1);
    }
    out.push(SPECIAL.endOfTurn);
    for (const m of rest) {
      this.pushAll(out, this.header(m.role));
      this.pushAll(out, this.tokens.encode(m.content.trim()));
      out.push(SPECIAL.endOfTurn);
    }
    if (addGenerationPrompt) this.pushAll(out, this.header("assistant"));
    return out;
  }

  /** A raw completion prompt: <|begin_of_text|> + text (vLLM adds BOS for Llama). */
  completionPrompt(text: string): number[] {
    const out: number[] = [SPECIAL.beginOfText];
    this.pushAll(out, this.tokens.encode(text));
    return out;
  }

  private header(role: string): readonly number[] {
    let h = this.headerCache.get(role);
    if (!h) {
      h = [
        SPECIAL.startHeader,
        ...this.tokens.encode(role),
        SPECIAL.endHeader,
        ...this.tokens.encode("\n\n"),
      ];
      if (this.headerCache.size < 64) this.headerCache.set(role, h);
    }
    return h;
  }

  private pushAll(out: number[], ids: readonly number[]): void {
    for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
  }
}
