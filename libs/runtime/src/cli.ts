import { CommanderError, InvalidArgumentError } from "commander";
import { UsageError } from "@symphony/common";

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
    const items = value
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    for (const item of items) {
      const m = /^(.+):(\d+)$/.exec(item);
      if (!m || Number(m[2]) > 65535) throw new InvalidArgumentError(`expected host:port, got "${item}"`);
    }
    return items;
  },
};

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
