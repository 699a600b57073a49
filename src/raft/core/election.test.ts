import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { confOf, message as msg, storageWith, TestNetwork } from "./test-network.js";

const EMPTY = new Uint8Array(0);

describe("leader election", () => {
  it("§5.2 election with split votes converges", () => {
    // No pre-vote, so that both candidates really split the term.
    const net = TestNetwork.bootstrap(["a", "b", "c", "d"], [], { preVote: false, seed: 3 });
    // a and b campaign at once; c only hears a, d only hears b: 2-2 split in term 2.
    net.cutLink("a", "d");
    net.cutLink("b", "c");
    net.raft("a").campaign();
    net.raft("b").campaign();
    net.deliverAll();
    assert.deepEqual(net.leaders(), [], "a split vote elects nobody");
    assert.equal(net.raft("a").status().term, 2);
    assert.equal(net.raft("b").status().term, 2);
    net.heal();
    // Randomized timeouts in [e, 2e) break the tie within a few election timeouts.
    for (let i = 0; i < 100 && net.leaders().length === 0; i++) net.tick();
    const leaders = net.leaders();
    assert.equal(leaders.length, 1, "exactly one leader emerges");
    assert.ok(leaders[0]!.term > 2, "the winner is from a later term");
  });

  it("§5.4.1 a stale-log candidate cannot win", () => {
    // Without check-quorum there is no lease, so b answers c at once.
    const net = TestNetwork.bootstrap(["a", "b", "c"], [], { preVote: false, checkQuorum: false });
    net.elect("a");
    net.isolate("c");
    net.propose("a", "x");
    net.deliverAll();
    // b has the entry, c does not; the leader disappears.
    net.heal();
    net.isolate("a");
    net.elect("c");
    assert.notEqual(net.role("c"), "leader", "c lacks a committed entry, b must refuse it");
    const resp = net.sent.filter((m) => m.type === "voteResp" && m.to === "c" && m.from === "b");
    assert.ok(resp.length > 0 && resp.every((m) => m.reject), "b answered c with a rejection");
    net.elect("b");
    assert.equal(net.role("b"), "leader");
  });

  it("§5.1 a higher term makes a leader step down", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    assert.equal(net.role("a"), "leader");
    net.raft("a").step(msg({ type: "appResp", from: "b", to: "a", term: 9 }));
    const s = net.raft("a").status();
    assert.equal(s.role, "follower");
    assert.equal(s.term, 9);
    assert.equal(s.vote, "");
  });

  it("§5.1 stale-term messages are ignored", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.propose("a", "x");
    net.deliverAll();
    const b = net.raft("b");
    const before = b.status();
    // A vote request and an append from term 1 (< 2) change nothing.
    b.step(msg({ type: "vote", from: "c", to: "b", term: 1, index: 99, logTerm: 1 }));
    b.step(
      msg({
        type: "app",
        from: "c",
        to: "b",
        term: 1,
        index: 1,
        logTerm: 1,
        commit: 1,
        entries: [{ index: 2, term: 1, type: "normal", data: EMPTY }],
      }),
    );
    const after = b.status();
    assert.deepEqual(
      { term: after.term, vote: after.vote, lastIndex: after.lastIndex, leader: after.leader },
      { term: before.term, vote: before.vote, lastIndex: before.lastIndex, leader: before.leader },
    );
    const rd = b.ready();
    assert.ok(!rd.messages.some((m) => m.type === "voteResp"), "no vote is granted");
    // The stale sender is only told the current term (etcd: frees a stuck node).
    for (const m of rd.messages) {
      assert.equal(m.type, "appResp");
      assert.equal(m.term, before.term);
    }
    b.advance();
    // And a stale appResp reaching the leader is dropped.
    const a = net.raft("a");
    const pa = a.status().progress.b!;
    a.step(msg({ type: "appResp", from: "b", to: "a", term: 1, index: 0, reject: true }));
    assert.deepEqual(a.status().progress.b, pa);
    assert.equal(a.status().role, "leader");
  });

  it("§9.6 a partitioned follower rejoins without disrupting the leader (pre-vote)", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    const term = net.raft("a").status().term;
    net.isolate("c");
    net.tick(100);
    assert.equal(net.raft("c").status().term, term, "pre-vote never wins, so c keeps its term");
    net.heal();
    net.tick(30);
    assert.deepEqual(net.leaders(), [{ id: "a", term }]);
    assert.equal(net.raft("c").status().leader, "a");
  });

  it("§9.6 a node stuck at a higher term can rejoin", () => {
    // c ran ahead to term 7 (say it lost a real election after winning a pre-vote).
    const conf = confOf(["a", "b", "c"]);
    const net = new TestNetwork({
      a: storageWith(conf),
      b: storageWith(conf),
      c: storageWith(conf, [], 7),
    });
    net.isolate("c");
    net.elect("a");
    const t = net.raft("a").status().term;
    assert.ok(t < 7, "the majority's term is below c's");
    net.propose("a", "x");
    net.deliverAll();
    net.heal();
    // c answers the lower-term leader with its term; the leader steps down and a new
    // election at a higher term includes c.
    net.tick(60);
    const leaders = net.leaders();
    assert.equal(leaders.length, 1);
    assert.ok(leaders[0]!.term > 7, "the cluster moved past c's term");
    assert.equal(net.raft("c").status().leader, leaders[0]!.id);
    assert.deepEqual(net.appliedData("c"), ["x"]);
  });

  it("§6.2 a leader steps down without a quorum (check-quorum)", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.isolate("a");
    // The first check still sees the votes of the election; the second sees nobody.
    net.tick(10, ["a"]);
    assert.equal(net.role("a"), "leader", "one timeout: the election counted as contact");
    net.tick(10, ["a"]);
    assert.equal(net.role("a"), "follower");
  });

  it("§4.2.3 a follower in a leader's lease ignores vote requests, unless for a transfer", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    const b = net.raft("b");
    const term = b.status().term;
    for (const type of ["vote", "preVote"] as const) {
      b.step(msg({ type, from: "c", to: "b", term: term + 1, index: 100, logTerm: term }));
      assert.equal(b.status().term, term);
      assert.ok(!b.hasReady() || b.ready().messages.length === 0, `${type} ignored`);
    }
    const transfer = new TextEncoder().encode("transfer");
    b.step(
      msg({
        type: "vote",
        from: "c",
        to: "b",
        term: term + 1,
        index: 100,
        logTerm: term,
        context: transfer,
      }),
    );
    assert.equal(b.status().term, term + 1);
    assert.equal(b.status().vote, "c");
  });
});
