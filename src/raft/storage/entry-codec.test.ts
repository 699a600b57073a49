import assert from "node:assert/strict";
import { test } from "node:test";
import type { Entry } from "../types.js";
import { decodeEntry, encodeEntry } from "./entry-codec.js";

test("entry codec: normal, noop and conf entries round-trip, terms exact up to 2^53", () => {
  const cases: Entry[] = [
    { index: 1, term: 1, type: "normal", data: new Uint8Array([1, 2, 3]) },
    { index: 2, term: 2 ** 53 - 1, type: "noop", data: new Uint8Array() },
    {
      index: 3,
      term: 7,
      type: "conf",
      data: new Uint8Array(),
      change: { type: "addLearner", nodeId: "node-ü", addr: "10.0.0.2:4566" },
    },
    {
      index: 4,
      term: 7,
      type: "conf",
      data: new Uint8Array(),
      change: { type: "removeNode", nodeId: "n", addr: "" },
    },
    { index: 5, term: 8, type: "normal", data: new Uint8Array(256).fill(9) },
  ];
  for (const e of cases) assert.deepEqual(decodeEntry(e.index, encodeEntry(e)), e);
});

test("entry codec: damaged values give errors, never garbage entries", () => {
  const good = encodeEntry({
    index: 1,
    term: 3,
    type: "conf",
    data: new Uint8Array(),
    change: { type: "addVoter", nodeId: "abc", addr: "x:1" },
  });
  assert.throws(() => decodeEntry(1, good.subarray(0, 5)), /too short/);
  assert.throws(() => decodeEntry(1, good.subarray(0, good.length - 2)), /truncated/);
  const badVersion = good.slice();
  badVersion[0] = 9;
  assert.throws(() => decodeEntry(1, badVersion), /codec version 9/);
  const badType = good.slice();
  badType[1] = 7;
  assert.throws(() => decodeEntry(1, badType), /entry type 7/);
  assert.throws(
    () => encodeEntry({ index: 1, term: 1, type: "conf", data: new Uint8Array() }),
    /without a valid change/,
  );
});
