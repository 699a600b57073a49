/**
 * Shared value types of the Raft core. The core (src/raft/core), the simulator
 * (test/sim), the storage (src/raft/storage) and the transport (src/raft/transport)
 * all speak these shapes, so they are plain data: no classes, no Node imports.
 *
 * Terms and indexes are `number` and must stay below 2^53 (asserted by the core).
 */

/** A node id: stable across restarts, chosen once when a node's home is created. */
export type NodeId = string;

/** What an entry carries. `noop` is appended by a new leader at the start of its term. */
export type EntryType = "normal" | "conf" | "noop";

/** One log entry. For `conf` entries, `change` is set and `data` is empty. */
export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  /** Application payload for `normal` entries; empty otherwise. */
  readonly data: Uint8Array;
  /** Set for `conf` entries only. */
  readonly change?: ConfChange;
}

/**
 * A single-server membership change. Promotion is `addVoter` for a current learner;
 * demotion is `addLearner` for a current voter.
 */
export interface ConfChange {
  readonly type: "addVoter" | "addLearner" | "removeNode";
  readonly nodeId: NodeId;
  /** The node's advertised cluster address; carried, never interpreted by the core. */
  readonly addr: string;
}

/** The membership the core counts with. Ids are sorted; a node is in at most one list. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Advertised cluster address per member (from the ConfChange that added it). */
  readonly addrs: Readonly<Record<NodeId, string>>;
}

/** What must survive a crash besides the log. */
export interface HardState {
  readonly term: number;
  /** The candidate voted for in `term`, or "" for none. */
  readonly vote: NodeId;
  readonly commit: number;
}

/** Metadata of a snapshot: the last index and term it covers, and the membership then. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

/** A state-machine snapshot. `data` is opaque to the core (the FSM's serialisation). */
export interface Snapshot {
  readonly meta: SnapshotMeta;
  readonly data: Uint8Array;
}

/** Every message kind the core sends or accepts. */
export type MessageType =
  | "app"
  | "appResp"
  | "vote"
  | "voteResp"
  | "preVote"
  | "preVoteResp"
  | "heartbeat"
  | "heartbeatResp"
  | "snap"
  | "timeoutNow";

/**
 * One Raft message, flat in the style of etcd-io/raft so that the wire encoding is a
 * single protobuf message. Fields a type does not use are 0, "", false or empty.
 *
 * - app: `logTerm`/`index` are the previous entry, `entries` the batch, `commit` the
 *   leader's commit.
 * - appResp: `index` is the last index now matched (accept) or the rejected prevIndex
 *   (reject); on reject, `rejectHint`/`logTerm` carry the conflict hint (index, term).
 * - vote / preVote: `logTerm`/`index` describe the candidate's last entry; `context`
 *   is "transfer" when the election follows a TimeoutNow (it bypasses the lease check).
 * - heartbeat / heartbeatResp: `context` echoes a ReadIndex round, `commit` as in app.
 * - snap: `snapshot` is set.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
  readonly reject: boolean;
  readonly rejectHint: number;
  readonly context: Uint8Array;
  readonly snapshot?: Snapshot;
}

/** The role of a node. */
export type Role = "follower" | "preCandidate" | "candidate" | "leader";

/** Volatile state that the application watches: who leads, and what this node is. */
export interface SoftState {
  readonly leader: NodeId;
  readonly role: Role;
}

/** The answer to a ReadIndex request: reads at or after `index` are linearizable. */
export interface ReadState {
  readonly index: number;
  /** The context the caller passed to `readIndex`, echoed so it can match the answer. */
  readonly context: Uint8Array;
}

/**
 * Everything the core asks its caller to do. See docs/raft.md for the ordering
 * contract: persist `snapshot`, `entries` and `hardState` (fsync) before sending any of
 * `messages`, then apply `committedEntries`, then call `advance()`.
 */
export interface Ready {
  /** Set when role or leader changed since the last Ready. */
  readonly softState?: SoftState;
  /** Set when term, vote or commit changed since the last Ready. */
  readonly hardState?: HardState;
  /** Entries to append to stable storage (may overwrite a conflicting suffix). */
  readonly entries: readonly Entry[];
  /** A snapshot to persist and install into the state machine before applying entries. */
  readonly snapshot?: Snapshot;
  /** Messages to send once the above is durable. */
  readonly messages: readonly Message[];
  /** Committed entries to apply to the state machine, in order. */
  readonly committedEntries: readonly Entry[];
  /** ReadIndex answers that became ready. */
  readonly readStates: readonly ReadState[];
  /** True when `entries`, `hardState` or `snapshot` must be fsynced before sending. */
  readonly mustSync: boolean;
}

/** What a node recovers from stable storage on start (all empty on a brand-new node). */
export interface PersistedState {
  readonly hardState: HardState;
  /** The latest snapshot, if the log was ever compacted. */
  readonly snapshot?: SnapshotMeta;
  /**
   * The latest snapshot's data, so that this node can send it to a lagging follower
   * once it leads. Absent means empty.
   */
  readonly snapshotData?: Uint8Array;
  /** The log entries after the snapshot, in index order. */
  readonly entries: readonly Entry[];
}

/** An empty hard state: term 0, no vote, commit 0. */
export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: "", commit: 0 });

/** A message with every field not given set to its empty value. */
export function message(
  fields: Partial<Message> & Pick<Message, "type" | "from" | "to" | "term">,
): Message {
  return {
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    context: new Uint8Array(0),
    ...fields,
  };
}
