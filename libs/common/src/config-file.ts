import { readFileSync } from "node:fs";
import { extname } from "node:path";
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { parseWithSchema, UsageError } from "./usage-error";

/** Reads a file, turning I/O errors into a UsageError that names the file. */
export function readTextFile(path: string, what = "file"): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : String(code ?? err);
    throw new UsageError(`${path}: cannot read ${what}: ${reason}`);
  }
}

/** Parses YAML or JSON text (chosen by extension; YAML is a superset, so unknown extensions use YAML). */
export function parseStructuredText(text: string, path: string): unknown {
  if (extname(path).toLowerCase() === ".json") {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new UsageError(`${path}: invalid JSON: ${(err as Error).message}`);
    }
  }
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      const where = pos ? `line ${pos.line}, column ${pos.col}: ` : "";
      // yaml's own first line repeats the position ("... at line 4, column 1:"); keep just the reason.
      const reason = err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
      throw new UsageError(`${path}: invalid YAML: ${where}${reason}`);
    }
    throw err;
  }
}

/** Loads a YAML/JSON config file and validates it, with errors naming file and key. */
export function loadConfigFile<S extends z.ZodType>(path: string, schema: S): z.output<S> {
  return parseWithSchema(schema, parseStructuredText(readTextFile(path, "config"), path), path);
}
