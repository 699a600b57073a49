import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Inflights } from "./inflights.js";
import { RaftLog } from "./log.js";
import { Progress } from "./progress.js";
import { committedIndex, hasQuorum, majority, voteResult } from "./quorum.js";
import { entriesWithTerms, seededRandom } from "./test-network.js";

describe("quorum (against brute force)", () => {
  it("committedIndex is the largest index that a majority has matched", () => {
    const rnd = seededRandom(7);
    for (let trial = 0; trial < 2000; trial++) {
      const n = 1 + Math.floor(rnd() * 7);
      const ids = Array.from({ length: n }, (_, i) => `n${i}`);
      const match = new Map(ids.map((id) => [id, Math.floor(rnd() * 10)]));
      // Reference: the largest i such that at least a majority has match >= i.
      let ref = 0;
      for (let i = 0; i <= 10; i++) {
        if (ids.filter((id) => match.get(id)! >= i).length >= Math.floor(n / 2) + 1) ref = i;
      }
      assert.equal(
        committedIndex(ids, (id) => match.get(id)!),
        ref,
      );
    }
    assert.equal(
      committedIndex([], () => 5),
      0,
    );
  });

  it("voteResult is won with a majority of grants, lost when that is out of reach", () => {
    const rnd = seededRandom(8);
    for (let trial = 0; trial < 2000; trial++) {
      const n = 1 + Math.floor(rnd() * 7);
      const ids = Array.from({ length: n }, (_, i) => `n${i}`);
      const votes = new Map<string, boolean>();
      for (const id of ids) {
        const r = rnd();
        if (r < 0.4) votes.set(id, true);
        else if (r < 0.7) votes.set(id, false);
      }
      votes.set("outsider", true); // never counted
      const yes = ids.filter((id) => votes.get(id) === true).length;
      const no = ids.filter((id) => votes.get(id) === false).length;
      const q = majority(n);
      const ref = yes >= q ? "won" : n - no >= q ? "pending" : "lost";
      assert.equal(voteResult(ids, votes), ref);
      assert.equal(
        hasQuorum(ids, (id) => votes.get(id) === true),
        yes >= q,
      );
    }
  });
});

describe("inflights (against an array)", () => {
  it("add / freeLE / freeFirstOne / full behave like a bounded FIFO", () => {
    const rnd = seededRandom(9);
    for (let trial = 0; trial < 200; trial++) {
      const size = 1 + Math.floor(rnd() * 6);
      const inf = new Inflights(size);
      let ref: number[] = [];
      let next = 1;
      for (let op = 0; op < 200; op++) {
        const r = rnd();
        if (r < 0.5) {
          if (ref.length < size) {
            next += 1 + Math.floor(rnd() * 3);
            inf.add(next);
            ref.push(next);
          } else {
            assert.throws(() => inf.add(next + 1));
          }
        } else if (r < 0.85) {
          const to = Math.floor(rnd() * (next + 2));
          inf.freeLE(to);
          ref = ref.filter((x) => x > to);
        } else if (r < 0.95) {
          inf.freeFirstOne();
          ref = ref.slice(1);
        } else {
          inf.reset();
          ref = [];
        }
        assert.equal(inf.count, ref.length);
        assert.equal(inf.full(), ref.length === size);
      }
    }
  });
});

