import {
  chatFormatFor,
  TypedArraySlab,
  type ChatFormat,
  type ChatPiece,
  type ChatRenderOptions,
  type TemplateMessage,
} from "@symphony/common";
import type { TokenCache } from "./tokens";

export type ChatMessage = TemplateMessage;

/** Layout pieces up to this length (role names, "\n\n", the system preamble) are kept here for good. */
const FIXED_PIECE_CHARS = 80;
/** Token slots of `ChatTemplate.ids`' scratch array kept between prompts. */
const MAX_SCRATCH = 1 << 17;

/**
 * The served model's chat template, as token ids: Llama 3.1 Instruct's for Llama 3 vocabularies
 * (and for cl100k, with Llama 3's special ids), Llama 2 Chat's for Llama 2 (see `chatFormatFor`).
 *
 * Each message's content is tokenised on its own and memoised (TokenCache), so a conversation
 * resent every turn costs only its new messages. Turn k's prompt plus its answer is a token
 * prefix of turn k+1's prompt, which is what makes prefix caching work across turns, as in vLLM.
 */
export class ChatTemplate {
  readonly format: ChatFormat;
  /** Ids of short layout pieces; content goes through the TokenCache. */
  private readonly fixed = new Map<string, readonly number[]>();
  /** Where `ids` assembles a prompt (packed, only ever written in order, so it stays packed). */
  private scratch: number[] = [];
  /** Where `completionPromptIds` cuts its arrays from. */
  private readonly promptArrays = new TypedArraySlab();

  constructor(private readonly tokens: TokenCache) {
    this.format = chatFormatFor(tokens.tokenizer);
  }

  /**
   * Token ids of the templated conversation. Throws ChatFormatError when the template rejects it
   * (Llama 2 Chat: roles must alternate).
   */
  apply(messages: readonly ChatMessage[], options: ChatRenderOptions = {}): number[] {
    return this.ids(this.format.render(messages, options));
  }

  /** A raw completion prompt: BOS + text (vLLM's add_special_tokens, default true), or the text alone. */
  completionPrompt(text: string, addSpecialTokens = true): number[] {
    const ids = this.tokens.encode(text);
    // One copy of the final size (growing an array by push leaves copies behind: long prompts).
    return addSpecialTokens ? [this.format.bosId].concat(ids) : ids.slice();
  }

  /**
   * `completionPrompt` as the Int32Array the engine keeps, written once at its final size (the
   * simulator's path: a prompt array per request, copied neither by the template nor the engine).
   */
  completionPromptIds(text: string, addSpecialTokens = true): Int32Array {
    const at = addSpecialTokens ? 1 : 0;
    const out = this.promptArrays.int32(at + this.tokens.count(text));
    if (addSpecialTokens) out[0] = this.format.bosId;
    this.tokens.encodeInto(text, out, at);
    return out;
  }

  private ids(pieces: readonly ChatPiece[]): number[] {
    // Built in a reused scratch array and copied out once at its final size: growing a fresh
    // array by push leaves a trail of copies and slack behind, and the prompt lives as long as
    // its request (in a simulation, long enough for the garbage collector to copy it too).
    const out = this.scratch;
    let n = 0;
    for (let i = 0; i < pieces.length; i++) {
      const p = pieces[i]!;
      if (typeof p === "number") out[n++] = p;
      else if (p.length <= FIXED_PIECE_CHARS) {
        const ids = this.fixedIds(p);
        for (let j = 0; j < ids.length; j++) out[n++] = ids[j]!;
      } else n = this.tokens.encodeInto(p, out, n);
    }
    const prompt = out.slice(0, n);
    // A scratch array grown by one huge prompt is not kept for good.
    if (out.length > MAX_SCRATCH) this.scratch = [];
    return prompt;
  }

  private fixedIds(text: string): readonly number[] {
    let ids = this.fixed.get(text);
    if (!ids) {
      ids = this.tokens.encode(text);
      if (this.fixed.size < 256) this.fixed.set(text, ids);
    }
    return ids;
  }
}
