import { z } from "zod";
import { UsageError } from "./usage-error";

/**
 * How one field of an app's options schema appears on the command line. The field's zod schema
 * stays the single source of its type, bounds and default; this adds what only the CLI needs.
 */
export interface CliFlag {
  /**
   * Commander's flag syntax: `--port <port>`, `--served-model-name <names...>`, `--dry-run`,
   * `--no-hints` (a boolean defaulting to true). Its attribute name must be the field's key.
   */
  readonly flags: string;
  readonly help: string;
  /**
   * Turns the flag's text into the value (lists, JSON, repeated flags); a UsageError's message
   * becomes commander's "argument is invalid" reason. Without it, numbers are parsed within the
   * schema's bounds, enums become choices and strings pass as given.
   */
  readonly parse?: (value: string, previous: unknown) => unknown;
  /** Shown in --help as the default instead of the value (a default that depends on other flags). */
  readonly defaultHelp?: string;
  /** A `--no-<flag>` companion of a boolean flag, with its help (`--enable-x` / `--no-enable-x`). */
  readonly negationHelp?: string;
  /** Keys of options that cannot be given with this one. */
  readonly conflicts?: readonly string[];
}

/** The CLI flags of options schema fields (see `flag`). */
export const cliFlags = z.registry<CliFlag>();

/**
 * Marks an options schema field as a command-line flag:
 * `port: flag(z.int().min(0).max(65535).default(50051), "--port <port>", "gRPC port")`.
 */
export function flag<S extends z.ZodType>(
  schema: S,
  flags: string,
  help: string,
  more: Omit<CliFlag, "flags" | "help"> = {},
): S {
  cliFlags.add(schema, { flags, help, ...more });
  return schema;
}

/** The default of an options field, or undefined when it has none. */
export function defaultOf(field: z.ZodType): unknown {
  return field instanceof z.ZodDefault ? (field.def.defaultValue as unknown) : undefined;
}

/** The defaults of every field of an options schema that has one. */
export function defaultsOf<S extends z.ZodObject>(schema: S): Partial<z.output<S>> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema.shape)) {
    const value = defaultOf(field as z.ZodType);
    if (value !== undefined) out[key] = value;
  }
  return out as Partial<z.output<S>>;
}

/**
 * A field as a config file key that may be left out: the same type and bounds, no default (the
 * caller layers file values over the flags' defaults and under the flags given).
 */
export function fileField<T extends z.ZodType>(
  field: T,
): z.ZodOptional<T extends z.ZodDefault<infer I> ? I : T> {
  const inner = field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType) : field;
  return inner.optional() as z.ZodOptional<T extends z.ZodDefault<infer I> ? I : T>;
}

/** `--log-level`, the same in every app. */
export const logLevelOption = () =>
  flag(z.enum(["error", "warn", "info", "debug"]).default("info"), "--log-level <level>", "log level");

/** `host:port,host:port` lists (empty items dropped). */
export function parseHostPorts(value: string): string[] {
  const items = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    const m = /^(.+):(\d+)$/.exec(item);
    if (!m || Number(m[2]) > 65535) throw new UsageError(`expected host:port, got "${item}"`);
  }
  return items;
}
