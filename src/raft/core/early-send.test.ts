import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Entry, HardState, Message, MessageType, Ready } from "../types.js";
import { splitEarlyMessages } from "./early-send.js";
import { message } from "./test-network.js";

const msg = (type: MessageType, over: Partial<Message> = {}): Message =>
  message({ type, from: "n1", to: "n2", term: 2, commit: 4, ...over });
const entry = (index: number): Entry => ({
  index,
  term: 2,
  type: "normal",
  data: new Uint8Array(1),
});
const ready = (over: Partial<Ready>): Ready => ({
  entries: [entry(5)],
  messages: [],
  committedEntries: [],
  readStates: [],
  mustSync: true,
  ...over,
});
const durable: HardState = { term: 2, vote: "n1", commit: 3 };
const kinds = (ms: readonly Message[]) => ms.map((m) => m.type);

describe("splitEarlyMessages (a leader's sends that may overlap its own fsync)", () => {
  it("lets appends and heartbeats of the durable term go early; everything else waits", () => {
    const rd = ready({
      messages: [msg("app"), msg("heartbeat"), msg("voteResp"), msg("appResp"), msg("timeoutNow")],
    });
    const { early, late } = splitEarlyMessages(rd, durable);
    assert.deepEqual(kinds(early), ["app", "heartbeat"]);
    assert.deepEqual(kinds(late), ["voteResp", "appResp", "timeoutNow"]);
  });

  it("holds back a message whose commit covers an entry this Ready appends", () => {
    const rd = ready({
      messages: [msg("app", { commit: 5 }), msg("app", { to: "n3", commit: 4 })],
    });
    const { early, late } = splitEarlyMessages(rd, durable);
    assert.deepEqual(
      early.map((m) => m.to),
      ["n3"],
    );
    assert.deepEqual(
      late.map((m) => m.to),
      ["n2"],
    );
  });

  it("holds back everything when the Ready changes the term or the vote", () => {
    for (const hs of [
      { term: 3, vote: "n1", commit: 3 },
      { term: 2, vote: "n2", commit: 3 },
    ]) {
      const rd = ready({ hardState: hs, messages: [msg("app", { term: hs.term })] });
      assert.deepEqual(splitEarlyMessages(rd, durable).early, []);
    }
    // A commit-only change does not hold anything back.
    const rd = ready({ hardState: { ...durable, commit: 4 }, messages: [msg("app")] });
    assert.equal(splitEarlyMessages(rd, durable).early.length, 1);
  });

  it("holds back a message of a term that is not durable, and all of a snapshot Ready", () => {
    assert.deepEqual(
      splitEarlyMessages(ready({ messages: [msg("app", { term: 3 })] }), durable).early,
      [],
    );
    const snap = ready({
      snapshot: {
        meta: { index: 9, term: 2, conf: { voters: [], learners: [], addrs: {} } },
        data: new Uint8Array(0),
      },
      messages: [msg("app")],
    });
    assert.deepEqual(splitEarlyMessages(snap, durable).early, []);
  });
});
