import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  adminClient,
  agreedLeader,
  Cluster,
  configSnapshot,
  eventually,
  leaderView,
  upWithEnv,
} from "./harness.js";

const VOTERS = ["n1", "n2", "n3"];
/** Small, so that a few hundred writes make the leader compact its log several times. */
const ENV = { GASTROLOG_SNAPSHOT_THRESHOLD: "50" };
const BEFORE = 300;
const AFTER = 60;

async function putRange(c: Cluster, node: string, from: number, to: number): Promise<void> {
  const a = adminClient(c.homeOf(node));
  try {
    for (let base = from; base < to; base += 20) {
      await Promise.all(
        Array.from({ length: Math.min(20, to - base) }, (_, j) =>
          a.config.put(
            {
              key: `snap/${String(base + j).padStart(4, "0")}`,
              value: new TextEncoder().encode(`v${base + j}`),
            },
            { timeoutMs: 10_000 },
          ),
        ),
      );
    }
  } finally {
    a.close();
  }
}

describe("e2e raft: a nonvoter joins after compaction (issue 4, test 3)", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create("gastrolog-raft-snap-");
  });
  after(async () => {
    await c.cleanup();
  });

  test("the new nonvoter catches up by snapshot install, then by log entries", async () => {
    const { token, clusterAddr } = await upWithEnv(c, 3, ENV);
    const leader = await agreedLeader(c, VOTERS);
    await putRange(c, leader.leaderName, 0, BEFORE);
    const leaderProc = c.byName.get(leader.leaderName)!;

    const n4 = await c.join("n4", clusterAddr, token, { nonvoter: true, env: ENV });
    const n4Id = (await n4.serving()).nodeId;
    // The snapshot it installs was taken after the writes: the log before it is gone
    // from the leader's memory, so entries alone could not have brought n4 up to date.
    const received = await n4.waitLog(
      (l) => l.msg === "received snapshot",
      20_000,
      '"received snapshot"',
    );
    assert.ok(
      Number(received.index) >= BEFORE - 50,
      `n4 installed a snapshot taken after compaction (index ${received.index}, ${BEFORE} writes made)`,
    );
    const sent = await leaderProc.waitLog(
      (l) => l.msg === "sent snapshot" && l.peer === n4Id,
      20_000,
      '"sent snapshot" to n4',
    );
    assert.equal(Number(sent.index), Number(received.index), "the leader sent what n4 installed");

    // Writes after the join reach n4 as log entries.
    await putRange(c, leader.leaderName, BEFORE, BEFORE + AFTER);
    const all = [...VOTERS, "n4"];
    await eventually(
      async () => {
        const stores = await Promise.all(all.map((n) => configSnapshot(c, n)));
        const ref = JSON.stringify([...stores[0]!]);
        return (
          stores[0]!.size === BEFORE + AFTER && stores.every((s) => JSON.stringify([...s]) === ref)
        );
      },
      "n4's store equal to the voters' (keys, values, revisions)",
      20_000,
    );
    const lastSnap = Math.max(
      ...n4.logs.filter((l) => l.msg === "received snapshot").map((l) => Number(l.index)),
    );
    const v4 = await leaderView(c, "n4");
    assert.ok(
      v4.appliedIndex > lastSnap,
      `n4 applied entries past its snapshot (${v4.appliedIndex} > ${lastSnap})`,
    );

    const status = await c.cliJson<{ members: { name: string; suffrage: string }[] }>(
      leader.leaderName,
      ["cluster", "status"],
    );
    assert.equal(status.members.find((m) => m.name === "n4")?.suffrage, "nonvoter");
    assert.equal(status.members.filter((m) => m.suffrage === "voter").length, 3);
  });
});
