import { create } from "@bufbuild/protobuf";
import {
  type RaftConfChange,
  RaftConfChangeSchema,
  RaftConfChangeType,
  type RaftConfState,
  RaftConfStateSchema,
  type RaftEntry,
  RaftEntrySchema,
  RaftEntryType,
  type RaftMessage,
  RaftMessageSchema,
  RaftMessageType,
  type RaftSnapshotMeta,
  RaftSnapshotMetaSchema,
} from "../../gen/gastrolog/v1/raft_pb.js";
import type {
  ConfChange,
  ConfState,
  Entry,
  EntryType,
  Message,
  MessageType,
  SnapshotMeta,
} from "../types.js";

/**
 * Conversion between the core's plain Raft values and their protobuf wire form. Terms
 * and indexes are uint64 on the wire and `number` in the core; a value at or above 2^53
 * cannot come from a correct peer and is refused as bad input.
 */

const MESSAGE_TYPES: readonly [MessageType, RaftMessageType][] = [
  ["app", RaftMessageType.APP],
  ["appResp", RaftMessageType.APP_RESP],
  ["vote", RaftMessageType.VOTE],
  ["voteResp", RaftMessageType.VOTE_RESP],
  ["preVote", RaftMessageType.PRE_VOTE],
  ["preVoteResp", RaftMessageType.PRE_VOTE_RESP],
  ["heartbeat", RaftMessageType.HEARTBEAT],
  ["heartbeatResp", RaftMessageType.HEARTBEAT_RESP],
  ["snap", RaftMessageType.SNAP],
  ["timeoutNow", RaftMessageType.TIMEOUT_NOW],
];
const MESSAGE_TO_WIRE = new Map(MESSAGE_TYPES);
const MESSAGE_FROM_WIRE = new Map(MESSAGE_TYPES.map(([a, b]) => [b, a]));

const ENTRY_TYPES: readonly [EntryType, RaftEntryType][] = [
  ["normal", RaftEntryType.NORMAL],
  ["conf", RaftEntryType.CONF],
  ["noop", RaftEntryType.NOOP],
];
const ENTRY_TO_WIRE = new Map(ENTRY_TYPES);
const ENTRY_FROM_WIRE = new Map(ENTRY_TYPES.map(([a, b]) => [b, a]));

const CHANGE_TYPES: readonly [ConfChange["type"], RaftConfChangeType][] = [
  ["addVoter", RaftConfChangeType.ADD_VOTER],
  ["addLearner", RaftConfChangeType.ADD_LEARNER],
  ["removeNode", RaftConfChangeType.REMOVE_NODE],
];
const CHANGE_TO_WIRE = new Map(CHANGE_TYPES);
const CHANGE_FROM_WIRE = new Map(CHANGE_TYPES.map(([a, b]) => [b, a]));

const EMPTY = new Uint8Array(0);

/** Thrown when a peer sends a Raft message that cannot be a valid one. */
export class RaftCodecError extends Error {
  override readonly name = "RaftCodecError";
}

function num(v: bigint, field: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RaftCodecError(`raft message field ${field} is out of range`);
  }
  return Number(v);
}

function lookup<K, V>(map: ReadonlyMap<K, V>, key: K, what: string): V {
  const v = map.get(key);
  if (v === undefined) throw new RaftCodecError(`unknown ${what} ${String(key)}`);
  return v;
}

/** Converts a core ConfChange to its wire form. */
export function confChangeToWire(c: ConfChange): RaftConfChange {
  return create(RaftConfChangeSchema, {
    type: lookup(CHANGE_TO_WIRE, c.type, "conf change type"),
    nodeId: c.nodeId,
    addr: c.addr,
  });
}

/** Converts a wire ConfChange to the core's form; throws RaftCodecError on bad input. */
export function confChangeFromWire(c: RaftConfChange): ConfChange {
  if (c.nodeId === "") throw new RaftCodecError("conf change without a node id");
  return {
    type: lookup(CHANGE_FROM_WIRE, c.type, "conf change type"),
    nodeId: c.nodeId,
    addr: c.addr,
  };
}

