import type { Tokenizer } from "./tokenizer";
import { UsageError } from "./usage-error";

/** The role of a chat message, by its OpenAI chat completions name (the domain's role; wire enums map to it). */
export type ChatRole = "system" | "user" | "assistant" | "tool";

/** One chat message as the template sees it (content already flattened to text). */
export interface TemplateMessage {
  readonly role: string;
  readonly content: string;
}

/**
 * A rendered chat, in order: a number is a special token id, a string is text that the tokenizer
 * encodes on its own. Hugging Face tokenizers split text at special tokens before anything else,
 * so encoding each string separately gives exactly the ids of the whole rendered text. The
 * formats below also split text where the tokenizer's pre-tokenizer always splits (before a
 * trimmed message's content), so each message's content is its own piece, cached on its own.
 */
export type ChatPiece = number | string;

/** vLLM's chat request fields that shape the prompt (both are `/v1/chat/completions` and `/tokenize` fields). */
export interface ChatRenderOptions {
  /** Open an assistant turn at the end (vLLM default true). */
  readonly addGenerationPrompt?: boolean;
  /** End with the last message left open, without its end-of-turn token (vLLM default false). */
  readonly continueFinalMessage?: boolean;
}

/** A chat request the template rejects; vLLM answers these with HTTP 400 and this message. */
export class ChatFormatError extends Error {
  readonly code = "CHAT_TEMPLATE";
  constructor(message: string) {
    super(message);
    this.name = "ChatFormatError";
  }
}

/** vLLM's request check (protocol.py `check_generation_prompt`), when both fields are sent as true. */
export const BOTH_GENERATION_FLAGS_MESSAGE =
  "Cannot set both `continue_final_message` and `add_generation_prompt` to True.";
/** transformers' apply_chat_template, when continue_final_message meets the default add_generation_prompt. */
export const CONTINUE_WITH_GENERATION_PROMPT_MESSAGE =
  "continue_final_message and add_generation_prompt are not compatible. Use continue_final_message when " +
  "you want the model to continue the final message, and add_generation_prompt when you want to add a " +
  "header that will prompt it to start a new assistant message instead.";

/**
 * The flags as vLLM resolves them: an explicit `add_generation_prompt: true` with
 * `continue_final_message: true` fails vLLM's request validation; `continue_final_message` alone
 * fails in transformers (add_generation_prompt defaults to true). Throws ChatFormatError.
 */
export function resolveRenderOptions(
  addGenerationPrompt: boolean | null | undefined,
  continueFinalMessage: boolean | null | undefined,
): Required<ChatRenderOptions> {
  const cont = continueFinalMessage ?? false;
  if (cont && addGenerationPrompt === true) throw new ChatFormatError(BOTH_GENERATION_FLAGS_MESSAGE);
  const gen = addGenerationPrompt ?? true;
  if (cont && gen) throw new ChatFormatError(CONTINUE_WITH_GENERATION_PROMPT_MESSAGE);
  return { addGenerationPrompt: gen, continueFinalMessage: cont };
}

/** How one model family lays out a conversation (its Hugging Face `chat_template`). */
export interface ChatFormat {
  /** `llama3.1` or `llama2-chat`. */
  readonly name: string;
  /** BOS: vLLM adds it to completion prompts (`add_special_tokens`, default true there). */
  readonly bosId: number;
  /** The token that ends an assistant turn (`<|eot_id|>`, `</s>`): an empty answer is this token. */
  readonly endOfTurnId: number;
  /** Every special token id the format writes. */
  readonly specialIds: readonly number[];
  render(messages: readonly TemplateMessage[], options?: ChatRenderOptions): ChatPiece[];
}

/** Llama 3's special token ids (also used with cl100k, whose vocabulary has no chat tokens). */
export const LLAMA3_SPECIAL_IDS = {
  beginOfText: 128000,
  startHeader: 128006,
  endHeader: 128007,
  endOfTurn: 128009,
} as const;

/** The system block Llama 3.1's template always writes (its default `date_string`). */
export const LLAMA31_SYSTEM_PREAMBLE = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n";

/** Jinja's `trim` and Python's `str.strip()`: Unicode whitespace as Python counts it (not U+FEFF). */
export function pythonStrip(s: string): string {
  return s.replace(PY_WS_START, "").replace(PY_WS_END, "");
}
const PY_WS = "\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const PY_WS_START = new RegExp(`^[${PY_WS}]+`);
const PY_WS_END = new RegExp(`[${PY_WS}]+$`);

/**
 * Llama 3.1 Instruct's chat template (meta-llama/Llama-3.1-8B-Instruct tokenizer_config.json,
 * without tools), piece by piece:
 *
 *   <|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n
 *   Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n{system|trim}<|eot_id|>
 *   <|start_header_id|>{role}<|end_header_id|>\n\n{content|trim}<|eot_id|>        (each message)
 *   <|start_header_id|>ipython<|end_header_id|>\n\n{content|tojson}<|eot_id|>    (role tool/ipython)
 *   <|start_header_id|>assistant<|end_header_id|>\n\n                            (generation prompt)
 *
 * "\n\n" is its own piece: Llama 3's pre-tokenizer always splits a newline run from the
 * non-space character after it, so the ids are those of the whole text.
 */
