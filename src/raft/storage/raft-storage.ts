import { existsSync, readdirSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createLogger, type Logger } from "../../log.js";
import type { PersistedState, Snapshot, SnapshotMeta } from "../types.js";
import { type LogStore, type LogUpdate, openLogStore } from "./log-store.js";
import { openSnapshotStore, type SnapshotInfo, type SnapshotStore } from "./snapshot-store.js";
import { RaftStorageError } from "./storage-error.js";

/** Options for {@link createRaftStorage}. */
export interface RaftStorageOptions {
  /** The node's raft directory: holds `raft.mdb` (log + stable store) and `snapshots/`. */
  readonly dir: string;
  /** Receives warnings (skipped snapshots, recoveries). Default: pino at warn on stderr. */
  readonly logger?: Logger;
  /** Snapshots to keep (default 2). */
  readonly keepSnapshots?: number;
}

/**
 * Durable Raft storage: the lmdb log and stable store plus the file snapshot store, opened
 * together so that their consistency is checked before the node starts.
 *
 * Contract for the runtime (one drive-loop turn): call `save({hardState, entries,
 * snapshot})` once with what the Ready holds and await it before sending messages; every
 * save issued in the same event-loop turn shares one lmdb transaction and one fsync.
 * Persist a Ready's snapshot data first (`snapshots.save`), then pass its meta to save().
 * After a local snapshot: `snapshots.save(meta, data)`, then `save({snapshot: meta})`, then
 * `compact(i)` with i at most meta.index (keeping entries since the previous retained
 * snapshot lets a damaged newest snapshot fall back to the previous one).
 */
export interface RaftStorage {
  readonly dir: string;
  readonly log: LogStore;
  readonly snapshots: SnapshotStore;
  /**
   * What the core starts from: hard state (commit raised to the snapshot index if it lags),
   * the snapshot the log follows, and the entries after it. Reads committed data only; call
   * it at start, before any save().
   */
  load(): PersistedState;
  /** The data of the snapshot that load() reports, verified; undefined if none. */
  loadSnapshot(): Promise<Snapshot | undefined>;
  /** See {@link LogStore.save}: one transaction, resolves once durable. */
  save(update: LogUpdate): Promise<void>;
  /** See {@link LogStore.compact}: drops entries <= index, atomically. */
  compact(index: number): Promise<void>;
  /** Waits for pending writes and closes. */
  close(): Promise<void>;
}

/** File name of the lmdb environment inside the raft directory. */
export const LOG_FILE = "raft.mdb";
/** Directory of snapshot files inside the raft directory. */
export const SNAPSHOT_DIR = "snapshots";

/**
 * Opens (creating when new) the storage in `options.dir`, checks that the log and the
 * snapshots agree, and completes an operation a crash interrupted: a snapshot file that is
 * durable but was not yet recorded in the log store is recorded now (and the log it
 * supersedes dropped), exactly as the interrupted save() would have done.
 *
 * Fails with a `RaftStorageError` naming the file when a file is damaged or of an unknown
 * version, and with `inconsistent` when starting would lose data: snapshots without a log
 * store, a recorded snapshot whose file is gone while the log no longer covers it, a log
 * that starts after the snapshot ends, or a commit index beyond everything stored.
 * It never resets anything.
 */
export async function createRaftStorage(options: RaftStorageOptions): Promise<RaftStorage> {
  const logger = options.logger ?? createLogger({ level: "warn" });
  const dir = options.dir;
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((err: unknown) => {
    throw RaftStorageError.from(err, dir);
  });
  const logPath = join(dir, LOG_FILE);
  const snapDir = join(dir, SNAPSHOT_DIR);
  if (!existsSync(logPath) && existsSync(snapDir)) {
    const snaps = readdirSync(snapDir).filter((n) => n.endsWith(".snap"));
    if (snaps.length > 0) {
      throw new RaftStorageError(
        "inconsistent",
        `${logPath} is missing but ${snapDir} holds ${snaps.length} snapshot(s): the log store (votes, terms, entries) was lost; refusing to start with an empty one`,
        logPath,
      );
    }
  }
  const log = await openLogStore({ path: logPath });
  try {
    const snapshots = await openSnapshotStore({
      dir: snapDir,
      logger,
      keep: options.keepSnapshots ?? 2,
    });
    await reconcile(log, snapshots, logger);
    return new ComposedStorage(dir, log, snapshots);
  } catch (err) {
    await log.close();
    throw err;
  }
}

