import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Cluster, eventually, type StatusJson } from "./harness.js";

describe("e2e: bootstrap and join (issue 5, test 1)", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create();
  });
  after(async () => {
    await c.cleanup();
  });

  test("n2 joins via the leader, n3 via n2; all voters, same cluster, healthy, same TLS; follower write readable everywhere", async () => {
    const { token, clusterAddr } = await c.bootstrap("n1");
    const n2 = await c.join("n2", clusterAddr, token);
    const n2Addr = (await n2.serving()).clusterAddr;
    await c.join("n3", n2Addr, token);

    const statuses = await eventually(async () => {
      const all = await Promise.all(
        ["n1", "n2", "n3"].map((n) => c.cliJson<StatusJson>(n, ["cluster", "status"])),
      );
      const ok = all.every(
        (s) =>
          s.members.length === 3 && s.members.every((m) => m.healthy && m.suffrage === "voter"),
      );
      return ok ? all : undefined;
    }, "3 healthy voters on every node");
    assert.equal(new Set(statuses.map((s) => s.clusterId)).size, 1, "one cluster id");
    assert.equal(
      new Set(statuses.map((s) => s.tls.certFingerprint)).size,
      1,
      "one cluster certificate",
    );
    assert.equal(
      new Set(statuses.map((s) => s.tls.caFingerprints.join(","))).size,
      1,
      "one CA set",
    );
    assert.equal(statuses.filter((s) => s.role === "leader").length, 1, "exactly one leader");

    const follower = statuses.find((s) => s.role === "follower")!.nodeName;
    const put = await c.cli(follower, ["config", "put", "app/greeting", "hello"]);
    assert.equal(put.code, 0, put.stderr);
    for (const n of ["n1", "n2", "n3"]) {
      const v = await eventually(async () => {
        const r = await c.cli(n, ["config", "get", "app/greeting"]);
        return r.code === 0 ? r.stdout : undefined;
      }, `the write to be readable on ${n}`);
      assert.equal(v.trim(), "hello");
    }
    for (const p of c.procs) assert.ok(p.running, `${p.name} still runs`);
    // The Enroll handler and the leader's reconciler add a new node to Raft once, together:
    // no warning about a failed (duplicate) add on any join.
    for (const p of c.procs) {
      const dup = p.logs.filter((l) => /adding enrolled node to raft failed/.test(String(l.msg)));
      assert.deepEqual(dup, [], `${p.name} logged a failed add to Raft`);
    }

    // Files that hold secrets (keys, the token, the replicated store with the CA key) and
    // the admin socket are owner-only on every node.
    for (const n of ["n1", "n2", "n3"]) {
      const home = c.homeOf(n);
      const secret = ["tls/cluster.key", "raft/raft.mdb", "node.json", "api.sock"];
      if (n === "n1") secret.push("join-token");
      for (const f of secret) {
        const mode = (await stat(join(home, f))).mode & 0o777;
        assert.equal(mode, 0o600, `${n}: ${f} has mode ${mode.toString(8)}`);
      }
      assert.equal((await stat(home)).mode & 0o077, 0, `${n}: home is not owner-only`);
    }
  });
});
