import { createRequire } from "node:module";
import { type Logger, pino } from "pino";
import type * as PinoPretty from "pino-pretty";

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

const require = createRequire(import.meta.url);

/**
 * Creates the process logger. Logs go to stderr so that stdout stays free for command
 * output (a join token, JSON status). Secrets must never be passed to it.
 *
 * The pretty format is formatted in this thread by pino-pretty's formatter (loaded only
 * for this format) and written synchronously, so that nothing is lost when the process
 * exits right after a line. Not as a pino transport: a transport runs in a worker thread,
 * a second JavaScript environment that costs a node about 11 MB of memory, for a format
 * meant for a person at a terminal.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  if (options.format === "pretty") {
    const { prettyFactory } = require("pino-pretty") as typeof PinoPretty;
    const pretty = prettyFactory({ colorize: false });
    const destination = pino.destination({ dest: 2, sync: true });
    return pino(
      { level, base: options.base ?? null },
      { write: (line: string) => destination.write(pretty(line)) },
    );
  }
  return pino({ level, base: options.base ?? null }, pino.destination(2));
}

/** A logger that discards everything, for tests and library defaults. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
