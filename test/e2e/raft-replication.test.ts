import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  adminClient,
  agreedLeader,
  Cluster,
  configSnapshot,
  eventually,
  type StatusJson,
} from "./harness.js";

const NODES = ["n1", "n2", "n3"];
const ENTRIES = 1000;
/** Puts in flight at once: modest batches, spread over all three nodes. */
const BATCH = 25;

describe("e2e raft: replication (issue 4, test 1)", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create("gastrolog-raft-repl-");
  });
  after(async () => {
    await c.cleanup();
  });

  test("3 nodes elect one leader, commit 1,000 concurrent puts, and end with equal FSMs", async () => {
    await c.up(3);
    const leader = await agreedLeader(c, NODES);
    assert.ok(NODES.includes(leader.leaderName), "the leader is one of the three");

    // Each batch goes to all three nodes round-robin: followers forward to the leader,
    // so the leader sees proposals from its own socket and from the cluster port at once.
    const clients = NODES.map((n) => adminClient(c.homeOf(n)));
    try {
      for (let base = 0; base < ENTRIES; base += BATCH) {
        await Promise.all(
          Array.from({ length: BATCH }, async (_, j) => {
            const i = base + j;
            const key = `repl/${String(i).padStart(4, "0")}`;
            const res = await clients[i % clients.length]!.config.put(
              { key, value: new TextEncoder().encode(`v${i}`) },
              { timeoutMs: 10_000 },
            );
            assert.equal(res.revision > 0n, true, `${key} got a revision`);
          }),
        );
      }
    } finally {
      for (const a of clients) a.close();
    }

    // Followers apply asynchronously: wait until every node holds every entry.
    await eventually(
      async () => {
        const sizes = await Promise.all(
          NODES.map(async (n) => [...(await configSnapshot(c, n)).keys()].length),
        );
        return sizes.every((s) => s === ENTRIES);
      },
      `all ${ENTRIES} entries applied on every node`,
      20_000,
    );

    // The final comparison goes through the real CLI, as an operator would check it.
    const lists = await Promise.all(
      NODES.map((n) =>
        c.cliJson<{ kvs: { key: string; value: string; revision: number }[] }>(n, [
          "config",
          "list",
        ]),
      ),
    );
    const [ref, ...rest] = lists.map((l) =>
      l.kvs.map((kv) => `${kv.key}=${kv.value}@${kv.revision}`),
    );
    assert.equal(ref!.length, ENTRIES);
    for (let i = 0; i < ENTRIES; i++) {
      assert.ok(ref!.some((e) => e.startsWith(`repl/${String(i).padStart(4, "0")}=v${i}@`)));
    }
    for (const [k, other] of rest.entries()) {
      assert.deepEqual(other, ref, `${NODES[k + 1]}'s store equals ${NODES[0]}'s`);
    }
    // Revisions are the FSM's, assigned in log order: distinct across keys.
    assert.equal(new Set(lists[0]!.kvs.map((kv) => kv.revision)).size, ENTRIES);

    // Background writes (suffrage bookkeeping) may still land: poll for agreement.
    await eventually(async () => {
      const status = await Promise.all(
        NODES.map((n) => c.cliJson<StatusJson>(n, ["cluster", "status"])),
      );
      return (
        new Set(status.map((s) => s.appliedIndex)).size === 1 &&
        status.filter((s) => s.role === "leader").length === 1 &&
        status[0]!.appliedIndex > ENTRIES
      );
    }, "one leader and the same applied index on every node");
  });
});
