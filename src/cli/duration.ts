/**
 * Durations as operators type them: `30s`, `30m`, `1h`, `7d`, `1h30m`. Whole numbers,
 * units in descending order, each at most once. Kept strict on purpose: `1.5h`, `90`
 * (which unit?) or `30M` are refused with a message that shows the accepted form, rather
 * than guessed.
 */

const UNIT_SECONDS: Readonly<Record<string, number>> = { d: 86_400, h: 3_600, m: 60, s: 1 };
const UNIT_ORDER = "dhms";
/** 100 years: far beyond any sensible TTL, and well inside exact integer arithmetic. */
const MAX_SECONDS = 100 * 365 * 86_400;

const EXAMPLES = "like 30s, 30m, 1h, 7d or 1h30m";

/** A duration that does not parse. The message quotes the input (durations are not secret). */
export class DurationError extends Error {
  override readonly name = "DurationError";
}

/** Parses a duration into whole seconds (> 0). Throws {@link DurationError}. */
export function parseDuration(text: string): number {
  const input = text.trim();
  if (input === "")
    throw new DurationError(`empty duration: expected a number and a unit, ${EXAMPLES}`);
  if (input.startsWith("-"))
    throw new DurationError(`duration "${input}" is negative: it must be greater than zero`);
  if (/^0+$/.test(input))
    throw new DurationError(`duration "${input}" is zero: it must be greater than zero`);
  if (/^\d+$/.test(input)) {
    throw new DurationError(`duration "${input}" has no unit: write it ${EXAMPLES}`);
  }
  if (/\d[.,]\d/.test(input)) {
    throw new DurationError(
      `duration "${input}" is not a whole number: combine units instead, e.g. 1h30m`,
    );
  }
  let rest = input;
  let total = 0;
  let lastUnit = -1;
  while (rest.length > 0) {
    const m = /^(\d+)([a-zA-Z]+)/.exec(rest);
    const digits = m?.[1];
    const unit = m?.[2];
    if (!m || digits === undefined || unit === undefined) {
      throw new DurationError(
        `invalid duration "${input}": expected a number and a unit, ${EXAMPLES}`,
      );
    }
    const factor = UNIT_SECONDS[unit];
    if (factor === undefined) {
      throw new DurationError(
        `invalid duration "${input}": unknown unit "${unit}" (use d, h, m or s)`,
      );
    }
    const position = UNIT_ORDER.indexOf(unit);
    if (position <= lastUnit) {
      throw new DurationError(
        `invalid duration "${input}": write each unit once, largest first (e.g. 1d12h, 1h30m)`,
      );
    }
    lastUnit = position;
    // Digit strings this long would overflow; the range check below gives the message.
    total += digits.length > 12 ? Number.POSITIVE_INFINITY : Number(digits) * factor;
    rest = rest.slice(m[0].length);
  }
  if (total === 0)
    throw new DurationError(`duration "${input}" is zero: it must be greater than zero`);
  if (total > MAX_SECONDS)
    throw new DurationError(`duration "${input}" is too long (at most 36500d)`);
  return total;
}

/** Formats whole seconds in the same notation the parser reads, e.g. 5400 -> "1h30m". */
export function formatSeconds(seconds: number): string {
  if (seconds <= 0) return "0s";
  let rest = Math.floor(seconds);
  let out = "";
  for (const unit of UNIT_ORDER) {
    const factor = UNIT_SECONDS[unit] ?? 1;
    const n = Math.floor(rest / factor);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * factor;
    }
  }
  return out;
}

/**
 * A short human rendering of a span in milliseconds, one unit, rounded down: "850ms",
 * "12s", "5m", "3h", "3d". For tables, where "1d23h59m12s" would only be noise.
 */
export function humanizeMs(ms: number): string {
  const abs = Math.abs(ms);
  const sign = ms < 0 ? "-" : "";
  if (abs < 1_000) return `${sign}${Math.floor(abs)}ms`;
  if (abs < 60_000) return `${sign}${Math.floor(abs / 1_000)}s`;
  if (abs < 3_600_000) return `${sign}${Math.floor(abs / 60_000)}m`;
  if (abs < 86_400_000) return `${sign}${Math.floor(abs / 3_600_000)}h`;
  return `${sign}${Math.floor(abs / 86_400_000)}d`;
}
