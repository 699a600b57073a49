/**
 * What a benchmark run must undo, whatever happens: the processes it started (ended by
 * PID) and the temporary directories it made. One registry per run, so that a failure,
 * SIGINT or SIGTERM in the middle of a level still leaves the machine as it was.
 */
import { rmSync } from "node:fs";
import { rm } from "node:fs/promises";

/** A resource the run owns: a child process (by PID) or a directory. */
export interface Owned {
  /** Ends the resource for good; must be safe to call twice. */
  stop(): Promise<void>;
  /** Last-resort, synchronous variant for process `exit` (SIGKILL, rmSync). */
  stopSync(): void;
}

/** The run-wide cleanup registry. */
export interface Cleanup {
  /** Registers a resource; resources are stopped in reverse order. */
  own(r: Owned): void;
  /** Registers a child process by PID. */
  ownPid(pid: number, kill: (signal: NodeJS.Signals) => Promise<void>): void;
  /** Registers a directory to remove recursively. */
  ownDir(dir: string): void;
  /** Stops everything registered (reverse order); later calls are no-ops. */
  run(): Promise<void>;
}

/**
 * Creates the registry and hooks SIGINT/SIGTERM (clean up, then exit 130/143) and process
 * `exit` (synchronous SIGKILL + rmSync of whatever is still left).
 */
export function createCleanup(): Cleanup {
  const owned: Owned[] = [];
  let done: Promise<void> | undefined;
  const run = (): Promise<void> => {
    done ??= (async () => {
      for (const r of [...owned].reverse()) {
        try {
          await r.stop();
        } catch (err) {
          process.stderr.write(`cleanup: ${(err as Error).message}\n`);
        }
      }
    })();
    return done;
  };
  const onSignal = (signal: NodeJS.Signals, code: number) => {
    process.stderr.write(`\n${signal}: stopping the clusters and removing their directories\n`);
    void run().finally(() => process.exit(code));
  };
  process.once("SIGINT", () => onSignal("SIGINT", 130));
  process.once("SIGTERM", () => onSignal("SIGTERM", 143));
  process.once("exit", () => {
    for (const r of [...owned].reverse()) {
      try {
        r.stopSync();
      } catch {
        // Already gone: nothing left to undo.
      }
    }
  });
  return {
    own: (r) => owned.push(r),
    ownPid(pid, kill) {
      let alive = true;
      owned.push({
        async stop() {
          if (!alive) return;
          alive = false;
          await kill("SIGKILL");
        },
        stopSync() {
          if (!alive) return;
          alive = false;
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // ESRCH: it already exited.
          }
        },
      });
    },
    ownDir(dir) {
      owned.push({
        stop: () => rm(dir, { recursive: true, force: true }),
        stopSync: () => rmSync(dir, { recursive: true, force: true }),
      });
    },
    run,
  };
}
