import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RaftError } from "./errors.js";
import { TestNetwork } from "./test-network.js";

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof RaftError) return e.code;
    throw e;
  }
  return "none";
}

const ctx = (s: string) => new TextEncoder().encode(s);

describe("leadership transfer (thesis §3.10)", () => {
  it("§3.10 transfer to a slow follower catches it up before TimeoutNow", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.isolate("c");
    for (let i = 0; i < 5; i++) net.propose("a", `x${i}`);
    net.deliverAll();
    net.heal();
    const before = net.sent.length;
    net.raft("a").transferLeader("c");
    assert.equal(net.raft("a").status().leadTransferee, "c");
    net.deliverAll();
    const after = net.sent.slice(before);
    const tn = after.findIndex((m) => m.type === "timeoutNow");
    const caughtUp = after.findIndex(
      (m) => m.type === "appResp" && m.from === "c" && !m.reject && m.index >= 7,
    );
    assert.ok(tn > caughtUp && caughtUp >= 0, "TimeoutNow only after c matched the leader's log");
    assert.equal(net.role("c"), "leader");
    assert.equal(net.role("a"), "follower");
    assert.deepEqual(net.appliedData("c"), ["x0", "x1", "x2", "x3", "x4"]);
  });

  it("§3.10 a transfer that does not finish within an election timeout is aborted", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.isolate("c");
    net.raft("a").transferLeader("c");
    net.tick(9, ["a", "b"]);
    assert.equal(net.raft("a").status().leadTransferee, "c", "still trying");
    net.tick(1, ["a", "b"]);
    assert.equal(net.raft("a").status().leadTransferee, "");
    assert.equal(net.role("a"), "leader");
    assert.equal(
      code(() => net.propose("a", "after")),
      "none",
      "proposals flow again",
    );
  });

  it("§3.10 proposals during a transfer are dropped with a typed error", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.isolate("c");
    net.raft("a").transferLeader("c");
    assert.equal(
      code(() => net.propose("a", "x")),
      "LeadershipTransferInProgress",
    );
    assert.equal(
      code(() => net.raft("a").proposeConfChange({ type: "addLearner", nodeId: "d", addr: "" })),
      "LeadershipTransferInProgress",
    );
  });

  it("§3.10 transfer to an unknown node, to self or to a learner is refused", () => {
    const net = TestNetwork.bootstrap(["a", "b"], ["l"]);
    net.elect("a");
    const a = net.raft("a");
    assert.equal(
      code(() => a.transferLeader("zz")),
      "UnknownNode",
    );
    assert.equal(
      code(() => a.transferLeader("a")),
      "InvalidTransfer",
    );
    assert.equal(
      code(() => a.transferLeader("l")),
      "InvalidTransfer",
    );
    assert.equal(
      code(() => net.raft("b").transferLeader("a")),
      "NotLeader",
    );
    assert.equal(a.status().leadTransferee, "");
  });

  it("§3.10 the transfer target's election bypasses the followers' lease", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.tick(2);
    net.raft("a").transferLeader("b");
    net.deliverAll();
    assert.equal(net.role("b"), "leader", "c voted although it had just heard from a");
  });
});

describe("ReadIndex (thesis §6.4)", () => {
  it("§6.4 ReadIndex needs a quorum heartbeat round", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c", "d", "e"]);
    net.elect("a");
    net.propose("a", "x");
    net.deliverAll();
    const commit = net.raft("a").status().commit;
    const answered = () => net.node("a").readStates.map((r) => new TextDecoder().decode(r.context));
    net.isolate("a");
    net.raft("a").readIndex(ctx("r1"));
    net.deliverAll();
    assert.deepEqual(answered(), [], "no answer without any acknowledgement");
    // Only b answers: a and b are two of five.
    net.heal();
    for (const id of ["c", "d", "e"]) net.isolate(id);
    net.raft("a").readIndex(ctx("r2"));
    net.deliverAll();
    assert.deepEqual(answered(), [], "two of five is not a quorum");
    // c answers too: three of five.
    net.heal();
    for (const id of ["d", "e"]) net.isolate(id);
    net.raft("a").readIndex(ctx("r3"));
    net.deliverAll();
    // r3's round confirms r1 and r2 too, which were queued before it.
    assert.deepEqual(answered(), ["r1", "r2", "r3"]);
    for (const r of net.node("a").readStates) assert.equal(r.index, commit);
  });

  it("§6.4 ReadIndex on a new leader waits for its first commit", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.filter = (m) => m.type !== "appResp";
    net.elect("a");
    assert.equal(net.role("a"), "leader");
    net.raft("a").readIndex(ctx("early"));
    net.deliverAll();
    assert.deepEqual(net.node("a").readStates, [], "not before an entry of its term commits");
    assert.ok(
      !net.sent.some((m) => m.type === "heartbeat" && m.context.length > 0),
      "the read did not even start a heartbeat round",
    );
    net.filter = () => true;
    net.tick(2);
    const rs = net.node("a").readStates;
    assert.equal(rs.length, 1);
    assert.equal(rs[0]!.index, 2, "the read index covers the no-op of the new term");
  });

  it("§6.4 a follower refuses ReadIndex with NotLeader and a hint", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    try {
      net.raft("b").readIndex(ctx("x"));
      assert.fail("followers do not serve ReadIndex");
    } catch (e) {
      assert.ok(e instanceof RaftError);
      assert.equal(e.code, "NotLeader");
      assert.equal(e.leaderHint, "a");
    }
  });
});
