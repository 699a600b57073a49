/**
 * Polling with a deadline, for conditions with no event to wait on (a cluster reporting
 * a leader). Never an open-ended loop: it fails with what never happened.
 */

/** Polls `check` every `everyMs` until it returns a value (not undefined), or throws. */
export async function pollUntil<T>(
  check: () => Promise<T | undefined>,
  what: string,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (performance.now() > deadline) {
      const why = lastErr ? ` (last error: ${(lastErr as Error).message})` : "";
      throw new Error(`${what} did not happen within ${timeoutMs} ms${why}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
