import { mixHash } from "./entry-ident.js";
import { runSchedule, type SimBootstrap, type SimBug, type SimResult } from "./simulator.js";

/** The initial voter count a seed gets when none is given: 3, 5 or 7 by seed mod 3. */
export function votersForSeed(seed: number): number {
  return [3, 5, 7][seed % 3]!;
}

/** Totals over the runs of a batch so far. */
export interface BatchTotals {
  runs: number;
  /** Actions taken (random steps plus the liveness phase's). */
  actions: number;
  maxTerm: number;
  crashes: number;
  snapshotsInstalled: number;
  /** Passing runs that used the log layout. */
  logLayoutRuns: number;
  /** Empty nodes whose first write was the log from index 1 (log layout only). */
  logJoins: number;
  /** Empty nodes whose first write was a snapshot. */
  snapJoins: number;
  /** Founders that joined (log layout), and founders there were to join. */
  foundersJoined: number;
  founders: number;
  readsServed: number;
  confChanges: number;
  committed: number;
  /** A hash over the trace hashes of the passing runs: equal batches, equal hash. */
  traceHash: number;
}

/** Options for {@link runBatch}. */
export interface BatchOptions {
  /** Seed of the first run; run i uses seed + i. */
  readonly seed: number;
  readonly runs: number;
  readonly steps: number;
  /** Initial voters for every run; default {@link votersForSeed}. */
  readonly voters?: number;
  /** The bootstrap layout of every run; default by seed (bootstrapForSeed). */
  readonly bootstrap?: SimBootstrap;
  readonly injectBug?: SimBug;
  /** See SimOptions.consequencesOnly. */
  readonly consequencesOnly?: boolean;
  /** Called after each run (`done` counts failing runs too; totals only passing ones). */
  readonly onRun?: (done: number, totals: BatchTotals) => void;
  /**
   * Called for each failing run; return true to go on with the next seed (triage mode),
   * false (or no callback) to stop at the first violation.
   */
  readonly onViolation?: (r: SimResult) => boolean;
}

/** The result of a batch: stops at the first violation. */
export interface BatchOutcome {
  readonly totals: BatchTotals;
  /** The first violation, if any. */
  readonly failed?: SimResult;
  /** Number of failing runs (more than one only when onViolation continued). */
  readonly failures: number;
}

/**
 * Runs schedules with consecutive seeds until one violates an invariant or all pass.
 * The voter count depends only on the seed (unless fixed), so any run replays alone.
 */
export function runBatch(options: BatchOptions): BatchOutcome {
  const totals: BatchTotals = {
    runs: 0,
    actions: 0,
    maxTerm: 0,
    crashes: 0,
    snapshotsInstalled: 0,
    logLayoutRuns: 0,
    logJoins: 0,
    snapJoins: 0,
    foundersJoined: 0,
    founders: 0,
    readsServed: 0,
    confChanges: 0,
    committed: 0,
    traceHash: 0,
  };
  let failed: SimResult | undefined;
  let failures = 0;
  for (let i = 0; i < options.runs; i++) {
    const seed = options.seed + i;
    const r = runSchedule({
      seed,
      voters: options.voters ?? votersForSeed(seed),
      steps: options.steps,
      ...(options.bootstrap ? { bootstrap: options.bootstrap } : {}),
      ...(options.injectBug ? { injectBug: options.injectBug } : {}),
      ...(options.consequencesOnly ? { consequencesOnly: true } : {}),
    });
    if (!r.ok) {
      failed ??= r;
      failures++;
      if (options.onViolation?.(r) !== true) return { totals, failed, failures };
      options.onRun?.(i + 1, totals);
      continue;
    }
    totals.runs++;
    totals.actions += r.stats.actions;
    totals.maxTerm = Math.max(totals.maxTerm, r.stats.maxTerm);
    totals.crashes += r.stats.crashes;
    totals.snapshotsInstalled += r.stats.snapshotsInstalled;
    totals.logJoins += r.stats.logJoins;
    totals.snapJoins += r.stats.snapJoins;
    if (r.bootstrap === "log") {
      totals.logLayoutRuns++;
      totals.foundersJoined += r.stats.foundersJoined;
      totals.founders += r.stats.founders;
    }
    totals.readsServed += r.stats.readsServed;
    totals.confChanges += r.stats.confChanges;
    totals.committed += r.stats.commitIndex;
    totals.traceHash = mixHash(totals.traceHash, seed, r.traceHash, 0);
    options.onRun?.(i + 1, totals);
  }
  return { totals, ...(failed ? { failed } : {}), failures };
}
