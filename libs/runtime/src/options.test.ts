import { Command, CommanderError } from "@commander-js/extra-typings";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { addOptions, helpDefaultMismatches, parseOptions } from "./cli";
import { defaultsOf, fileField, flag } from "@symphony/common";

const schema = z.object({
  port: flag(z.int().min(0).max(65535).default(80), "--port <port>", "port"),
  rate: flag(z.number().min(0).max(1).optional(), "--rate <p>", "rate"),
  mode: flag(z.enum(["a", "b"]).default("a"), "--mode <m>", "mode"),
  hints: flag(z.boolean().default(true), "--no-hints", "no hints"),
  names: flag(z.array(z.string()).default([]), "--names <list>", "names", { parse: (v) => v.split(",") }),
  fileOnly: z.int().default(7),
});

const program = () =>
  addOptions(new Command("t").exitOverride().configureOutput({ writeErr: () => {} }), schema);
const parse = (argv: string[]) => parseOptions(program(), schema, argv);

describe("addOptions / parseOptions", () => {
  it("no flags -> the schema's defaults, none given", () => {
    const { values, given } = parse([]);
    expect(values).toEqual({ port: 80, mode: "a", hints: true, names: [], fileOnly: 7 });
    expect(given("port")).toBe(false);
  });

  it("flags -> parsed by type, marked given", () => {
    const { values, given } = parse([
      "--port",
      "8",
      "--rate",
      "0.5",
      "--mode",
      "b",
      "--no-hints",
      "--names",
      "x,y",
    ]);
    expect(values).toMatchObject({ port: 8, rate: 0.5, mode: "b", hints: false, names: ["x", "y"] });
    expect(given("port")).toBe(true);
  });

  it.each([
    [["--port", "70000"], "expected an integer in [0, 65535], got 70000"],
    [["--port", "1.5"], 'expected an integer, got "1.5"'],
    [["--rate", "2"], "expected a number in [0, 1], got 2"],
    [["--mode", "c"], "Allowed choices are a, b."],
  ])("bad value %j -> commander error with the schema's bounds", (argv, message) => {
    expect(() => parse(argv)).toThrow(CommanderError);
    expect(() => parse(argv)).toThrow(message);
  });

  it("a flag whose attribute is not its field -> throws when building", () => {
    const bad = z.object({ port: flag(z.int().default(1), "--portt <n>", "p") });
    expect(() => addOptions(new Command(), bad)).toThrow(/sets "portt", not its field "port"/);
  });

  it("a --no- flag on a field defaulting to false -> throws when building", () => {
    const bad = z.object({ hints: flag(z.boolean().default(false), "--no-hints", "h") });
    expect(() => addOptions(new Command(), bad)).toThrow(/must default to true/);
  });
});

describe("helpDefaultMismatches", () => {
  it("help built from the schema -> none", () => {
    expect(helpDefaultMismatches(program(), schema)).toEqual([]);
  });

  it("a default shown other than the schema's -> that flag", () => {
    const shown = addOptions(new Command("t"), schema);
    shown.options.find((o) => o.long === "--port")!.default(81);
    expect(helpDefaultMismatches(shown, schema)).toEqual(["--port <port>: --help shows 81, the schema 80"]);
  });
});

describe("defaultsOf / fileField", () => {
  it("defaults -> those of the fields that have one", () => {
    expect(defaultsOf(schema)).toEqual({ port: 80, mode: "a", hints: true, names: [], fileOnly: 7 });
  });

  it("fileField -> same bounds, no default", () => {
    const field = fileField(schema.shape.port);
    expect(field.parse(undefined)).toBeUndefined();
    expect(field.safeParse(70000).success).toBe(false);
  });
});
