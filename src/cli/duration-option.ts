import { InvalidArgumentError } from "commander";
import { DurationError, parseDuration } from "./duration.js";

/**
 * {@link parseDuration} as a commander option parser: a bad duration becomes commander's
 * usage error (exit 2) with the parser's message.
 */
export function parseDurationOption(value: string): number {
  try {
    return parseDuration(value);
  } catch (err) {
    if (err instanceof DurationError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}
