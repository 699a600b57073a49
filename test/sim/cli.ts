/**
 * `npm run sim -- --seed <n> --runs <k> [--nodes <v>] [--bootstrap <layout>] [--steps <s>] [--inject-bug <name>]`
 *
 * Runs k seeded schedules (seeds n, n+1, ...) against the Raft core and exits 0 when
 * every invariant held, 1 on the first violation (printing the seed, the invariant and
 * the last actions), 2 on bad arguments. Checks outside the repo call this with seeds
 * of their own, so the flags and the exit codes are a stable interface.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { runBatch, votersForSeed } from "./batch.js";
import {
  bootstrapForSeed,
  SIM_BUGS,
  SIM_RUNTIME_BUGS,
  type SimBootstrap,
  type SimBug,
  type SimResult,
} from "./simulator.js";

function intArg(name: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    }
    return n;
  };
}

const program = new Command()
  .name("npm run sim --")
  .description(
    "Deterministic Raft simulator: runs seeded fault schedules against the core and checks " +
      "safety after every step and liveness at the end of each run.",
  )
  .addOption(
    new Option("--seed <n>", "first seed; run i uses seed n+i")
      .argParser(intArg("--seed", 0))
      .default(1),
  )
  .addOption(
    new Option("--runs <k>", "number of schedules").argParser(intArg("--runs", 1)).default(1),
  )
  .addOption(
    new Option("--nodes <v>", "initial voters (default: 3, 5 or 7 by seed mod 3)").argParser(
      intArg("--nodes", 1),
    ),
  )
  .addOption(
    new Option(
      "--bootstrap <layout>",
      "how the founders start (default: log for odd seeds, snapshot for even ones)",
    ).choices(["log", "snapshot"]),
  )
  .addOption(
    new Option("--steps <s>", "random steps per schedule before the liveness phase")
      .argParser(intArg("--steps", 0))
      .default(2000),
  )
  .addOption(
    new Option("--inject-bug <name>", "deliberately break the core or storage").choices([
      ...SIM_BUGS,
      ...SIM_RUNTIME_BUGS,
    ]),
  )
  .addOption(
    new Option(
      "--consequences-only",
      "check outcomes only, not the vote-once and commit rules (to see if a bug does harm)",
    ),
  )
  .addOption(new Option("--quiet", "print only the final line (and a violation)"))
  .addOption(
    new Option(
      "--keep-going",
      "triage: do not stop at a violation; print one line per failing seed, exit 1 at the end",
    ),
  )
  .addHelpText(
    "after",
    `
Bootstrap layouts:
  snapshot  every founder starts from bootstrapState (a snapshot at index 1 holding the
            membership); the only layout before, so even seeds replay as they did then
  log       as the runtime bootstraps: one voter starts from bootstrapLogState (a
            committed conf entry at index 1); the other founders start with empty
            storage and join through the leader (nonvoter, then promoted) amid the faults

Injectable bugs:
  vote-ignores-log  the core grants votes without the up-to-date log check
  commit-old-term   the core commits entries of older terms by counting replicas
  forget-vote       the simulated storage never persists the vote (a crash forgets it)
  early-commit      a leader's messages leave before its write even when their commit
                    index covers entries not yet durable (use --nodes 1)

Replay a failure: run its seed alone with the same --nodes/--steps/--inject-bug, e.g.
  npm run sim -- --seed 1234 --runs 1
The same seed always replays the same schedule, action for action.

Exit status: 0 all invariants held, 1 a violation (details printed), 2 bad arguments.`,
  )
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

program.parse(process.argv);
const opts = program.opts<{
  seed: number;
  runs: number;
  nodes?: number;
  bootstrap?: SimBootstrap;
  steps: number;
  injectBug?: SimBug;
  quiet?: boolean;
  keepGoing?: boolean;
  consequencesOnly?: boolean;
}>();

const started = Date.now();
const cpuStarted = process.cpuUsage();
const rate = (runs: number) => {
  const min = (Date.now() - started) / 60000;
  return min > 0 ? Math.round(runs / min) : 0;
};
/** Runs per minute of this process's CPU time: robust when other work shares the cores. */
const cpuRate = (runs: number) => {
  const u = process.cpuUsage(cpuStarted);
  const min = (u.user + u.system) / 60e6;
  return min > 0 ? Math.round(runs / min) : 0;
};
const nodesLabel =
  (opts.nodes === undefined ? "3/5/7" : String(opts.nodes)) +
  ` · bootstrap ${opts.bootstrap ?? "log/snapshot"}`;
