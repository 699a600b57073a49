/**
 * Rotations and evictions back to back, as `cluster remove --rotate-ca` and scripted
 * maintenance run them: each eviction's rotation begins while the members are still
 * reconnecting after the previous rotation's finish, and the leader holds and batches the
 * acknowledgements while the set of members it waits for shrinks. Down to two voters,
 * where a single refusal is a majority: every remaining member must stay a member, and
 * the cluster must keep quorum.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { adminClient, agreedLeader, Cluster, eventually, type StatusJson } from "./harness.js";

describe("e2e: rotations and evictions back to back", () => {
  let c: Cluster;

  before(async () => {
    c = await Cluster.create("gastrolog-ops-rot-b2b-");
    await c.up(5);
    await agreedLeader(c, ["n1", "n2", "n3", "n4", "n5"]);
  });
  after(async () => {
    await c.cleanup();
  });

  test("rotate, then evict at once, down to two voters: every remaining member stays a member and the cluster keeps quorum", async () => {
    let live = ["n1", "n2", "n3", "n4", "n5"];
    while (live.length > 2) {
      const leader = (await agreedLeader(c, live)).node;
      const victim = [...live].reverse().find((n) => n !== leader)!;
      const caBefore = (await c.cliJson<StatusJson>(leader, ["cluster", "status"])).tls
        .caFingerprints[0];
      const admin = adminClient(c.homeOf(leader));
      try {
        for await (const _ of admin.cert.rotateCert({ force: false })) {
          // progress only
        }
        // No pause: the removal's rotation begins while the members still reconnect after
        // the last finish. The last removal also rotates the CA, three more phases.
        for await (const _ of admin.cluster.removeNode({
          node: victim,
          rotateCa: live.length === 3,
        })) {
          // progress only
        }
      } finally {
        admin.close();
      }
      const rotatedCa = live.length === 3;
      live = live.filter((n) => n !== victim);
      for (const n of live) {
        const s = await eventually(async () => {
          const st = await c.cliJson<StatusJson>(n, ["cluster", "status"]);
          return st.tls.rotation === null && st.members.length === live.length ? st : undefined;
        }, `${n} to see the rotation of ${victim}'s removal finished`);
        assert.notEqual(s.role, "removed", `${n} took itself for removed: ${s.notice}`);
        assert.equal(s.notice, null, `${n}: ${s.notice}`);
      }
      if (rotatedCa) {
        for (const n of live) {
          const cas = await eventually(async () => {
            const st = await c.cliJson<StatusJson>(n, ["cluster", "status"]);
            return st.tls.caFingerprints.length === 1 ? st.tls.caFingerprints : undefined;
          }, `${n} to trust one CA after the CA rotation`);
          assert.notEqual(cas[0], caBefore, `${n} trusts the new CA, not the old one`);
        }
      }
      const put = await c.cli(live[0]!, ["config", "put", `b2b/${victim}`, "ok"]);
      assert.equal(put.code, 0, `a write after removing ${victim}: ${put.stderr}`);
    }
  });
});
