import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { adminClient, agreedLeader, Cluster, configSnapshot, eventually } from "./harness.js";

const NODES = ["n1", "n2", "n3"];

/** Puts `count` keys through `via` (forwarded when it follows); all must be acknowledged. */
async function writeSome(c: Cluster, via: string, prefix: string, count: number): Promise<void> {
  const a = adminClient(c.homeOf(via));
  try {
    await Promise.all(
      Array.from({ length: count }, (_, i) =>
        a.config.put(
          { key: `${prefix}/${i}`, value: new TextEncoder().encode(`${via}-${i}`) },
          { timeoutMs: 10_000 },
        ),
      ),
    );
  } finally {
    a.close();
  }
}

async function readableEverywhere(c: Cluster, prefix: string, count: number): Promise<void> {
  for (const n of NODES) {
    await eventually(
      async () =>
        [...(await configSnapshot(c, n)).keys()].filter((k) => k.startsWith(`${prefix}/`))
          .length === count,
      `${count} ${prefix}/ keys on ${n}`,
    );
  }
}

describe("e2e raft: leadership transfer (issue 4, test 4)", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create("gastrolog-raft-transfer-");
  });
  after(async () => {
    await c.cleanup();
  });

  test("`cluster transfer-leader NAME` moves the leader to NAME, and writes continue", async () => {
    await c.up(3);
    const before = await agreedLeader(c, NODES);
    const target = NODES.find((n) => n !== before.leaderName)!;
    await writeSome(c, before.leaderName, "pre", 20);

    const r = await c.cli(before.leaderName, ["cluster", "transfer-leader", target]);
    assert.equal(r.code, 0, r.stderr);
    const after = await agreedLeader(c, NODES);
    assert.equal(after.leaderName, target, "status shows the requested node as leader");
    assert.ok(after.term > before.term, `a new term (${before.term} -> ${after.term})`);
    assert.match(r.stdout, new RegExp(after.leaderId));

    // Writes continue: through the new leader and through the old one (now forwarding).
    await writeSome(c, target, "post-new", 20);
    await writeSome(c, before.leaderName, "post-old", 20);
    await readableEverywhere(c, "pre", 20);
    await readableEverywhere(c, "post-new", 20);
    await readableEverywhere(c, "post-old", 20);

    // Without a name, leadership goes to the most up-to-date other voter.
    const r2 = await c.cli(target, ["cluster", "transfer-leader"]);
    assert.equal(r2.code, 0, r2.stderr);
    const third = await agreedLeader(c, NODES);
    assert.notEqual(third.leaderName, target);
    await writeSome(c, third.leaderName, "post-2", 10);
    await readableEverywhere(c, "post-2", 10);
  });

  test("`cluster transfer-leader NAME` run on a follower moves the leader too", async () => {
    const now = await agreedLeader(c, NODES);
    const follower = NODES.find((n) => n !== now.leaderName)!;
    const target = NODES.find((n) => n !== now.leaderName && n !== follower)!;
    const r = await c.cli(follower, ["cluster", "transfer-leader", target]);
    assert.equal(r.code, 0, `transfer-leader on follower ${follower}: ${r.stderr.trim()}`);
    const after = await agreedLeader(c, NODES);
    assert.equal(after.leaderName, target);
  });
});