describe("progress", () => {
  it("probe sends one append at a time; replicate streams up to the window", () => {
    const pr = new Progress(5, 2, false);
    assert.equal(pr.state, "probe");
    assert.equal(pr.isPaused(), false);
    pr.sentEntries(3, 7);
    assert.equal(pr.isPaused(), true, "probe waits for an answer");
    assert.equal(pr.next, 5, "probe does not move next optimistically");
    assert.equal(pr.maybeUpdate(7), true);
    pr.becomeReplicate();
    assert.equal(pr.next, 8);
    pr.sentEntries(2, 9);
    pr.sentEntries(1, 10);
    assert.equal(pr.next, 11);
    assert.equal(pr.isPaused(), true, "window of 2 is full");
    pr.inflights.freeLE(9);
    assert.equal(pr.isPaused(), false);
  });

  it("maybeDecrTo ignores stale rejections and jumps to the hint", () => {
    const pr = new Progress(11, 4, false);
    pr.match = 3;
    assert.equal(pr.maybeDecrTo(8, 5), false, "a rejection of another probe is stale");
    assert.equal(pr.maybeDecrTo(10, 5), true);
    assert.equal(pr.next, 6, "next = hint + 1");
    assert.equal(pr.maybeDecrTo(5, 0), true);
    assert.equal(pr.next, 4, "never below match + 1");
    pr.becomeReplicate();
    assert.equal(pr.maybeDecrTo(2, 0), false, "replicate: a rejection at or below match is stale");
    assert.equal(pr.maybeDecrTo(9, 0), true);
    assert.equal(pr.next, 4);
  });

  it("snapshot state pauses until the snapshot lands; probe resumes after it", () => {
    const pr = new Progress(3, 4, false);
    pr.becomeSnapshot(20);
    assert.equal(pr.isPaused(), true);
    pr.becomeProbe();
    assert.equal(pr.next, 21, "after a snapshot, probe from past it");
  });
});

describe("log", () => {
  it("maybeAppend keeps matching entries, truncates at the first conflict", () => {
    const log = new RaftLog(0, 0, entriesWithTerms([1, 1, 2, 2, 2]), 2);
    // A duplicate, shorter append changes nothing.
    assert.equal(log.maybeAppend(1, 1, 2, entriesWithTerms([1, 2], 2)), 3);
    assert.equal(log.lastIndex(), 5);
    // A conflicting one truncates from the conflict.
    assert.equal(log.maybeAppend(2, 1, 2, entriesWithTerms([3, 3], 3)), 4);
    assert.deepEqual(
      [1, 2, 3, 4].map((i) => log.term(i)),
      [1, 1, 3, 3],
    );
    assert.equal(log.lastIndex(), 4);
    assert.equal(log.unstable, 3, "the rewritten suffix is unstable again");
    // A mismatching prev fails.
    assert.equal(log.maybeAppend(4, 2, 2, []), undefined);
    // Overwriting committed entries is an invariant violation.
    assert.throws(() => log.maybeAppend(0, 0, 2, entriesWithTerms([9])), /committed/);
  });

  it("findConflictByTerm matches a linear reference", () => {
    const rnd = seededRandom(11);
    for (let trial = 0; trial < 300; trial++) {
      const terms: number[] = [];
      let t = 1;
      const n = Math.floor(rnd() * 20);
      for (let i = 0; i < n; i++) {
        if (rnd() < 0.3) t += 1 + Math.floor(rnd() * 2);
        terms.push(t);
      }
      const snap = Math.floor(rnd() * Math.min(3, n + 1));
      const log = new RaftLog(snap, snap > 0 ? terms[snap - 1]! : 0, entriesWithTerms(terms), 0);
      const idx = snap + Math.floor(rnd() * (n - snap + 1));
      const term = Math.floor(rnd() * (t + 2));
      let ref = { index: 0, term: 0 };
      for (let i = idx; i >= 0; i--) {
        if (i < snap) {
          ref = { index: i, term: 0 };
          break;
        }
        const ti = i === 0 ? 0 : terms[i - 1]!;
        if (ti <= term) {
          ref = { index: i, term: ti };
          break;
        }
      }
      assert.deepEqual(log.findConflictByTerm(idx, term), ref);
    }
  });

  it("slice respects the byte limit but returns at least one entry", () => {
    const log = new RaftLog(0, 0, entriesWithTerms([1, 1, 1, 1]), 0);
    assert.equal(log.slice(1, 5, 1).length, 1);
    assert.equal(log.slice(1, 5, Number.POSITIVE_INFINITY).length, 4);
    const one = log.slice(1, 2)[0]!;
    const size = one.data.byteLength + 16;
    assert.equal(log.slice(1, 5, 2 * size).length, 2);
  });

  it("compact keeps the term of the last compacted entry", () => {
    const log = new RaftLog(0, 0, entriesWithTerms([1, 2, 3, 4]), 3);
    log.compact(2);
    assert.equal(log.firstIndex(), 3);
    assert.equal(log.term(2), 2);
    assert.equal(log.term(1), undefined);
    assert.throws(() => log.slice(2, 3));
  });
});
