import { type Logger, pino } from "pino";

/** The project's logger type: pino, structured JSON by default. */
export type { Logger };

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /** pino level name; default "info". */
  level?: string;
  /** "json" (default) or "pretty" (human-readable, for a terminal). */
  format?: "json" | "pretty";
  /** Static fields on every line, such as the node id. */
  base?: Record<string, unknown>;
}

/**
 * Creates the process logger. Logs go to stderr so that stdout stays free for command
 * output (a join token, JSON status). Secrets must never be passed to it.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  if (options.format === "pretty") {
    return pino({
      level,
      base: options.base ?? null,
      transport: { target: "pino-pretty", options: { destination: 2, colorize: false } },
    });
  }
  return pino({ level, base: options.base ?? null }, pino.destination(2));
}

/** A logger that discards everything, for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