async function reconcile(log: LogStore, snaps: SnapshotStore, logger: Logger): Promise<void> {
  const recorded = log.snapshot();
  const rIndex = recorded?.index ?? 0;
  // Only the newest valid snapshot can be the right base: an older one covers even less.
  const newest = snaps.latest();
  let chosen: SnapshotInfo | undefined;
  if (newest && newest.meta.index >= rIndex) {
    if (recorded && newest.meta.index === rIndex && newest.meta.term !== recorded.term) {
      throw new RaftStorageError(
        "inconsistent",
        `${newest.path}: snapshot at index ${rIndex} has term ${newest.meta.term}, the log store recorded term ${recorded.term}`,
        newest.path,
      );
    }
    chosen = newest;
  } else if (newest && covers(log, newest.meta, rIndex)) {
    logger.warn(
      { path: newest.path, index: newest.meta.index, recordedIndex: rIndex },
      "raft storage: the recorded snapshot is missing or damaged; falling back to an older snapshot, the log covers the gap",
    );
    chosen = newest;
  }
  if (chosen && chosen.meta.index > rIndex) {
    logger.warn(
      { path: chosen.path, index: chosen.meta.index, recordedIndex: rIndex },
      "raft storage: recording a snapshot that was written before a crash but not yet recorded in the log store",
    );
    await log.save({ snapshot: chosen.meta });
  } else if (chosen && chosen.meta.index < rIndex) {
    await log.rebase(chosen.meta);
  } else if (!chosen && rIndex > 0) {
    const latest = snaps.latest();
    throw new RaftStorageError(
      "inconsistent",
      `${log.path} follows a snapshot at index ${rIndex}, but ${snaps.dir} holds no valid snapshot at or covering it (latest valid: ${latest ? `index ${latest.meta.index}` : "none"}) and the log starts at ${log.firstIndex()}: entries up to ${rIndex} would be lost`,
      log.path,
    );
  }
  const base = log.snapshot()?.index ?? (chosen ? chosen.meta.index : 0);
  const first = log.firstIndex();
  if (log.lastIndex() >= first && first > base + 1) {
    throw new RaftStorageError(
      "inconsistent",
      `${log.path}: the first log index ${first} is past the snapshot index ${base} + 1: entries ${base + 1}..${first - 1} are lost`,
      log.path,
    );
  }
  const commit = log.hardState().commit;
  const end = Math.max(log.lastIndex(), base);
  if (commit > end) {
    throw new RaftStorageError(
      "inconsistent",
      `${log.path}: commit index ${commit} is beyond the last stored entry ${end}: committed entries are lost`,
      log.path,
    );
  }
}

/** True when the log holds every entry from `s.index + 1` through `upTo`, consistent with `s`. */
function covers(log: LogStore, s: SnapshotMeta, upTo: number): boolean {
  if (log.firstIndex() > s.index + 1 || log.lastIndex() < upTo) return false;
  const t = log.term(s.index);
  return t === undefined || t === s.term;
}

class ComposedStorage implements RaftStorage {
  constructor(
    readonly dir: string,
    readonly log: LogStore,
    readonly snapshots: SnapshotStore,
  ) {}

  load(): PersistedState {
    const snapshot = this.log.snapshot();
    const base = snapshot?.index ?? 0;
    const hs = this.log.hardState();
    const last = this.log.lastIndex();
    return {
      hardState: { ...hs, commit: Math.max(hs.commit, base) },
      ...(snapshot ? { snapshot } : {}),
      entries: last > base ? this.log.entries(base + 1, last) : [],
    };
  }

  async loadSnapshot(): Promise<Snapshot | undefined> {
    const meta = this.log.snapshot();
    if (!meta) return undefined;
    const info = this.snapshots
      .list()
      .find((s) => s.meta.index === meta.index && s.meta.term === meta.term);
    if (!info) {
      throw new RaftStorageError(
        "inconsistent",
        `${this.snapshots.dir}: no snapshot at index ${meta.index} term ${meta.term}, which the log follows`,
        this.snapshots.dir,
      );
    }
    const { data } = await this.snapshots.read(info.id);
    return { meta: info.meta, data };
  }

  save(update: LogUpdate): Promise<void> {
    return this.log.save(update);
  }

  compact(index: number): Promise<void> {
    return this.log.compact(index);
  }

  close(): Promise<void> {
    return this.log.close();
  }
}
