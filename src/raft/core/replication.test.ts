import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Message } from "../types.js";
import { confOf, storageWith, TestNetwork } from "./test-network.js";

const EMPTY = new Uint8Array(0);

function appResp(from: string, to: string, term: number, index: number): Message {
  return {
    type: "appResp",
    from,
    to,
    term,
    logTerm: 0,
    index,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: EMPTY,
  };
}

/**
 * Figure 7 of the paper, shifted by our bootstrap snapshot (index 1, term 1): the
 * figure's index i is our index i, so the logs below list terms from index 2.
 */
const FIG7_LEADER = [1, 1, 4, 4, 5, 5, 6, 6, 6];
const FIG7_FOLLOWERS: Record<string, number[]> = {
  a: [1, 1, 4, 4, 5, 5, 6, 6],
  b: [1, 1, 4],
  c: [1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
  d: [1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
  e: [1, 1, 4, 4, 4, 4],
  f: [1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
};

describe("log replication", () => {
  for (const [shape, terms] of Object.entries(FIG7_FOLLOWERS)) {
    it(`§5.3 Figure 7 log repair, follower (${shape})`, () => {
      // L leads in term 8; X has the leader's log and votes for it; F is the follower.
      const conf = confOf(["L", "X", "F"]);
      const net = new TestNetwork({
        L: storageWith(conf, FIG7_LEADER, 7),
        X: storageWith(conf, FIG7_LEADER, 7),
        F: storageWith(conf, terms, 7),
      });
      net.elect("L");
      assert.equal(net.role("L"), "leader");
      net.tick(3);
      const leaderTerms = net.logTerms("L");
      assert.equal(leaderTerms.length, FIG7_LEADER.length + 1, "the leader added its no-op");
      assert.deepEqual(net.logTerms("F"), leaderTerms, "F's log now equals the leader's");
      assert.equal(net.raft("F").status().commit, net.raft("L").status().commit);
    });
  }

  it("§5.3 fast backtracking takes at most one round trip per distinct term", () => {
    // F diverged over 200 entries in 2 terms; the leader has 200 entries in 2 others.
    const conf = confOf(["L", "X", "F"]);
    const lead = [...Array(100).fill(4), ...Array(100).fill(5)];
    const foll = [...Array(100).fill(2), ...Array(100).fill(3)];
    const net = new TestNetwork({
      L: storageWith(conf, lead, 5),
      X: storageWith(conf, lead, 5),
      F: storageWith(conf, foll, 5),
    });
    net.elect("L");
    net.tick(3);
    const rejects = net.sent.filter((m) => m.type === "appResp" && m.from === "F" && m.reject);
    assert.ok(rejects.length >= 1, "F's log did conflict");
    assert.ok(rejects.length <= 2, `repair took ${rejects.length} rejections, not <= 2 terms`);
    assert.deepEqual(net.logTerms("F"), net.logTerms("L"));
  });

  it("§5.3 fast backtracking: the follower's hint is the last index with a term <= the leader's", () => {
    const conf = confOf(["L", "X", "F"]);
    // Leader: 2..4 term 1, 5.. term 4. F: 2..4 term 1, then terms 2, 2, 3, 3, 3.
    const net = new TestNetwork({
      L: storageWith(conf, [1, 1, 1, 4, 4, 4], 4),
      X: storageWith(conf, [1, 1, 1, 4, 4, 4], 4),
      F: storageWith(conf, [1, 1, 1, 2, 2, 3, 3, 3], 4),
    });
    net.elect("L");
    const r = net.sent.find((m) => m.type === "appResp" && m.from === "F" && m.reject)!;
    // The leader probed at its last index 7 (term 4): F's entry 7 has term 3 <= 4.
    assert.deepEqual({ hint: r.rejectHint, term: r.logTerm }, { hint: 7, term: 3 });
    net.tick(3);
    assert.deepEqual(net.logTerms("F"), net.logTerms("L"));
  });

  it("§5.3 reordered or duplicated appends do not corrupt the log or the match index", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"]);
    net.elect("a");
    net.isolate("c");
    // Five appends to b, each one entry, held back.
    net.filter = (m) => !(m.from === "a" && m.to === "b");
    const before = net.sent.length;
    for (let i = 0; i < 5; i++) net.propose("a", `x${i}`);
    net.processAll();
    const toB = net.sent
      .slice(before)
      .filter((m) => m.type === "app" && m.from === "a" && m.to === "b");
    net.dropQueued();
    net.filter = () => true;
    assert.equal(toB.length, 5, "five appends went out");
    const b = net.raft("b");
    const a = net.raft("a");
    const answers: Message[] = [];
    const deliver = (ms: Message[]) => {
      for (const m of ms) {
        b.step(m);
        net.process("b");
        answers.push(...net.dropQueued());
      }
    };
    // Out of order first (2 before 1 is rejected: a gap), then all in order, then
    // everything again newest first and twice.
    deliver([toB[0]!, toB[2]!, toB[1]!]);
    deliver(toB);
    const lastA = a.status().lastIndex;
    assert.equal(b.status().lastIndex, lastA);
    deliver([...toB].reverse().flatMap((m) => [m, m]));
    assert.equal(b.status().lastIndex, lastA, "a stale append never truncated b's log");
    assert.deepEqual(net.logTerms("b"), net.logTerms("a"));
    // The answers reach the leader newest first and twice.
    let prevMatch = a.status().progress.b!.match;
    for (const m of [...answers].reverse().flatMap((m) => [m, m])) {
      a.step(m);
      const match = a.status().progress.b!.match;
      assert.ok(match >= prevMatch, "match never moves back");
      assert.ok(match <= b.status().lastIndex, "match never passes b's log");
      prevMatch = match;
    }
    assert.equal(prevMatch, lastA);
    net.processAll();
    net.deliverAll();
    net.tick(2);
    assert.deepEqual(net.appliedData("b"), ["x0", "x1", "x2", "x3", "x4"]);
  });

  it("§5.4.2 Figure 8: entries of an older term are not committed by counting replicas", () => {
    // Figure 8 (c): S1 leads again with (2, term 2) on S1, S2, S3; S5 holds (2, term 3).
    const conf = confOf(["s1", "s2", "s3", "s4", "s5"]);
    const net = new TestNetwork(
      {
        s1: storageWith(conf, [2], 3),
        s2: storageWith(conf, [2], 3),
        s3: storageWith(conf, [], 3),
        s4: storageWith(conf, [], 3),
        s5: storageWith(conf, [3], 3),
      },
      { preVote: false },
    );
    // S1 is elected in term 4, but its appends are lost.
    net.filter = (m) => m.type !== "app";
    net.elect("s1");
    assert.equal(net.role("s1"), "leader");
    const t = net.raft("s1").status().term;
    net.filter = () => true;
    // S2 and S3 acknowledge index 2 (S3 got it from an earlier message, say).
    const s1 = net.raft("s1");
    s1.step(appResp("s2", "s1", t, 2));
    s1.step(appResp("s3", "s1", t, 2));
    assert.equal(s1.status().progress.s3!.match, 2);
    assert.equal(s1.status().commit, 1, "index 2 is on a majority but of term 2: not committed");
    // Why: S1 crashes, S5 (last term 3) wins and overwrites index 2 everywhere.
    net.isolate("s1");
    net.elect("s5"); // term 4: S2..S4 already voted for S1
    net.elect("s5"); // term 5: S5's log is the most up to date
    assert.equal(net.role("s5"), "leader");
    net.tick(3, ["s2", "s3", "s4", "s5"]);
    assert.equal(net.raft("s2").status().commit >= 2, true, "S5 committed its own log");
    assert.equal(net.logTerms("s2")[0], 3, "index 2 now holds S5's term-3 entry");
  });

  it("§5.4.2 the leader commits older entries once an entry of its own term is on a majority", () => {
    const conf = confOf(["s1", "s2", "s3", "s4", "s5"]);
    const net = new TestNetwork({
      s1: storageWith(conf, [2], 3),
      s2: storageWith(conf, [2], 3),
      s3: storageWith(conf, [], 3),
      s4: storageWith(conf, [], 3),
      s5: storageWith(conf, [3], 3),
    });
    net.filter = (m) => m.type !== "app";
    net.elect("s1");
    net.filter = () => true;
    const s1 = net.raft("s1");
    const t = s1.status().term;
    s1.step(appResp("s2", "s1", t, 3));
    assert.equal(s1.status().commit, 1, "two of five");
    s1.step(appResp("s3", "s1", t, 3));
    assert.equal(s1.status().commit, 3, "the no-op of term t commits, and index 2 with it");
  });

  it("§5.3 the in-flight window pauses and resumes replication", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"], [], { maxInflightMsgs: 2 });
    net.elect("a");
    net.tick(2);
    assert.equal(net.raft("a").status().progress.b!.state, "replicate");
    net.isolate("c");
    net.filter = (m) => !(m.from === "a" && m.to === "b");
    const before = net.sent.length;
    for (let i = 0; i < 6; i++) net.propose("a", `x${i}`);
    net.processAll();
    net.filter = () => true;
    const held = net.dropQueued().filter((m) => m.to === "b" && m.type === "app");
    const sent = net.sent.slice(before).filter((m) => m.to === "b" && m.type === "app");
    assert.equal(sent.length, 2, "only the window's worth of appends went out");
    assert.equal(net.raft("a").status().progress.b!.inflight, 2);
    // Acknowledging them frees the window, and the rest follows in the same round.
    for (const m of held) net.queue.push(m);
    net.deliverAll();
    assert.deepEqual(net.appliedData("b"), ["x0", "x1", "x2", "x3", "x4", "x5"]);
    assert.equal(net.raft("a").status().progress.b!.inflight, 0);
  });

  it("§5.3 appends are batched up to maxSizePerMsg bytes", () => {
    const net = TestNetwork.bootstrap(["a", "b", "c"], [], { maxSizePerMsg: 100 });
    net.elect("a");
    net.isolate("b");
    for (let i = 0; i < 10; i++) net.propose("a", "y".repeat(30));
    net.deliverAll();
    net.heal();
    const before = net.sent.length;
    net.tick(3);
    const apps = net.sent.slice(before).filter((m) => m.type === "app" && m.to === "b");
    assert.ok(apps.length >= 4, "ten 46-byte entries need several 100-byte messages");
    for (const m of apps) assert.ok(m.entries.length <= 2, "at most two entries fit");
    assert.equal(net.raft("b").status().commit, net.raft("a").status().commit);
  });
});