export function llama31Format(ids: {
  beginOfText: number;
  startHeader: number;
  endHeader: number;
  endOfTurn: number;
}): ChatFormat {
  return {
    name: "llama3.1",
    bosId: ids.beginOfText,
    endOfTurnId: ids.endOfTurn,
    specialIds: [ids.beginOfText, ids.startHeader, ids.endHeader, ids.endOfTurn],
    render(messages, options = {}) {
      const out: ChatPiece[] = [ids.beginOfText, ids.startHeader, "system", ids.endHeader, "\n\n"];
      out.push(LLAMA31_SYSTEM_PREAMBLE);
      let first = 0;
      if (messages[0]?.role === "system") {
        out.push(pythonStrip(messages[0].content));
        first = 1;
      }
      out.push(ids.endOfTurn);
      for (let i = first; i < messages.length; i++) {
        const m = messages[i]!;
        if (m.role === "tool" || m.role === "ipython") {
          // `content is iterable` holds for strings in Jinja, so tool output is JSON-quoted.
          out.push(ids.startHeader, "ipython", ids.endHeader, "\n\n", JSON.stringify(m.content));
        } else {
          out.push(ids.startHeader, m.role, ids.endHeader, "\n\n", pythonStrip(m.content));
        }
        out.push(ids.endOfTurn);
      }
      if (options.continueFinalMessage) out.pop();
      else if (options.addGenerationPrompt ?? true)
        out.push(ids.startHeader, "assistant", ids.endHeader, "\n\n");
      return out;
    },
  };
}

/**
 * Llama 2 Chat's template (meta-llama/Llama-2-13b-chat-hf tokenizer_config.json):
 *
 *   <s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant} </s><s>[INST] {user} [/INST]
 *
 * (user and assistant contents stripped; the system block only in the first user message). It
 * has no generation prompt, and rejects roles that do not alternate user/assistant after an
 * optional system message. One exchange between <s> and </s> is one piece: SentencePiece adds
 * its "▁" at the start of each piece, so the exchange cannot be split further.
 */
export function llama2ChatFormat(bosId: number, eosId: number): ChatFormat {
  return {
    name: "llama2-chat",
    bosId,
    endOfTurnId: eosId,
    specialIds: [bosId, eosId],
    render(messages, options = {}) {
      let loop = messages;
      let system: string | undefined;
      if (messages[0]?.role === "system") {
        system = messages[0].content;
        loop = messages.slice(1);
      }
      const out: ChatPiece[] = [];
      let open: string | undefined; // text after the last <s>, not yet closed by </s>
      for (let i = 0; i < loop.length; i++) {
        const m = loop[i]!;
        if ((m.role === "user") !== (i % 2 === 0))
          throw new ChatFormatError("Conversation roles must alternate user/assistant/user/assistant/...");
        const content =
          i === 0 && system !== undefined ? `<<SYS>>\n${system}\n<</SYS>>\n\n${m.content}` : m.content;
        const last = options.continueFinalMessage && i === loop.length - 1;
        if (m.role === "user") {
          if (open !== undefined) out.push(open);
          out.push(bosId);
          open = `[INST] ${pythonStrip(content)}${last ? "" : " [/INST]"}`;
        } else if (m.role === "assistant") {
          open = `${open ?? ""} ${pythonStrip(content)}${last ? "" : " "}`;
          out.push(open);
          if (!last) out.push(eosId);
          open = undefined;
        }
      }
      if (open !== undefined) out.push(open);
      return out;
    },
  };
}

/**
 * The chat format of `tokenizer`: Llama 3.1 for Llama 3 vocabularies (and for cl100k, which has
 * no chat tokens of its own: Llama 3's ids stand in for them, as the mock always did), Llama 2
 * Chat for vocabularies with `<s>`/`</s>`. Throws a UsageError for any other vocabulary.
 */
export function chatFormatFor(tokenizer: Tokenizer, flag = "--tokenizer"): ChatFormat {
  if (tokenizer.name === "cl100k" || tokenizer.name === "cl100k_base")
    return llama31Format(LLAMA3_SPECIAL_IDS);
  const id = (t: string) => tokenizer.specialTokenId(t);
  const [bot, sh, eh, eot] = [
    id("<|begin_of_text|>"),
    id("<|start_header_id|>"),
    id("<|end_header_id|>"),
    id("<|eot_id|>"),
  ];
  if (bot !== undefined && sh !== undefined && eh !== undefined && eot !== undefined)
    return llama31Format({ beginOfText: bot, startHeader: sh, endHeader: eh, endOfTurn: eot });
  const [bos, eos] = [id("<s>"), id("</s>")];
  if (bos !== undefined && eos !== undefined) return llama2ChatFormat(bos, eos);
  throw new UsageError(
    `${flag} ${tokenizer.name}: no chat template known for this vocabulary (expected Llama 3's ` +
      `<|start_header_id|>/<|eot_id|> or Llama 2's <s>/</s> special tokens)`,
  );
}