/** Converts a core entry to its wire form. */
export function entryToWire(e: Entry): RaftEntry {
  return create(RaftEntrySchema, {
    index: BigInt(e.index),
    term: BigInt(e.term),
    type: lookup(ENTRY_TO_WIRE, e.type, "entry type"),
    data: e.data,
    change: e.change ? confChangeToWire(e.change) : undefined,
  });
}

/** Converts a wire entry to the core's form; throws RaftCodecError on bad input. */
export function entryFromWire(e: RaftEntry): Entry {
  const type = lookup(ENTRY_FROM_WIRE, e.type, "entry type");
  if (type === "conf") {
    if (!e.change) throw new RaftCodecError("conf entry without a change");
    return {
      index: num(e.index, "entry.index"),
      term: num(e.term, "entry.term"),
      type,
      data: EMPTY,
      change: confChangeFromWire(e.change),
    };
  }
  return {
    index: num(e.index, "entry.index"),
    term: num(e.term, "entry.term"),
    type,
    // A copy: the decoded bytes are a view into the whole received frame, and the core
    // keeps entries until compaction, which would keep every frame alive with them.
    data: e.data.byteLength === 0 ? EMPTY : e.data.slice(),
  };
}

/** Converts a core ConfState to its wire form. */
export function confStateToWire(c: ConfState): RaftConfState {
  return create(RaftConfStateSchema, {
    voters: [...c.voters],
    learners: [...c.learners],
    addrs: { ...c.addrs },
  });
}

/** Converts a wire ConfState to the core's form. */
export function confStateFromWire(c: RaftConfState | undefined): ConfState {
  if (!c) return { voters: [], learners: [], addrs: {} };
  return { voters: [...c.voters].sort(), learners: [...c.learners].sort(), addrs: { ...c.addrs } };
}

/** Converts snapshot metadata to its wire form. */
export function snapshotMetaToWire(m: SnapshotMeta): RaftSnapshotMeta {
  return create(RaftSnapshotMetaSchema, {
    index: BigInt(m.index),
    term: BigInt(m.term),
    conf: confStateToWire(m.conf),
  });
}

/** Converts wire snapshot metadata to the core's form. */
export function snapshotMetaFromWire(m: RaftSnapshotMeta): SnapshotMeta {
  return {
    index: num(m.index, "snapshot.index"),
    term: num(m.term, "snapshot.term"),
    conf: confStateFromWire(m.conf),
  };
}

/**
 * Converts a core message to its wire form. A snapshot's data is not included: the
 * transport streams it separately, so only the metadata travels in the message.
 */
export function messageToWire(m: Message): RaftMessage {
  return create(RaftMessageSchema, {
    type: lookup(MESSAGE_TO_WIRE, m.type, "message type"),
    from: m.from,
    to: m.to,
    term: BigInt(m.term),
    logTerm: BigInt(m.logTerm),
    index: BigInt(m.index),
    entries: m.entries.map(entryToWire),
    commit: BigInt(m.commit),
    reject: m.reject,
    rejectHint: BigInt(m.rejectHint),
    context: m.context,
    snapshot: m.snapshot ? snapshotMetaToWire(m.snapshot.meta) : undefined,
  });
}

/**
 * Converts a wire message to the core's form; throws RaftCodecError on bad input. For
 * "snap" messages the caller passes the reassembled snapshot data.
 */
export function messageFromWire(m: RaftMessage, snapshotData?: Uint8Array): Message {
  const type = lookup(MESSAGE_FROM_WIRE, m.type, "message type");
  if (m.from === "" || m.to === "") throw new RaftCodecError("raft message without from/to");
  if (type === "snap" && !m.snapshot) throw new RaftCodecError("snap message without metadata");
  return {
    type,
    from: m.from,
    to: m.to,
    term: num(m.term, "term"),
    logTerm: num(m.logTerm, "logTerm"),
    index: num(m.index, "index"),
    entries: m.entries.map(entryFromWire),
    commit: num(m.commit, "commit"),
    reject: m.reject,
    rejectHint: num(m.rejectHint, "rejectHint"),
    context: m.context,
    snapshot:
      type === "snap" && m.snapshot
        ? { meta: snapshotMetaFromWire(m.snapshot), data: snapshotData ?? EMPTY }
        : undefined,
  };
}