const bugLabel =
  (opts.injectBug ? ` bug=${opts.injectBug}` : "") +
  (opts.consequencesOnly ? " consequences-only" : "");

const outcome = runBatch({
  seed: opts.seed,
  runs: opts.runs,
  steps: opts.steps,
  ...(opts.nodes !== undefined ? { voters: opts.nodes } : {}),
  ...(opts.bootstrap ? { bootstrap: opts.bootstrap } : {}),
  ...(opts.injectBug ? { injectBug: opts.injectBug } : {}),
  ...(opts.consequencesOnly ? { consequencesOnly: true } : {}),
  onViolation: (r) => {
    if (!opts.keepGoing) return false;
    const v = r.violation!;
    console.log(
      `[sim] FAIL seed=${r.seed} nodes=${r.voters} bootstrap=${r.bootstrap} invariant=${v.invariant} step ${v.step}: ${v.detail.split("\n")[0]}`,
    );
    return true;
  },
  onRun: (done, t) => {
    if (!opts.quiet && (done % 100 === 0 || done === opts.runs)) {
      const ok = Math.max(1, t.runs);
      const failing = done - t.runs;
      console.log(
        `[sim] runs ${done}/${opts.runs} ${failing === 0 ? "ok" : `(${failing} failed)`} · ` +
          `${rate(done)} schedules/min · ${opts.steps} steps/run · ` +
          `avg ${Math.round(t.actions / ok)} actions, ${Math.round(t.committed / ok)} commits, ` +
          `${(t.crashes / ok).toFixed(1)} crashes, ${(t.snapshotsInstalled / ok).toFixed(1)} snapshots, ` +
          `joins ${t.logJoins} by log / ${t.snapJoins} by snapshot, ` +
          `founders joined ${t.foundersJoined}/${t.founders} in ${t.logLayoutRuns} log-layout runs, ` +
          `${(t.readsServed / ok).toFixed(1)} reads, ${(t.confChanges / ok).toFixed(1)} conf changes per run · ` +
          `max term ${t.maxTerm} · nodes ${nodesLabel}${bugLabel}`,
      );
    }
  },
});

if (outcome.failed) {
  if (opts.keepGoing) {
    console.log(`[sim] ${outcome.failures} of ${opts.runs} runs violated an invariant; first:`);
  }
  printViolation(outcome.failed);
  process.exit(1);
}
const secs = ((Date.now() - started) / 1000).toFixed(1);
console.log(
  `[sim] PASS ${opts.runs} runs, seeds ${opts.seed}..${opts.seed + opts.runs - 1}, nodes ${nodesLabel}, ` +
    `${opts.steps} steps each, ${secs}s, ${rate(opts.runs)} schedules/min ` +
    `(${cpuRate(opts.runs)} per CPU-minute), trace ${outcome.totals.traceHash.toString(16).padStart(8, "0")}${bugLabel}`,
);

function printViolation(r: SimResult): void {
  const v = r.violation!;
  console.log(
    `[sim] VIOLATION seed=${r.seed} nodes=${r.voters} bootstrap=${r.bootstrap} steps=${r.steps}${bugLabel} ` +
      `invariant=${v.invariant} at step ${v.step} (${v.phase} phase)`,
  );
  console.log(`  ${v.detail.split("\n").join("\n  ")}`);
  console.log("nodes:");
  for (const line of v.nodes) console.log(`  ${line}`);
  console.log(`last ${v.trace.length} actions:`);
  for (const line of v.trace) console.log(`  ${line}`);
  const bug =
    (opts.injectBug ? ` --inject-bug ${opts.injectBug}` : "") +
    (opts.consequencesOnly ? " --consequences-only" : "");
  const nodes =
    opts.nodes === undefined && r.voters === votersForSeed(r.seed) ? "" : ` --nodes ${r.voters}`;
  const layout =
    opts.bootstrap === undefined && r.bootstrap === bootstrapForSeed(r.seed)
      ? ""
      : ` --bootstrap ${r.bootstrap}`;
  console.log(
    `replay: npm run sim -- --seed ${r.seed} --runs 1${nodes}${layout} --steps ${r.steps}${bug}`,
  );
}
