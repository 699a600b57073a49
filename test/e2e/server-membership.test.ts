import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Cluster, eventually, type ServerProc } from "./harness.js";
import { putInProcess, settled, statusOf } from "./server-support.js";

/**
 * Issue 5, tests 7 and 2 on one cluster: a nonvoter joins first and catches up; then three
 * voters join at the same moment. Their promotions are the event that proves the leader's
 * promotion pass ran while the nonvoter was caught up, so "it stays a nonvoter" is checked
 * after promotion had every chance to happen, without a sleep.
 */
describe("e2e: membership (issue 5, tests 7 and 2)", () => {
  let c: Cluster;
  let token: string;
  let leaderAddr: string;
  before(async () => {
    c = await Cluster.create();
    const b = await c.bootstrap("n1");
    token = b.token;
    leaderAddr = b.clusterAddr;
  });
  after(async () => {
    await c.cleanup();
  });

  test("a --nonvoter join catches up as a nonvoter", async () => {
    const nv = await c.join("nv", leaderAddr, token, { nonvoter: true });
    await nv.waitLog((l) => l.msg === "join: nonvoter", 5_000, '"join: nonvoter"');
    assert.equal(
      nv.logs.some((l) => l.msg === "join: voter"),
      false,
      "the nonvoter reported itself a voter",
    );
    for (let i = 0; i < 5; i++) await putInProcess(c, "n1", `nv/k${i}`, `v${i}`);
    // Caught up: the nonvoter has applied everything the leader committed.
    await eventually(async () => {
      const [l, n] = await Promise.all([statusOf(c, "n1"), statusOf(c, "nv")]);
      return n.appliedIndex >= l.commitIndex && n.appliedIndex > 0;
    }, "the nonvoter to catch up with the leader");
    const r = await c.cli("nv", ["config", "get", "nv/k4"]);
    assert.equal(r.stdout.trim(), "v4", r.stderr);
  });

  test("three nodes joining at the same moment through the leader all become voters; the nonvoter stays one", async () => {
    const names = ["n2", "n3", "n4"];
    const procs: ServerProc[] = await Promise.all(
      names.map((n) => c.start(n, { joinAddr: leaderAddr, joinToken: token })),
    );
    await Promise.all(
      procs.map((p) => p.waitLog((l) => l.msg === "join: voter", 30_000, '"join: voter"')),
    );
    await Promise.all(procs.map((p) => p.serving()));
    const leader = c.byName.get("n1")!;
    for (const n of names) {
      await leader.waitLog(
        (l) => l.msg === "promoted to voter" && l.name === n,
        5_000,
        `the leader promoting ${n}`,
      );
    }

    // Promotions of later joiners happened while the nonvoter was caught up: had the
    // leader meant to promote it, it would have in the same passes. Everyone agrees.
    const { statuses } = await settled(c, ["n1", "nv", ...names], { nonvoters: ["nv"] });
    for (const s of statuses) {
      const nv = s.members.find((m) => m.name === "nv");
      assert.equal(nv?.suffrage, "nonvoter", `${s.nodeName} sees nv as ${nv?.suffrage}`);
      assert.deepEqual(
        s.members
          .filter((m) => m.suffrage === "voter")
          .map((m) => m.name)
          .sort(),
        ["n1", "n2", "n3", "n4"],
        `voters as ${s.nodeName} sees them`,
      );
    }
    assert.equal(new Set(statuses.map((s) => s.clusterId)).size, 1, "one cluster id");
    assert.equal(
      new Set(statuses.flatMap((s) => s.members.map((m) => m.id))).size,
      5,
      "five distinct node ids",
    );
    assert.equal(
      leader.logs.some((l) => l.msg === "promoted to voter" && l.name === "nv"),
      false,
      "the leader promoted the nonvoter",
    );
    // A write after the joins still works and reaches the nonvoter.
    const put = await c.cli("n3", ["config", "put", "after/joins", "ok"]);
    assert.equal(put.code, 0, put.stderr);
    await eventually(async () => {
      const r = await c.cli("nv", ["config", "get", "after/joins"]);
      return r.code === 0 && r.stdout.trim() === "ok";
    }, "the nonvoter to read the write made after the joins");
    for (const p of c.procs) assert.ok(p.running, `${p.name} still runs`);
  });
});
