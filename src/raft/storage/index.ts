/**
 * Durable Raft storage (issue 4): the lmdb log + stable store and the file snapshot store.
 * The runtime codes against {@link createRaftStorage}; the parts are exported for tests and
 * tools.
 */
export { decodeEntry, ENTRY_CODEC_VERSION, encodeEntry } from "./entry-codec.js";
export {
  LOG_FORMAT,
  LOG_FORMAT_VERSION,
  type LogStore,
  type LogStoreOptions,
  type LogStoreStats,
  type LogUpdate,
  openLogStore,
} from "./log-store.js";
export {
  createRaftStorage,
  LOG_FILE,
  type RaftStorage,
  type RaftStorageOptions,
  SNAPSHOT_DIR,
} from "./raft-storage.js";
export {
  openSnapshotStore,
  SNAPSHOT_FORMAT,
  SNAPSHOT_FORMAT_VERSION,
  type SnapshotData,
  type SnapshotInfo,
  type SnapshotSink,
  type SnapshotStore,
  type SnapshotStoreOptions,
} from "./snapshot-store.js";
export { RaftStorageError, type StorageErrorCode } from "./storage-error.js";
