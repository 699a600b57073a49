import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { agreedLeader, Cluster, configSnapshot, eventually } from "./harness.js";
import { startWriteLoop } from "./raft-writer.js";

const NODES = ["n1", "n2", "n3"];

/**
 * Every acknowledged write must be on every node. Followers apply asynchronously, so this
 * polls until each node holds all of them; if one never does, the failure names the
 * missing keys. A key that was acknowledged and then lost can never reappear, so the poll
 * cannot hide a loss: it only waits for replication.
 */
async function assertAllAckedEverywhere(
  c: Cluster,
  acked: ReadonlyMap<string, string>,
): Promise<void> {
  for (const n of NODES) {
    let missing: string[] = [];
    try {
      await eventually(
        async () => {
          const kv = await configSnapshot(c, n);
          missing = [...acked].filter(([k, v]) => !kv.get(k)?.startsWith(`${v}@`)).map(([k]) => k);
          return missing.length === 0;
        },
        `every acknowledged write on ${n}`,
        20_000,
      );
    } catch (err) {
      assert.fail(
        `${n} lacks ${missing.length} of ${acked.size} acknowledged writes (first: ${missing.slice(0, 5).join(", ")}): ${(err as Error).message}`,
      );
    }
  }
}

/** Waits until the loop has `n` more acknowledged writes than `from`. */
function moreAcks(loop: { acked: Map<string, string> }, from: number, n: number, what: string) {
  return eventually(() => loop.acked.size >= from + n, what, 30_000, 20);
}

// Note on what kill -9 can and cannot show: SIGKILL ends the process but the kernel keeps
// its page cache, so a missing fsync is invisible here (only a power cut shows it; the
// storage crash tests cover fsync ordering). What this test does catch is an
// acknowledgement given before the entry is committed by a majority and durable in lmdb
// (a write acked on the leader alone, lost with it), a restart that loses or rewinds
// committed state, and an FSM that is not rebuilt from snapshot + log after a crash.
describe("e2e raft: kill -9 (issue 4, test 2)", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create("gastrolog-raft-crash-");
  });
  after(async () => {
    await c.cleanup();
  });

  test("no acknowledged write is lost when the leader, then all three nodes, are killed with SIGKILL", async (t) => {
    await c.up(3);
    const first = await agreedLeader(c, NODES);
    const allAcked = new Map<string, string>();

    // ---- the leader dies mid-stream ----
    const loopA = startWriteLoop(c, NODES, "a");
    try {
      await moreAcks(loopA, 0, 100, "100 acknowledged writes before the crash");
      const victim = c.byName.get(first.leaderName)!;
      const atKill = loopA.acked.size;
      await victim.kill9();
      const rest = NODES.filter((n) => n !== first.leaderName);
      // Writes go on against the survivors once they have elected a new leader.
      await moreAcks(loopA, atKill, 100, "100 acknowledged writes after the leader died");
      const second = await agreedLeader(c, rest);
      assert.notEqual(second.leaderName, first.leaderName, "a survivor leads");
      await c.restart(first.leaderName);
      const atRestart = loopA.acked.size;
      await moreAcks(loopA, atRestart, 50, "50 acknowledged writes after the restart");
    } finally {
      await loopA.stop();
    }
    t.diagnostic(`leader crash: ${loopA.acked.size} acked, ${loopA.failed.size} failed`);
    for (const [k, v] of loopA.acked) allAcked.set(k, v);
    await assertAllAckedEverywhere(c, allAcked);

    // ---- all three die at once ----
    const loopB = startWriteLoop(c, NODES, "b");
    try {
      await moreAcks(loopB, 0, 100, "100 acknowledged writes before the total crash");
      await Promise.all(NODES.map((n) => c.byName.get(n)!.kill9()));
    } finally {
      await loopB.stop();
    }
    t.diagnostic(`total crash: ${loopB.acked.size} acked, ${loopB.failed.size} failed`);
    for (const [k, v] of loopB.acked) allAcked.set(k, v);
    await Promise.all(NODES.map((n) => c.restart(n)));
    await agreedLeader(c, NODES);
    await assertAllAckedEverywhere(c, allAcked);
  });
});
