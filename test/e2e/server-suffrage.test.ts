/**
 * `cluster demote` and `cluster promote`: the change sticks (the leader's reconciler steers
 * towards what the operator asked, not towards how the node joined), also across a
 * leader change, and demoting the leader itself works.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { agreedLeader, Cluster, eventually, type StatusJson } from "./harness.js";

const NAMES = ["n1", "n2", "n3"];

describe("e2e: demote and promote", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create();
    await c.up(3);
  });
  after(async () => {
    await c.cleanup();
  });

  const suffrageOf = async (asker: string, name: string): Promise<string | undefined> => {
    const s = await c.cliJson<StatusJson>(asker, ["cluster", "status"]);
    return s.members.find((m) => m.name === name)?.suffrage;
  };

  test("a demoted follower stays a nonvoter under the next leader, and promote makes it a voter again", async () => {
    const leader = await agreedLeader(c, NAMES);
    const [follower, third] = NAMES.filter((n) => n !== leader.node) as [string, string];
    const d = await c.cli(leader.node, ["cluster", "demote", follower]);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(await suffrageOf(leader.node, follower), "nonvoter");
    // A new leader reconciles membership at once: it must not promote the node back.
    const t = await c.cli(leader.node, ["cluster", "transfer-leader", third]);
    assert.equal(t.code, 0, t.stderr);
    await agreedLeader(c, NAMES);
    const put = await c.cli(third, ["config", "put", "after/demote", "1"]);
    assert.equal(put.code, 0, put.stderr);
    assert.equal(await suffrageOf(third, follower), "nonvoter");
    const audit = await c.cliJson<{ events: { kind: string; details: Record<string, string> }[] }>(
      third,
      ["cluster", "audit"],
    );
    const demotedAt = audit.events.findLastIndex((e) => e.kind === "node.demoted");
    assert.ok(demotedAt >= 0, "the demotion is audited");
    assert.deepEqual(
      audit.events.slice(demotedAt).filter((e) => e.kind === "node.promoted"),
      [],
      "nothing promoted it back",
    );

    const p = await c.cli(third, ["cluster", "promote", follower]);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(await suffrageOf(third, follower), "voter");
  });

  test("demoting the leader, from a follower, moves leadership and demotes it", async () => {
    const leader = await agreedLeader(c, NAMES);
    const asker = NAMES.find((n) => n !== leader.node)!;
    const d = await c.cli(asker, ["cluster", "demote", leader.node]);
    assert.equal(d.code, 0, d.stderr);
    await eventually(async () => {
      const s = await c.cliJson<StatusJson>(asker, ["cluster", "status"]);
      const rec = s.members.find((m) => m.name === leader.node);
      return rec?.suffrage === "nonvoter" && s.leaderId && s.leaderId !== rec.id ? s : undefined;
    }, `${leader.node} to be a nonvoter under another leader`);
    const w = await c.cli(asker, ["config", "put", "after/demote-leader", "1"]);
    assert.equal(w.code, 0, w.stderr);
  });
});
