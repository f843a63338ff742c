import { Writable } from "node:stream";
import winston from "winston";

export type Logger = winston.Logger;
export type LogLevel = "error" | "warn" | "info" | "debug";

/**
 * Structured JSON logs on stderr (stdout stays free for a CLI's results), one object per line,
 * each tagged with the service name.
 */
export function createLogger(service: string, level: LogLevel = "info"): Logger {
  return winston.createLogger({
    level,
    defaultMeta: { service },
    format: winston.format.combine(
      winston.format.timestamp(),
      winston.format.errors({ stack: false }),
      winston.format.json(),
    ),
    transports: [new winston.transports.Console({ stderrLevels: ["error", "warn", "info", "debug"] })],
  });
}

/** A logger that drops everything, for tests and simulations. */
export function silentLogger(): Logger {
  return winston.createLogger({
    silent: true,
    transports: [new winston.transports.Console({ silent: true })],
  });
}

/** One log entry as plain data: what a forwarding logger hands on (structured-clone safe). */
export interface LogEntry {
  level: string;
  message: string;
  [field: string]: unknown;
}

/**
 * A logger that hands each entry at or above `level` to `send` as plain data instead of writing
 * it: a worker thread's logs, passed to its parent thread's logger (`logger.log(entry)`).
 */
export function forwardingLogger(level: LogLevel, send: (entry: LogEntry) => void): Logger {
  const sink = new Writable({
    objectMode: true,
    write(info: Record<string, unknown>, _encoding, done) {
      // Own string keys only: winston's symbol keys (its formatted copy) are not data.
      send(Object.fromEntries(Object.entries(info)) as LogEntry);
      done();
    },
  });
  return winston.createLogger({
    level,
    format: winston.format.errors({ stack: false }),
    transports: [new winston.transports.Stream({ stream: sink })],
  });
}
