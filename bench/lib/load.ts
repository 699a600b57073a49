/**
 * Closed-loop load: `concurrency` workers, each issuing one write and awaiting it before
 * the next, until `total` writes are done or `maxMs` has passed. This is how etcd's own
 * `benchmark put --clients` and a real client pool load a server, and it makes throughput
 * and latency two views of the same run.
 */

/** The raw outcome of one closed-loop run (one round of one level). */
export interface LoadSample {
  concurrency: number;
  /** Latency of each acknowledged write, milliseconds (unsorted). */
  latencies: Float64Array;
  errors: number;
  /** The first error message, if any (the rest are usually the same). */
  firstError?: string;
  seconds: number;
  /** True when the time bound, not the write count, ended the run. */
  timeBound: boolean;
}

/** A level's summary over one or more samples (alternating rounds). */
export interface LoadResult {
  concurrency: number;
  /** Acknowledged writes. */
  ops: number;
  errors: number;
  firstError?: string;
  seconds: number;
  /** Acknowledged writes per second over the measured time. */
  throughput: number;
  p50Ms: number;
  p99Ms: number;
  timeBound: boolean;
}

/** Options of {@link runClosedLoop}. */
export interface LoadOptions {
  total: number;
  concurrency: number;
  /** Stop starting new writes after this long. */
  maxMs: number;
  /** Issues write number `i` (0-based, shared by all workers). */
  write: (i: number) => Promise<unknown>;
}

/** Errors after which a run that fails more often than it succeeds is abandoned. */
const MAX_ERRORS = 100;

/** Nearest-rank percentile of ascending values (q in 0..1). */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** Runs the closed loop. Errors are counted, not thrown, so one bad write ends nothing. */
export async function runClosedLoop(o: LoadOptions): Promise<LoadSample> {
  const lat = new Float64Array(o.total);
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  let next = 0;
  let timeBound = false;
  const start = performance.now();
  const deadline = start + o.maxMs;
  const worker = async () => {
    while (next < o.total) {
      if (performance.now() > deadline) {
        timeBound = true;
        return;
      }
      const i = next++;
      const t = performance.now();
      try {
        await o.write(i);
        lat[ok++] = performance.now() - t;
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        // A cluster that refuses most writes (stopped, no quorum) ends the run instead of
        // spinning through the remaining count at the speed of ECONNREFUSED.
        if (errors >= MAX_ERRORS && errors > ok) next = o.total;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  return {
    concurrency: o.concurrency,
    latencies: lat.subarray(0, ok),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    seconds: (performance.now() - start) / 1000,
    timeBound,
  };
}

/** Summarises the samples of one level: total writes over total time, pooled percentiles. */
export function summarise(samples: readonly LoadSample[]): LoadResult {
  const ops = samples.reduce((a, s) => a + s.latencies.length, 0);
  const all = new Float64Array(ops);
  let at = 0;
  for (const s of samples) {
    all.set(s.latencies, at);
    at += s.latencies.length;
  }
  all.sort();
  const seconds = samples.reduce((a, s) => a + s.seconds, 0);
  const firstError = samples.find((s) => s.firstError !== undefined)?.firstError;
  return {
    concurrency: samples[0]?.concurrency ?? 0,
    ops,
    errors: samples.reduce((a, s) => a + s.errors, 0),
    ...(firstError === undefined ? {} : { firstError }),
    seconds,
    throughput: seconds > 0 ? ops / seconds : 0,
    p50Ms: percentile(all, 0.5),
    p99Ms: percentile(all, 0.99),
    timeBound: samples.some((s) => s.timeBound),
  };
}
