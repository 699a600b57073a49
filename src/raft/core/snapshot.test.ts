import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Message, Snapshot } from "../types.js";
import { message, TestNetwork } from "./test-network.js";

function snapMsg(from: string, to: string, term: number, snapshot: Snapshot): Message {
  return message({ type: "snap", from, to, term, snapshot });
}

describe("log compaction (§7)", () => {
  it("§7 snapshot to a lagging follower after compaction, then entries", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.isolate("c");
    for (let i = 0; i < 10; i++) net.propose("a", `x${i}`);
    net.deliverAll();
    const a = net.raft("a");
    const applied = a.status().applied;
    const snap = a.compact(applied, new TextEncoder().encode("state"));
    assert.equal(a.status().firstIndex, applied + 1);
    net.propose("a", "after");
    net.deliverAll();
    net.heal();
    net.tick(3);
    const c = net.node("c");
    assert.deepEqual(c.installed, [snap.meta.index], "c installed the leader's snapshot");
    assert.equal(new TextDecoder().decode(c.storage.snapshotData!), "state");
    assert.deepEqual(net.appliedData("c"), ["after"], "and applied the entries after it");
    assert.equal(a.status().progress.c!.state, "replicate");
    assert.equal(c.raft.status().commit, a.status().commit);
  });

  it("§7 a stale snapshot is ignored, but a matching one advances commit", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    for (let i = 0; i < 6; i++) net.propose("a", `x${i}`);
    net.deliverAll();
    net.tick(2);
    const a = net.raft("a");
    const term = a.status().term;
    const conf = a.status().conf;
    const b = net.raft("b");
    const commit = b.status().commit;
    // Older than b's commit: ignored, answered with the commit.
    b.step(
      snapMsg("a", "b", term, { meta: { index: commit - 2, term, conf }, data: new Uint8Array() }),
    );
    let rd = b.ready();
    assert.equal(rd.snapshot, undefined, "nothing to install");
    assert.deepEqual(
      rd.messages.map((m) => [m.type, m.index, m.reject]),
      [["appResp", commit, false]],
    );
    b.advance();
    // Older than b's own snapshot: its (index, term) is no longer in b's log, and it
    // must still not be installed.
    b.compact(b.status().applied, new Uint8Array());
    b.step(
      snapMsg("a", "b", term, { meta: { index: commit - 1, term, conf }, data: new Uint8Array() }),
    );
    rd = b.ready();
    assert.equal(rd.snapshot, undefined, "an older snapshot never replaces a newer state");
    b.advance();
    // b holds entries past its commit that the leader has not yet said are committed.
    net.isolate("a");
    const { index } = net.propose("a", "y");
    net.heal();
    const bNode = net.node("b");
    b.step({
      ...snapMsg("a", "b", term, { meta: { index, term, conf }, data: new Uint8Array() }),
      type: "app",
      snapshot: undefined,
      index: index - 1,
      logTerm: term,
      entries: [{ index, term, type: "normal", data: new TextEncoder().encode("y") }],
      commit,
    });
    net.process("b");
    net.dropQueued();
    assert.equal(b.status().commit, commit);
    // A snapshot at an index (and term) that b already holds: not installed, but it
    // proves that prefix committed.
    b.step(snapMsg("a", "b", term, { meta: { index, term, conf }, data: new Uint8Array() }));
    rd = b.ready();
    assert.equal(rd.snapshot, undefined, "b keeps its log");
    assert.equal(rd.hardState?.commit, index, "commit moved up to the snapshot");
    assert.equal(b.status().lastIndex, index);
    b.advance();
    assert.ok(bNode.installed.length === 0, "never installed");
  });
});
