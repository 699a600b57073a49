import type { NodeId } from "../types.js";

/**
 * Why a request to the core could not be served. The request changed nothing.
 *
 * - NotLeader: only the leader serves it; `leaderHint` names the leader this node
 *   believes in, or "" when it knows none.
 * - ProposalDropped: this node is leader but cannot accept proposals right now (it is
 *   no longer in the configuration it leads).
 * - LeadershipTransferInProgress: a transfer is under way; proposals wait for its end.
 * - ConfChangePending: a membership change is not yet applied (a new leader also
 *   answers this until it has applied the first entry of its term).
 * - UnknownNode: the node is not a member.
 * - InvalidTransfer: transfer to self or to a nonvoter.
 * - InvalidConfChange: the change is redundant or would leave no voter.
 * - InvalidCompaction: the compaction index is not in (snapshot, applied].
 * - InvalidMessage: an input message is malformed (a number out of range).
 */
export type RaftErrorCode =
  | "NotLeader"
  | "ProposalDropped"
  | "LeadershipTransferInProgress"
  | "ConfChangePending"
  | "UnknownNode"
  | "InvalidTransfer"
  | "InvalidConfChange"
  | "InvalidCompaction"
  | "InvalidMessage";

/**
 * The one error class the core throws for requests it refuses. `code` says why; for
 * NotLeader, `leaderHint` says where to go instead.
 */
export class RaftError extends Error {
  readonly code: RaftErrorCode;
  readonly leaderHint: NodeId;

  constructor(code: RaftErrorCode, message: string, leaderHint: NodeId = "") {
    super(message);
    this.name = "RaftError";
    this.code = code;
    this.leaderHint = leaderHint;
  }

  /** Narrows an unknown thrown value to a RaftError, or undefined. */
  static from(e: unknown): RaftError | undefined {
    return e instanceof RaftError ? e : undefined;
  }
}

/**
 * Thrown where one of Raft's invariants is broken (a committed entry would be
 * overwritten, commit would pass the log, a term would reach 2^53). It means a bug or
 * corrupted storage: the node must stop, never catch and continue.
 */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RaftInvariantError";
  }
}

/** Terms and indexes stay below 2^53 so that `number` is exact. */
export function assertSafeIndex(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RaftInvariantError(`${what} ${n} is not an integer in [0, 2^53)`);
  }
}
