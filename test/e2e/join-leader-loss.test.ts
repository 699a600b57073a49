/**
 * The leader dies, and the cluster goes on without the operator's help: a join it had
 * answered is finished by the next leader, and a membership command sent at once waits
 * for that leader. Each test starts its own 3-node cluster.
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, test } from "node:test";
import { agreedLeader, Cluster, type StatusJson } from "./harness.js";

describe("e2e: the leader dies", () => {
  let c: Cluster;
  beforeEach(async () => {
    c = await Cluster.create();
  });
  afterEach(async () => {
    await c.cleanup();
  });

  // The node is recorded (the reply is sent only once that is committed), but its learner
  // change may not have committed, or even left the old leader.
  test("a node enrolled by a leader that is killed right after its reply still becomes a voter under the next leader", async () => {
    const { token, addrs } = await c.up(3);
    const leader = await agreedLeader(c, ["n1", "n2", "n3"]);
    const n4 = await c.start("n4", { joinAddr: addrs.get(leader.node)!, joinToken: token });
    await n4.waitLog((l) => l.join === "enrolled", 20_000, '"join: enrolled"');
    // Killed the moment the joiner has its reply: the learner change is at best appended.
    await c.byName.get(leader.node)!.kill9();
    const rest = ["n1", "n2", "n3"].filter((n) => n !== leader.node);
    const next = await agreedLeader(c, rest);
    assert.notEqual(next.node, leader.node);

    await n4.waitLog((l) => l.join === "voter", 30_000, '"join: voter"');
    await n4.serving();
    const s = await c.cliJson<StatusJson>(next.node, ["cluster", "status"]);
    const rec = s.members.find((m) => m.name === "n4");
    assert.equal(rec?.suffrage, "voter");
    assert.equal(rec?.healthy, true);
    // With 4 voters and one down, 3 are a quorum: the cluster takes writes.
    const put = await c.cli("n4", ["config", "put", "after/leader-loss", "yes"]);
    assert.equal(put.code, 0, put.stderr);
  });

  test("cluster remove of the dead leader, run at once on a follower, waits for the next leader instead of failing", async () => {
    await c.up(3);
    const leader = await agreedLeader(c, ["n1", "n2", "n3"]);
    await c.byName.get(leader.node)!.kill9();
    const follower = ["n1", "n2", "n3"].find((n) => n !== leader.node)!;
    // No new leader yet: the follower still knows the dead one.
    const r = await c.cli(follower, ["cluster", "remove", leader.node]);
    assert.equal(r.code, 0, r.stderr);
    const s = await c.cliJson<StatusJson>(follower, ["cluster", "status"]);
    assert.deepEqual(
      s.members.map((m) => m.name).sort(),
      ["n1", "n2", "n3"].filter((n) => n !== leader.node),
    );
  });
});
