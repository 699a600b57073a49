import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Entry } from "../../src/raft/types.js";
import { createPrng } from "./prng.js";
import { createSimStorage } from "./sim-storage.js";

const entry = (index: number, term: number, id = index): Entry => ({
  index,
  term,
  type: "normal",
  data: new Uint8Array([id, 0, 0, 0]),
});

describe("simulator parts", () => {
  it("prng: a seed replays its stream, forks are independent, floats stay in [0, 1)", () => {
    const a = createPrng(42);
    const b = createPrng(42);
    const c = createPrng(43);
    const xs = Array.from({ length: 1000 }, () => a.next());
    assert.deepEqual(
      xs,
      Array.from({ length: 1000 }, () => b.next()),
    );
    assert.notDeepEqual(
      xs.slice(0, 10),
      Array.from({ length: 10 }, () => c.next()),
    );
    const f = createPrng(1).fork();
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const x = f.float();
      assert.ok(x >= 0 && x < 1);
      sum += x;
    }
    // A stuck or biased generator would miss this by far (expected 5000, sd ~29).
    assert.ok(Math.abs(sum - 5000) < 200, `mean off: ${sum / 10000}`);
    // Seeds above 2^32 must not alias the low half.
    assert.notEqual(createPrng(2 ** 32 + 5).next(), createPrng(5).next());
  });

  it("storage: a write from a conflicting index replaces the whole suffix", () => {
    const st = createSimStorage({ committedPrefix: () => 0 });
    st.append([entry(1, 1), entry(2, 1), entry(3, 1)], () => {});
    const before = st.prefix(2);
    st.append([entry(2, 2, 9)], () => {});
    assert.equal(st.lastIndex(), 2);
    assert.equal(st.term(2), 2);
    assert.notEqual(st.prefix(2), before);
    assert.equal(st.load().entries.length, 2);
    assert.throws(() => st.append([entry(5, 2)], () => {}), /gap/);
  });

  it("storage: forget-vote drops the vote but keeps term and commit", () => {
    const good = createSimStorage({ committedPrefix: () => 0 });
    const bad = createSimStorage({ committedPrefix: () => 0, forgetVote: true });
    for (const st of [good, bad]) st.setHardState({ term: 4, vote: "n2", commit: 0 });
    assert.equal(good.load().hardState.vote, "n2");
    assert.deepEqual(bad.load().hardState, { term: 4, vote: "", commit: 0 });
  });
});
