import assert from "node:assert/strict";
import { test } from "node:test";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { RaftMessageSchema, type RaftMessageType } from "../../gen/gastrolog/v1/raft_pb.js";
import type { Message } from "../types.js";
import { messageFromWire, messageToWire, RaftCodecError } from "./codec.js";

function roundTrip(m: Message, data?: Uint8Array): Message {
  const bytes = toBinary(RaftMessageSchema, messageToWire(m));
  return messageFromWire(fromBinary(RaftMessageSchema, bytes), data);
}

const base: Message = {
  type: "app",
  from: "n1",
  to: "n2",
  term: 7,
  logTerm: 6,
  index: 41,
  entries: [
    { index: 42, term: 7, type: "noop", data: new Uint8Array() },
    { index: 43, term: 7, type: "normal", data: new Uint8Array([1, 2, 3]) },
    {
      index: 44,
      term: 7,
      type: "conf",
      data: new Uint8Array(),
      change: { type: "addLearner", nodeId: "n4", addr: "127.0.0.1:4566" },
    },
  ],
  commit: 40,
  reject: false,
  rejectHint: 0,
  context: new Uint8Array([9]),
};

test("codec: append message with every entry type round-trips", () => {
  assert.deepEqual(roundTrip(base), { ...base, snapshot: undefined });
});

test("codec: snap message carries metadata on the wire and data beside it", () => {
  const data = new Uint8Array([5, 6, 7]);
  const snap: Message = {
    ...base,
    type: "snap",
    entries: [],
    snapshot: {
      meta: {
        index: 100,
        term: 5,
        conf: { voters: ["a", "b"], learners: ["c"], addrs: { a: "x:1" } },
      },
      data,
    },
  };
  const wire = messageToWire(snap);
  assert.equal(toBinary(RaftMessageSchema, wire).includes(7), true);
  const back = roundTrip(snap, data);
  assert.deepEqual(back.snapshot, snap.snapshot);
});

test("codec: values beyond 2^53 and unknown enums are refused as bad input", () => {
  const wire = messageToWire(base);
  wire.term = 2n ** 60n;
  assert.throws(() => messageFromWire(wire), RaftCodecError);
  const wire2 = messageToWire(base);
  wire2.type = 99 as RaftMessageType;
  assert.throws(() => messageFromWire(wire2), /unknown message type/);
  const wire3 = messageToWire(base);
  wire3.from = "";
  assert.throws(() => messageFromWire(wire3), /without from/);
});

test("a decoded entry owns its bytes: it does not keep the received frame alive", () => {
  const frame = toBinary(RaftMessageSchema, messageToWire(base));
  const m = messageFromWire(fromBinary(RaftMessageSchema, frame));
  const data = m.entries[1]!.data;
  assert.deepEqual([...data], [1, 2, 3]);
  assert.equal(data.buffer.byteLength, 3, "the entry's buffer is its own, not the frame's");
  assert.notEqual(data.buffer, frame.buffer);
});
