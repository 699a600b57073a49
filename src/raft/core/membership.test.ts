import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ConfChange } from "../types.js";
import { bootstrapLogState } from "./bootstrap.js";
import { RaftError } from "./errors.js";
import { TestNetwork } from "./test-network.js";

function change(type: ConfChange["type"], nodeId: string): ConfChange {
  return { type, nodeId, addr: `addr-${nodeId}` };
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof RaftError) return e.code;
    throw e;
  }
  return "none";
}

describe("membership changes", () => {
  it("§4.2.1 a learner neither campaigns nor counts toward commit", () => {
    const net = TestNetwork.bootstrap(["a", "b"], ["l"]);
    net.elect("a");
    net.isolate("b");
    const { index } = net.propose("a", "x");
    net.deliverAll();
    assert.equal(net.raft("l").status().lastIndex, index, "the learner replicates");
    assert.ok(net.raft("a").status().commit < index, "a + learner is not a majority of {a, b}");
    // With everyone else gone, the learner never campaigns.
    net.heal();
    net.isolate("l");
    const term = net.raft("l").status().term;
    net.tick(100, ["l"]);
    assert.equal(net.role("l"), "follower");
    assert.equal(net.raft("l").status().term, term);
    assert.ok(!net.sent.some((m) => m.from === "l" && (m.type === "vote" || m.type === "preVote")));
  });

  it("§4.2.1 a learner still answers vote requests", () => {
    const net = TestNetwork.bootstrap(["a", "b"], ["l"], { checkQuorum: false });
    net.elect("a");
    net.raft("b").campaign();
    // b only asks voters; ask the learner directly as a candidate that still counts it would.
    const l = net.raft("l");
    l.step({
      type: "vote",
      from: "b",
      to: "l",
      term: 9,
      logTerm: 9,
      index: 99,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      context: new Uint8Array(0),
    });
    const rd = l.ready();
    const resp = rd.messages.find((m) => m.type === "voteResp");
    assert.ok(resp && !resp.reject, "the learner grants an up-to-date candidate");
    l.advance();
  });

  it("§4.2.1 promotion of a learner makes it count and campaign", () => {
    const net = TestNetwork.bootstrap(["a", "b"], ["c"]);
    net.elect("a");
    net.raft("a").proposeConfChange(change("addVoter", "c"));
    net.deliverAll();
    net.tick(2);
    for (const id of ["a", "b", "c"]) {
      assert.deepEqual(net.raft(id).status().conf.voters, ["a", "b", "c"], `${id} sees c as voter`);
    }
    // a + c is now a majority.
    net.isolate("b");
    const { index } = net.propose("a", "y");
    net.deliverAll();
    assert.ok(net.raft("a").status().commit >= index, "a and the promoted c commit");
    // And c may lead.
    net.heal();
    net.raft("a").transferLeader("c");
    net.deliverAll();
    assert.equal(net.role("c"), "leader");
  });

  it("§4.2.1 demotion of a voter stops it counting", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.raft("a").proposeConfChange(change("addLearner", "c"));
    net.deliverAll();
    net.tick(2);
    assert.deepEqual(net.raft("a").status().conf.learners, ["c"]);
    net.isolate("b");
    const { index } = net.propose("a", "z");
    net.deliverAll();
    assert.ok(net.raft("a").status().commit < index, "a + learner c is not a majority of {a, b}");
  });

  it("§4.2.2 removing the leader: it stops counting itself, then steps down", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.tick(2);
    net.isolate("b");
    const { index } = net.raft("a").proposeConfChange(change("removeNode", "a"));
    net.deliverAll();
    // The new configuration {b, c} needs both; a does not count itself any more.
    assert.equal(net.role("a"), "leader");
    assert.ok(net.raft("a").status().commit < index, "a + c is not a majority of {b, c}");
    assert.equal(
      code(() => net.raft("a").propose(new Uint8Array(1))),
      "ProposalDropped",
      "a leader on its way out takes no proposals",
    );
    net.heal();
    net.tick(3);
    assert.ok(net.raft("b").status().commit >= index, "the removal committed");
    assert.equal(net.role("a"), "follower", "the removed leader stepped down");
    net.tick(30, ["b", "c"]);
    const leaders = net.leaders();
    assert.equal(leaders.length, 1);
    assert.ok(["b", "c"].includes(leaders[0]!.id), "a remaining voter leads");
    assert.deepEqual(net.raft(leaders[0]!.id).status().conf.voters, ["b", "c"]);
  });

  it("§4.2.2 removing the leader of two voters leaves the other able to lead", () => {
    const net = TestNetwork.bootstrap(["a", "b"]);
    net.elect("a");
    net.tick(2);
    net.raft("a").proposeConfChange(change("removeNode", "a"));
    net.deliverAll();
    net.tick(1);
    assert.equal(net.role("a"), "follower");
    // a is shut down; b alone must lead {b}.
    net.isolate("a");
    net.tick(40, ["b"]);
    assert.equal(net.role("b"), "leader");
  });

  it("§4.1 only one configuration change may be pending", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.tick(2);
    const a = net.raft("a");
    net.isolate("b");
    net.isolate("c");
    a.proposeConfChange(change("addLearner", "d"));
    assert.equal(a.status().pendingConfChange, true);
    assert.equal(
      code(() => a.proposeConfChange(change("addLearner", "e"))),
      "ConfChangePending",
    );
    net.heal();
    net.tick(2);
    assert.equal(a.status().pendingConfChange, false);
    assert.equal(
      code(() => a.proposeConfChange(change("addLearner", "e"))),
      "none",
    );
  });

  it("§4.1 a new leader recomputes whether a change is pending", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.tick(2);
    // a's change reaches b but never commits; a disappears.
    net.isolate("c");
    net.filter = (m) => !(m.type === "appResp" && m.to === "a");
    net.raft("a").proposeConfChange(change("addLearner", "d"));
    net.deliverAll();
    assert.equal(net.raft("b").status().pendingConfChange, true);
    net.heal();
    net.isolate("a");
    // b wins, but c's acknowledgements of b's appends are held back for now.
    net.filter = (m) => !(m.type === "appResp" && m.to === "b");
    net.tick(30, ["b", "c"]);
    const b = net.raft("b");
    assert.equal(b.status().role, "leader");
    assert.equal(b.status().pendingConfChange, true);
    assert.equal(
      code(() => b.proposeConfChange(change("addLearner", "e"))),
      "ConfChangePending",
    );
    net.filter = () => true;
    net.tick(2, ["b", "c"]);
    assert.equal(b.status().pendingConfChange, false, "b committed a's change with its no-op");
    assert.deepEqual(b.status().conf.learners, ["d"]);
    assert.equal(
      code(() => b.proposeConfChange(change("addLearner", "e"))),
      "none",
    );
  });

  it("§4.1 invalid changes are refused with typed errors", () => {
    const net = TestNetwork.bootstrap(["a"]);
    net.elect("a");
    const a = net.raft("a");
    assert.equal(
      code(() => a.proposeConfChange(change("removeNode", "zz"))),
      "UnknownNode",
    );
    assert.equal(
      code(() => a.proposeConfChange(change("removeNode", "a"))),
      "InvalidConfChange",
    );
    assert.equal(
      code(() => a.proposeConfChange(change("addVoter", "a"))),
      "InvalidConfChange",
    );
    assert.equal(
      code(() => net.raft("a").propose(new Uint8Array(1))),
      "none",
    );
  });

  it("§4.2.1 a joining node learns the configuration from the leader's snapshot", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.addEmptyNode("d");
    net.raft("a").proposeConfChange(change("addLearner", "d"));
    net.propose("a", "w");
    net.tick(5);
    const d = net.node("d");
    assert.deepEqual(d.installed, [1], "d got the bootstrap snapshot");
    assert.deepEqual(d.raft.status().conf.learners, ["d"]);
    assert.deepEqual(net.appliedData("d"), ["w"]);
  });

  it("§4.2.1 a node joining a cluster whose log starts at index 1 gets the log from its first entry, in the first append", () => {
    const init = bootstrapLogState("a", "addr-a");
    const net = new TestNetwork({ a: { hardState: init.hardState, entries: [...init.entries] } });
    net.tick(40);
    assert.equal(net.role("a"), "leader");
    net.propose("a", "w");
    net.addEmptyNode("d");
    net.raft("a").proposeConfChange(change("addLearner", "d"));
    net.process("a");
    // The first message to d carries the whole log from index 1 (no probe at the end of
    // the log that an empty log must refuse, and no snapshot).
    const first = net.queue.find((m) => m.to === "d");
    assert.equal(first?.type, "app");
    assert.equal(first?.index, 0);
    assert.equal(first?.entries[0]?.index, 1);
    net.tick(5);
    const d = net.node("d");
    assert.deepEqual(d.installed, [], "no snapshot");
    assert.ok(!net.sent.some((m) => m.from === "d" && m.reject), "d never refused an append");
    assert.deepEqual(d.raft.status().conf.voters, ["a"]);
    assert.deepEqual(d.raft.status().conf.learners, ["d"]);
    assert.deepEqual(net.appliedData("d"), ["w"]);
  });

  it("§4.2.1 a node joining a log-bootstrapped cluster whose leader has compacted gets the leader's snapshot", () => {
    const init = bootstrapLogState("a", "addr-a");
    const net = new TestNetwork({ a: { hardState: init.hardState, entries: [...init.entries] } });
    net.tick(40);
    assert.equal(net.role("a"), "leader");
    net.propose("a", "w1");
    const a = net.raft("a");
    const snap = a.compact(a.status().applied, new TextEncoder().encode("state"));
    net.propose("a", "w2");
    net.addEmptyNode("d");
    a.proposeConfChange(change("addLearner", "d"));
    net.tick(5);
    const d = net.node("d");
    assert.deepEqual(d.installed, [snap.meta.index], "d got the leader's snapshot");
    assert.deepEqual(d.raft.status().conf.learners, ["d"]);
    assert.deepEqual(net.appliedData("d"), ["w2"], "and the entries after it");
  });

  it("§4.2.1 a node added while the leader's log starts at index 1, but holding a snapshot already, answers the append from index 1 with its commit", () => {
    // A single voter, bootstrapped from the log, with a few entries.
    const init = bootstrapLogState("a", "addr-a");
    const first = new TestNetwork({ a: { hardState: init.hardState, entries: [...init.entries] } });
    first.tick(40);
    first.propose("a", "w1");
    first.propose("a", "w2");
    const sa = first.node("a").storage;
    const k = sa.hardState.commit;
    const termK = sa.entries.find((e) => e.index === k)!.term;
    // d holds a snapshot of that committed prefix (as if sent by an earlier leader that
    // had added it in an entry that was then lost), so it is not a member of a's log.
    const d = {
      hardState: { term: sa.hardState.term, vote: "", commit: k },
      snapshot: { index: k, term: termK, conf: first.raft("a").status().conf },
      snapshotData: new Uint8Array(0),
      entries: [],
    };
    const net = new TestNetwork({ a: { ...sa, entries: [...sa.entries] }, d });
    net.tick(40);
    assert.equal(net.role("a"), "leader");
    assert.equal(net.raft("a").status().firstIndex, 1, "a never compacted");
    net.raft("a").proposeConfChange(change("addLearner", "d"));
    net.process("a");
    const toD = net.queue.find((m) => m.to === "d");
    assert.equal(toD?.type, "app");
    assert.equal(toD?.index, 0, "the first append starts at index 1");
    net.deliverAll();
    // d skips what its snapshot covers: it answers with its commit, never a refusal.
    const fromD = net.sent.filter((m) => m.from === "d" && m.type === "appResp");
    assert.equal(fromD[0]?.index, k);
    assert.ok(!fromD.some((m) => m.reject), "d never refused an append");
    net.propose("a", "w3");
    net.tick(5);
    const nd = net.node("d");
    assert.deepEqual(nd.installed, [], "no snapshot was sent");
    assert.deepEqual(nd.raft.status().conf.learners, ["d"]);
    assert.equal(nd.raft.status().commit, net.raft("a").status().commit);
    assert.deepEqual(net.appliedData("d"), ["w3"], "entries after the snapshot apply");
  });
});
