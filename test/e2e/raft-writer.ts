/**
 * A client write loop for the Raft e2e tests: several workers put distinct keys through
 * the admin API of whichever nodes are running, retry on errors with the next key, and
 * record only the writes the server acknowledged. What a crash test checks is that every
 * acknowledged write survives; a write that errored may or may not have been applied.
 */
import { adminClient, type Cluster } from "./harness.js";

/** A running write loop. */
export interface WriteLoop {
  /** Acknowledged writes: key -> value. */
  readonly acked: Map<string, string>;
  /** Writes that failed (outcome unknown), by key, with the error message. */
  readonly failed: Map<string, string>;
  /** Stops issuing writes and waits for the ones in flight to finish. */
  stop(): Promise<void>;
}

/**
 * Starts `concurrency` workers writing `${prefix}/NNNNNN` = `${prefix}-NNNNNN` to the
 * running nodes among `names`, round-robin. Each call has a short deadline so that a call
 * to a node that just died does not hold a worker for long.
 */
export function startWriteLoop(
  c: Cluster,
  names: readonly string[],
  prefix: string,
  concurrency = 4,
): WriteLoop {
  const acked = new Map<string, string>();
  const failed = new Map<string, string>();
  const clients = new Map(names.map((n) => [n, adminClient(c.homeOf(n))]));
  let seq = 0;
  let stopped = false;
  const worker = async (w: number) => {
    let turn = w;
    while (!stopped) {
      const running = names.filter((n) => c.byName.get(n)?.running);
      if (running.length === 0) {
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const node = running[turn++ % running.length]!;
      const i = seq++;
      const key = `${prefix}/${String(i).padStart(6, "0")}`;
      const value = `${prefix}-${i}`;
      try {
        await clients
          .get(node)!
          .config.put({ key, value: new TextEncoder().encode(value) }, { timeoutMs: 5000 });
        acked.set(key, value);
      } catch (err) {
        failed.set(key, `${node}: ${(err as Error).message}`);
        // Back off a little: while there is no leader every call fails at once.
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
  return {
    acked,
    failed,
    async stop() {
      stopped = true;
      await Promise.all(workers);
      for (const a of clients.values()) a.close();
    },
  };
}
