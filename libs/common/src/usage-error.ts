import { z } from "zod";

/**
 * A problem with what the user gave us (flags, config file, dataset). CLIs print its message
 * as one line, without a stack trace, and exit with code 2.
 */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "UsageError";
  }
}

/** "a.b[2].c" style path of a zod issue. */
function issuePath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || "(root)";
}

/** One line per problem: `<source>: <path>: <message>`. */
export function formatZodError(source: string, error: z.ZodError): string {
  return error.issues
    .map((i) => {
      // zod says "Invalid input: expected object, received undefined" for a missing key.
      const missing = i.code === "invalid_type" && /received undefined$/.test(i.message);
      const message = missing ? `required (${i.message.replace(/^Invalid input: /, "")})` : i.message;
      return `${source}: ${issuePath(i.path)}: ${message}`;
    })
    .join("\n");
}

/** Validates `value` against `schema`, throwing a UsageError that names the source and every bad field. */
export function parseWithSchema<S extends z.ZodType>(schema: S, value: unknown, source: string): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw new UsageError(formatZodError(source, result.error));
  return result.data;
}
