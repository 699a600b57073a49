import type {
  ConfChange,
  ConfState,
  Message,
  NodeId,
  PersistedState,
  Ready,
  Role,
  Snapshot,
} from "../types.js";

/**
 * Deliberate faults for the simulator's `--inject-bug`, so that it can prove it catches
 * real safety bugs. Never set outside tests. (`forget-vote` lives in the simulator's
 * storage, since persisting is the caller's job.)
 */
export type InjectedBug = "vote-ignores-log" | "commit-old-term";

/** Options for {@link RawNode} construction (see `createRaft` in raft.ts). */
export interface RaftOptions {
  /** This node's id. */
  readonly id: NodeId;
  /** Ticks without a leader before a follower campaigns; randomized in [e, 2e). */
  readonly electionTick: number;
  /** Ticks between leader heartbeats; must be < electionTick. */
  readonly heartbeatTick: number;
  /** Uniform random in [0, 1); the core's only source of randomness. */
  readonly random: () => number;
  /** What stable storage holds (empty for a brand-new node). */
  readonly persisted: PersistedState;
  /** Last index applied to the state machine before this start; default: snapshot index. */
  readonly applied?: number;
  /** Byte limit of entries in one append message (default 1 MiB). */
  readonly maxSizePerMsg?: number;
  /** In-flight append messages per follower before pausing (default 256). */
  readonly maxInflightMsgs?: number;
  /** Leader steps down when it hears from no quorum for an election timeout (default true). */
  readonly checkQuorum?: boolean;
  /** Run a pre-vote round before bumping the term (default true). */
  readonly preVote?: boolean;
  /**
   * Ticks a follower may stay in snapshot state before the leader gives up on a
   * snapshot nobody reported on (lost message) and probes again (default 3 x
   * electionTick). The runtime should call `reportSnapshot` instead of relying on it.
   */
  readonly snapshotRetryTicks?: number;
  /** Testing only. */
  readonly injectBug?: InjectedBug;
}

/** Replication state of one follower, as seen by the leader. */
export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: "probe" | "replicate" | "snapshot";
  readonly recentActive: boolean;
  readonly inflight: number;
  readonly isLearner: boolean;
}

/** A read-only view of the core's state, for stats and tests. */
export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lastIndex: number;
  readonly firstIndex: number;
  readonly role: Role;
  readonly leader: NodeId;
  readonly conf: ConfState;
  /**
   * True while the latest membership change in the log is not yet committed (changes
   * take effect when appended; see docs/raft.md).
   */
  readonly pendingConfChange: boolean;
  /** The transfer target while a leadership transfer is in progress, else "". */
  readonly leadTransferee: NodeId;
  /** Per-member progress; empty unless leader. */
  readonly progress: Readonly<Record<NodeId, ProgressStatus>>;
}

/**
 * The pure Raft state machine. Synchronous, deterministic, no I/O: inputs are messages,
 * ticks and proposals; outputs come out of {@link RawNode.ready}. The caller persists,
 * sends and applies what a Ready holds, then calls {@link RawNode.advance}.
 *
 * Methods that cannot be served throw `RaftError` (errors.ts) and change nothing.
 */
export interface RawNode {
  /** Advances logical time by one tick. */
  tick(): void;
  /**
   * Starts an election now, as an election timeout would (pre-vote first when enabled).
   * Does nothing on a leader or on a node that is not a voter in its configuration.
   */
  campaign(): void;
  /** Feeds a message received from a peer. Messages not addressed to this node are ignored. */
  step(m: Message): void;
  /**
   * Appends `data` as a new entry (leader only). Returns the index and term it got; it is
   * committed when an applied entry at that index carries that term.
   */
  propose(data: Uint8Array): { index: number; term: number };
  /** Proposes a single-server membership change; at most one may be pending. */
  proposeConfChange(change: ConfChange): { index: number; term: number };
  /** Starts a leadership transfer to `to` (leader only). */
  transferLeader(to: NodeId): void;
  /**
   * Requests a linearizable read point. The answer arrives as a ReadState with the same
   * context in a later Ready (leader only; followers throw NotLeader).
   */
  readIndex(context: Uint8Array): void;
  /** True when ready() would return something to do. */
  hasReady(): boolean;
  /** What to persist, send and apply now. Call advance() after handling it. */
  ready(): Ready;
  /** Acknowledges the last Ready as persisted, sent and applied. */
  advance(): void;
  /**
   * Records a state-machine snapshot at `index` (<= applied) and drops the log prefix up
   * to it. The snapshot is kept to send to followers that fall behind the log.
   */
  compact(index: number, data: Uint8Array): Snapshot;
  /** Tells the leader that a message to `id` could not be delivered. */
  reportUnreachable(id: NodeId): void;
  /** Tells the leader whether sending a snapshot to `id` succeeded. */
  reportSnapshot(id: NodeId, ok: boolean): void;
  /** A read-only snapshot of the current state. */
  status(): RaftStatus;
}
