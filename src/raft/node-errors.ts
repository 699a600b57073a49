import type { NodeId } from "./types.js";

/** Why a RaftNode call failed. Modelled on hashicorp/raft's error values. */
export type RaftNodeErrorCode =
  /** This node is not the leader; `leaderId`/`leaderAddr` say who is, when known. */
  | "NotLeader"
  /** Leadership was lost before the operation was known to commit; it may or may not have. */
  | "LeadershipLost"
  /** The operation did not finish in time; it may still commit. */
  | "Timeout"
  /** The node is shutting down or has shut down. */
  | "Shutdown"
  /** This node was removed from the cluster. */
  | "Removed"
  /** A leadership transfer is in progress; retry shortly. */
  | "TransferInProgress"
  /** A membership change is already pending, or prevIndex did not match. */
  | "ConfChangeConflict"
  /** The request named an unknown node or was otherwise invalid. */
  | "InvalidArgument"
  /** The caller aborted the operation through its AbortSignal. */
  | "Aborted";

/** The one error type a RaftNode rejects with. */
export class RaftNodeError extends Error {
  override readonly name = "RaftNodeError";
  readonly code: RaftNodeErrorCode;
  /** For NotLeader: the leader's id, or "" when unknown. */
  readonly leaderId: NodeId;
  /** For NotLeader: the leader's advertised cluster address, or "" when unknown. */
  readonly leaderAddr: string;

  constructor(
    code: RaftNodeErrorCode,
    message: string,
    leader: { id?: NodeId; addr?: string } = {},
  ) {
    super(message);
    this.code = code;
    this.leaderId = leader.id ?? "";
    this.leaderAddr = leader.addr ?? "";
  }

  /** True when `err` is a RaftNodeError with one of `codes`. */
  static is(err: unknown, ...codes: RaftNodeErrorCode[]): err is RaftNodeError {
    return err instanceof RaftNodeError && (codes.length === 0 || codes.includes(err.code));
  }
}
