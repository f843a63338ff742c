import {
  CommanderError,
  InvalidArgumentError,
  Option,
  type CommandUnknownOpts,
} from "@commander-js/extra-typings";
import { cliFlags, defaultOf, parseHostPorts, parseWithSchema, UsageError } from "@symphony/common";
import { z } from "zod";

/** Runs a flag value parser, turning its UsageError into commander's InvalidArgumentError. */
function asArgumentError<T>(
  parse: (value: string, previous: unknown) => T,
  value: string,
  previous?: unknown,
): T {
  try {
    return parse(value, previous);
  } catch (err) {
    if (err instanceof UsageError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}

/** Commander argument parsers that reject bad values with the flag's expectation. */
export const parseArg = {
  int(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER) {
    return (value: string): number => {
      const n = Number(value);
      if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
        throw new InvalidArgumentError(`expected an integer, got "${value}"`);
      }
      if (n < min || n > max)
        throw new InvalidArgumentError(`expected an integer in [${min}, ${max}], got ${n}`);
      return n;
    };
  },
  number(min = -Infinity, max = Infinity) {
    return (value: string): number => {
      const n = Number(value);
      if (value.trim() === "" || !Number.isFinite(n))
        throw new InvalidArgumentError(`expected a number, got "${value}"`);
      if (n < min || n > max)
        throw new InvalidArgumentError(`expected a number in [${min}, ${max}], got ${n}`);
      return n;
    };
  },
  port(value: string): number {
    return parseArg.int(0, 65535)(value);
  },
  /** `host:port,host:port` lists. */
  hostPorts(value: string): string[] {
    return asArgumentError(parseHostPorts, value);
  },
};

/** The schema under `.default()` and `.optional()`. */
function innerType(field: z.ZodType): z.ZodType {
  if (field instanceof z.ZodDefault || field instanceof z.ZodOptional)
    return innerType(field.unwrap() as z.ZodType);
  return field;
}

/** The commander option of one flagged options field: parser, choices and default from its schema. */
function optionFor(key: string, field: z.ZodType): Option[] {
  const spec = cliFlags.get(field);
  if (!spec) return [];
  const option = new Option(spec.flags, spec.help);
  if (option.attributeName() !== key)
    throw new Error(`flag ${spec.flags} sets "${option.attributeName()}", not its field "${key}"`);
  const inner = innerType(field);
  const parse = spec.parse;
  if (parse) option.argParser((value, previous) => asArgumentError(parse, value, previous));
  else if (inner instanceof z.ZodNumber)
    option.argParser(
      inner.isInt
        ? parseArg.int(inner.minValue ?? undefined, inner.maxValue ?? undefined)
        : parseArg.number(inner.minValue ?? undefined, inner.maxValue ?? undefined),
    );
  else if (inner instanceof z.ZodEnum) option.choices(inner.options.map(String));
  const value = defaultOf(field);
  if (option.negate) {
    // commander defaults a lone --no-x to true itself (and shows no default).
    if (value !== true) throw new Error(`${spec.flags}: a --no- flag's field must default to true`);
  } else if (value !== undefined) option.default(value, spec.defaultHelp);
  if (spec.conflicts) option.conflicts([...spec.conflicts]);
  const negation = spec.negationHelp && new Option(`--no-${option.long!.slice(2)}`, spec.negationHelp);
  return negation ? [option, negation] : [option];
}

/**
 * Adds a commander option for every field of `schema` marked with `flag()`, in the schema's
 * order: the schema gives each flag's parser (numbers within its bounds), choices and default.
 */
export function addOptions<C extends CommandUnknownOpts>(program: C, schema: z.ZodObject): C {
  for (const [key, field] of Object.entries(schema.shape))
    for (const option of optionFor(key, field as z.ZodType)) program.addOption(option);
  return program;
}

/**
 * Parses argv (without node and script) with a program built by `addOptions` and returns the
 * values typed by the schema, plus whether each was given on the command line (not defaulted).
 */
export function parseOptions<S extends z.ZodObject>(
  program: CommandUnknownOpts,
  schema: S,
  argv: readonly string[],
): { values: z.output<S>; given: (key: keyof z.output<S> & string) => boolean } {
  program.parse([...argv], { from: "user" });
  return {
    values: parseWithSchema(schema, program.opts(), "flags"),
    given: (key) => program.getOptionValueSource(key) === "cli",
  };
}

/**
 * The flags whose --help shows a default other than their schema field's (for tests: [] when
 * every default in the help text is exactly the schema's, and flags without one show none).
 */
export function helpDefaultMismatches(program: CommandUnknownOpts, schema: z.ZodObject): string[] {
  program.configureHelp({ helpWidth: 1_000_000 });
  const lines = program.helpInformation().split("\n");
  const problems: string[] = [];
  for (const field of Object.values(schema.shape) as z.ZodType[]) {
    const spec = cliFlags.get(field);
    if (!spec) continue;
    const line = lines.find((l) => l.trimStart().startsWith(`${spec.flags} `));
    if (line === undefined) {
      problems.push(`${spec.flags}: not in --help`);
      continue;
    }
    // What commander appends after the help text: (choices: ..., default: ...).
    const extra = line.slice(line.indexOf(spec.help) + spec.help.length);
    const shown = /default: (.*)\)$/.exec(extra)?.[1];
    const value = defaultOf(field);
    const negated = spec.flags.startsWith("--no-");
    const expected = value === undefined || negated ? undefined : (spec.defaultHelp ?? JSON.stringify(value));
    if (shown !== expected) problems.push(`${spec.flags}: --help shows ${shown}, the schema ${expected}`);
  }
  return problems;
}

/**
 * Runs a CLI entry point: user mistakes (UsageError, bad flags) print one line and exit 2;
 * anything else is a bug and exits 1 with its stack.
 */
export function runCli(main: () => Promise<void>): void {
  // `| head` closed the pipe: the reader has what it wanted, so stop quietly (like Unix tools).
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  main().catch((err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exit(err.exitCode);
    }
    if (err instanceof CommanderError) {
      // --help and --version are "errors" to commander with exit code 0.
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
