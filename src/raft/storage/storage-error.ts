/**
 * Why a storage operation failed. The runtime treats every code except `invalidArgument`
 * as fatal to the node: a Raft node that cannot trust its disk must stop, not guess.
 *
 * - `corrupt`: a file is damaged (not an lmdb file, truncated, bad record, gap in the log).
 * - `unknownVersion`: the file was written by a format version this build does not know.
 * - `inconsistent`: the log store and the snapshot store disagree in a way that would
 *   lose acknowledged data if the node started anyway.
 * - `invalidArgument`: the caller passed something that breaks the log's invariants;
 *   nothing was written.
 * - `closed`: the store was closed.
 * - `failed`: a write failed earlier; the in-memory view may be ahead of the disk, so
 *   the store refuses further work until it is reopened.
 * - `io`: the operating system refused a file operation.
 */
export type StorageErrorCode =
  | "corrupt"
  | "unknownVersion"
  | "inconsistent"
  | "invalidArgument"
  | "closed"
  | "failed"
  | "io";

/**
 * The one error type of src/raft/storage. `path` names the file or directory concerned,
 * so an operator knows what to inspect or restore.
 */
export class RaftStorageError extends Error {
  override readonly name = "RaftStorageError";

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Normalises anything thrown into a RaftStorageError, keeping the original as `cause`. */
  static from(err: unknown, path?: string): RaftStorageError {
    if (err instanceof RaftStorageError) return err;
    const msg = err instanceof Error ? err.message : String(err);
    return new RaftStorageError("io", path ? `${path}: ${msg}` : msg, path, { cause: err });
  }
}
