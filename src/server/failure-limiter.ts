/** Options for {@link createFailureLimiter}. */
export interface FailureLimiterOptions {
  /** Failures allowed per source within `windowMs` before it is blocked (default 10). */
  maxFailures?: number;
  /** The window failures are counted in, and the first block's length (default 60 s). */
  windowMs?: number;
  /** Longest block, reached by doubling on repeated offences (default 15 min). */
  maxBlockMs?: number;
  /** Sources tracked at most; the least recently seen is forgotten first (default 10,000). */
  maxSources?: number;
  /** Monotonic milliseconds; default performance.now. */
  now?: () => number;
}

/**
 * Counts failed attempts per source address and blocks a source that fails too often,
 * with a bounded memory footprint: at most `maxSources` entries, evicted least recently
 * seen first (a Map keeps insertion order; touching an entry re-inserts it).
 */
export interface FailureLimiter {
  /** False while `source` is blocked. */
  allow(source: string): boolean;
  /**
   * Records a failure. Returns true when it is one of the first `maxFailures` in the
   * window (worth an audit entry), false when the source is already over the limit.
   */
  failed(source: string): boolean;
  /** A success clears the source's record. */
  succeeded(source: string): void;
  /** Sources tracked now (for tests). */
  size(): number;
}

interface Entry {
  windowStart: number;
  failures: number;
  blockedUntil: number;
  blockMs: number;
}

/** Creates a {@link FailureLimiter}. */
export function createFailureLimiter(options: FailureLimiterOptions = {}): FailureLimiter {
  const maxFailures = options.maxFailures ?? 10;
  const windowMs = options.windowMs ?? 60_000;
  const maxBlockMs = options.maxBlockMs ?? 15 * 60_000;
  const maxSources = options.maxSources ?? 10_000;
  const now = options.now ?? (() => performance.now());
  const entries = new Map<string, Entry>();

  const touch = (source: string): Entry => {
    const t = now();
    let e = entries.get(source);
    if (e) entries.delete(source);
    else e = { windowStart: t, failures: 0, blockedUntil: 0, blockMs: windowMs };
    if (t - e.windowStart > windowMs) {
      e.windowStart = t;
      e.failures = 0;
    }
    entries.set(source, e);
    if (entries.size > maxSources) {
      const oldest = entries.keys().next().value;
      if (oldest !== undefined) entries.delete(oldest);
    }
    return e;
  };

  return {
    allow(source) {
      const e = entries.get(source);
      return !e || now() >= e.blockedUntil;
    },
    failed(source) {
      const e = touch(source);
      e.failures++;
      if (e.failures === maxFailures) {
        e.blockedUntil = now() + e.blockMs;
        e.blockMs = Math.min(maxBlockMs, e.blockMs * 2);
      }
      return e.failures <= maxFailures;
    },
    succeeded(source) {
      entries.delete(source);
    },
    size() {
      return entries.size;
    },
  };
}
