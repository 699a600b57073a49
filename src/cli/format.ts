import { humanizeMs } from "./duration.js";

/** The output formats every listing command accepts with `-o`. */
export type OutputFormat = "table" | "json";

/** Pretty JSON with a final newline: what `-o json` prints. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** An int64 from the API as a JSON number. Admin values (terms, indexes, ms) fit in 2^53. */
export function num(value: bigint | number): number {
  return Number(value);
}

/** Unix milliseconds as ISO-8601, or null when the API left it unset (0). */
export function isoOrNull(unixMs: bigint | number): string | null {
  const ms = Number(unixMs);
  return ms > 0 ? new Date(ms).toISOString() : null;
}

/** Unix milliseconds as a compact UTC timestamp for tables, or "-" when unset. */
export function shortTime(unixMs: bigint | number): string {
  const iso = isoOrNull(unixMs);
  return iso === null ? "-" : `${iso.slice(0, 19).replace("T", " ")}Z`;
}

/** "in 3d", "5m ago", or "-" when unset: a point in time relative to now. */
export function relativeTime(unixMs: bigint | number, now: number): string {
  const ms = Number(unixMs);
  if (ms <= 0) return "-";
  const delta = ms - now;
  return delta >= 0 ? `in ${humanizeMs(delta)}` : `${humanizeMs(-delta)} ago`;
}

/** Days left as a table cell ("3650d"), flagged when under the 30-day warning line. */
export function daysLeftText(days: bigint | number): string {
  const d = Number(days);
  return d < 30 ? `${d}d (EXPIRES SOON)` : `${d}d`;
}

/** The first 12 hex digits of a fingerprint: enough to tell certificates apart in a table. */
export function shortFingerprint(fp: string): string {
  return fp.length > 12 ? `${fp.slice(0, 12)}…` : fp || "-";
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** The bytes as a string when they are valid UTF-8, else null. */
export function utf8OrNull(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * A one-line preview of a config value for tables: control characters escaped, cut at
 * `max` characters; binary values are described by size instead of printed.
 */
export function valuePreview(bytes: Uint8Array, max = 48): string {
  const text = utf8OrNull(bytes);
  if (text === null) return `<${bytes.length} bytes, binary>`;
  const escaped = JSON.stringify(text).slice(1, -1);
  return escaped.length > max ? `${escaped.slice(0, max - 1)}…` : escaped;
}
