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
