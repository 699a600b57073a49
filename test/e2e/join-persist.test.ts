import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Cluster, eventually, type StatusJson } from "./harness.js";

describe("e2e: what a joining node writes to its home, and when", () => {
  let c: Cluster;
  before(async () => {
    c = await Cluster.create();
  });
  after(async () => {
    await c.cleanup();
  });

  test("node.json never exists without the TLS files a restart needs", async () => {
    const { token, clusterAddr } = await c.bootstrap("n1");
    const home = c.homeOf("n2");
    const tlsFiles = ["ca.pem", "cluster.pem", "cluster.key"].map((f) => join(home, "tls", f));
    // Samples the home while n2 joins: a crash at any instant must leave either a home the
    // next start refuses with a clear message (no node.json yet) or one it restarts from.
    let sampling = true;
    let samples = 0;
    let memberWithoutTls = 0;
    const sampler = (async () => {
      while (sampling) {
        const member = existsSync(join(home, "node.json"));
        if (member && !tlsFiles.every((f) => existsSync(f))) memberWithoutTls++;
        samples++;
        await new Promise((r) => setTimeout(r, 1));
      }
    })();
    const n2 = await c.join("n2", clusterAddr, token);
    const voter = n2.logs.findIndex((l) => l.msg === "join: voter");
    sampling = false;
    await sampler;
    assert.ok(voter >= 0, "n2 reported that it is a voter");
    assert.ok(samples > 20, `sampled the home often enough (${samples})`);
    assert.equal(memberWithoutTls, 0, "node.json appeared before the TLS files");
    assert.ok(tlsFiles.every((f) => existsSync(f)));

    // And the home it left restarts as the same member.
    await n2.kill9();
    const again = await c.start("n2", { home });
    await again.serving();
    assert.ok(again.logs.some((l) => l.msg === "restarting as a member"));
  });

  test("a joiner killed while it catches up restarts from its home, without a token, and becomes a voter", async () => {
    const { token, clusterAddr } = await c.bootstrap("m1");
    const home = c.homeOf("m2");
    const m2 = await c.start("m2", { joinAddr: clusterAddr, joinToken: token });
    // From "catching up" on, the node's identity and TLS files are on disk (the cluster
    // port served only after they were): a crash from here leaves a member's home.
    await m2.waitLog((l) => l.join === "catching up", 20_000, '"join: catching up"');
    await m2.kill9();
    assert.ok(existsSync(join(home, "node.json")), "node.json is on disk at 'catching up'");
    const again = await c.start("m2", { home });
    await again.serving();
    assert.ok(again.logs.some((l) => l.msg === "restarting as a member"));
    const s = await eventually(async () => {
      const st = await c.cliJson<StatusJson>("m1", ["cluster", "status"]);
      const rec = st.members.find((m) => m.name === "m2");
      return rec?.suffrage === "voter" && rec.healthy ? st : undefined;
    }, "m2 to be a healthy voter");
    assert.equal(s.members.length, 2);
  });
});
