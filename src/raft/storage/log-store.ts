import { chmodSync, existsSync, renameSync, rmSync } from "node:fs";
import { dirname } from "node:path";
import { type Database, open, type RootDatabase } from "lmdb";
import { fsyncDir } from "../../util/atomic-file.js";
import { EMPTY_HARD_STATE, type Entry, type HardState, type SnapshotMeta } from "../types.js";
import { decodeEntry, encodeEntry } from "./entry-codec.js";
import { checkLmdbFile } from "./lmdb-file-check.js";
import { parseHardState, parseSnapshotMeta, sameMeta } from "./records.js";
import { RaftStorageError } from "./storage-error.js";

/** The format record written once when a log store is created, checked on every open. */
export const LOG_FORMAT = "gastrolog-raft-log";
/** The on-disk format version of the log store that this build writes and reads. */
export const LOG_FORMAT_VERSION = 1;

const KEY_FORMAT = "format";
const KEY_HARD_STATE = "hardState";
const KEY_SNAPSHOT = "snapshot";

/** One durable write to the log store; see {@link LogStore.save}. */
export interface LogUpdate {
  /** Term, vote and commit to record. */
  readonly hardState?: HardState;
  /**
   * Entries to append. They must be contiguous; `entries[0].index` may be at or below the
   * current last index, in which case the conflicting suffix from there on is replaced.
   */
  readonly entries?: readonly Entry[];
  /**
   * The snapshot the log now follows (installed from the leader, or taken locally and
   * already durable in the snapshot store). When the log holds an entry at
   * `snapshot.index` with `snapshot.term`, the log is kept (entries up to that index stay
   * as a trailing window until {@link LogStore.compact}); otherwise the log is superseded
   * and every entry is dropped. Applied before `entries`.
   */
  readonly snapshot?: SnapshotMeta;
}

/** Counters for tests and stats. */
export interface LogStoreStats {
  /** lmdb write transactions committed since this store was opened (each is one fsync'd commit). */
  readonly commits: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
}

/**
 * The LogStore and StableStore of hashicorp/raft in one lmdb environment, so that entries,
 * hard state and the snapshot marker change together in one transaction.
 */
export interface LogStore {
  /** The lmdb data file. */
  readonly path: string;
  /**
   * Applies `update` atomically (one lmdb transaction, together with any other save or
   * compact issued in the same event-loop turn) and resolves once it is on disk (fsync).
   * Validates first: on a bad argument it rejects with `invalidArgument` and writes nothing.
   */
  save(update: LogUpdate): Promise<void>;
  /**
   * Drops every entry with index <= `index`, atomically. `index` must not exceed the
   * recorded snapshot's index: entries that no snapshot covers are never dropped.
   */
  compact(index: number): Promise<void>;
  /**
   * Recovery only: records an older snapshot as the one the log follows, when the recorded
   * snapshot's file is lost or damaged and the log still holds every entry after `meta`.
   * Refuses (`inconsistent`) when the log does not cover the gap.
   */
  rebase(meta: SnapshotMeta): Promise<void>;
  /** The hard state as last issued by save() (durable once that save resolved). */
  hardState(): HardState;
  /** The snapshot the log follows, as last issued by save(), or undefined. */
  snapshot(): SnapshotMeta | undefined;
  /** Index of the first stored entry; lastIndex() + 1 when the log is empty. */
  firstIndex(): number;
  /** Index of the last stored entry, or the snapshot index when the log is empty. */
  lastIndex(): number;
  /** Term of the stored entry at `index`, the snapshot term at the snapshot index, else undefined. */
  term(index: number): number | undefined;
  /** Reads stored entries in [lo, hi] (inclusive) from disk. Only sees committed saves. */
  entries(lo: number, hi: number): Entry[];
  /** Commit counter and bounds. */
  stats(): LogStoreStats;
  /** Waits for pending writes, then closes lmdb. Idempotent. */
  close(): Promise<void>;
}

/** Options for {@link openLogStore}. */
export interface LogStoreOptions {
  /** Path of the lmdb data file (lmdb adds `<path>-lock` beside it). */
  readonly path: string;
  /**
   * Create the store when `path` does not exist (default true). The composed storage turns
   * this off when snapshots exist without a log, which means the log was lost.
   */
  readonly create?: boolean;
}

/**
 * lmdb settings, chosen for durability first.
 *
 * - `overlappingSync: false`. lmdb-js enables overlapping sync by default on Linux: the
 *   commit is then written with MDB_NOSYNC and flushed afterwards, and the promise of a
 *   put resolves when the transaction is *committed* (visible), not when it is *flushed*
 *   (durable); durability would need `db.flushed` or `separateFlushed`. With it off, the
 *   writer thread runs a classic LMDB commit, which syncs the data pages and then the
 *   meta page before the commit returns, and the put promise resolves only after that.
 *   The promise save() returns therefore means "on disk". That classic commit costs two
 *   syncs (data pages, then meta page), so bench/raft-storage.ts shows about 0.45-0.5x
 *   the rate of a bare write+fsync. Overlapping sync while awaiting the `flushed` promise
 *   (separateFlushed) measured ~1.2-1.3x faster than this in one noisy run; it was not
 *   taken because its durability rests on lmdb-js's flush bookkeeping, while this mode's
 *   rests on mdb_txn_commit returning only after the sync (read in writer.cpp).
 * - `noSync: false`, `noMetaSync: false`: the defaults, stated so no one flips them.
 * - `eventTurnBatching: true` (default) and `commitDelay: 0`: every put/remove issued in
 *   one event-loop turn goes into one transaction, committed at the end of the turn. That
 *   is the group commit: several saves issued in one turn share one fsync, and a save's
 *   own operations are never split across transactions (we never call transactionSync,
 *   the one documented thing that splits a batch).
 * - Asynchronous `transaction()` callbacks are not used: on this machine they never
 *   resolve (the callback is never invoked), while plain batched puts work.
 * - No cache, compression or writemap: fewer moving parts between us and the disk.
 */
const LMDB_OPTIONS = {
  noSubdir: true,
  maxDbs: 4,
  overlappingSync: false,
  noSync: false,
  noMetaSync: false,
  useWritemap: false,
  eventTurnBatching: true,
  commitDelay: 0,
  compression: false,
  cache: false,
} as const;

/**
 * Opens (or creates) the lmdb log store at `options.path`. Throws `RaftStorageError`:
 * `corrupt` for a file that is not an lmdb database or holds damaged records,
 * `unknownVersion` for a format this build does not know. It never resets a store.
 */
export async function openLogStore(options: LogStoreOptions): Promise<LogStore> {
  const { path } = options;
  if (!existsSync(path)) {
    if (options.create === false) {
      throw new RaftStorageError("inconsistent", `${path} does not exist`, path);
    }
    await createEmpty(path);
  }
  checkLmdbFile(path);
  let root: RootDatabase;
  try {
    // The log holds the config store, CA and cluster keys included: owner-only, also for
    // the lock file lmdb creates here (umask covers its creation; chmod covers old stores).
    const oldMask = process.umask(0o077);
    try {
      root = open({ path, ...LMDB_OPTIONS });
    } finally {
      process.umask(oldMask);
    }
    for (const f of [path, `${path}-lock`]) if (existsSync(f)) chmodSync(f, 0o600);
  } catch (err) {
    throw new RaftStorageError("corrupt", `${path}: lmdb cannot open it: ${msg(err)}`, path, {
      cause: err,
    });
  }
  try {
    return new LmdbLogStore(path, root);
  } catch (err) {
    await root.close();
    throw err;
  }
}

/**
 * Creates a new store under a temporary name and renames it into place, so a crash during
 * creation never leaves a half-made store at `path` (which a later open would reject).
 */
async function createEmpty(path: string): Promise<void> {
  const tmp = `${path}.creating`;
  rmSync(tmp, { force: true });
  rmSync(`${tmp}-lock`, { force: true });
  const oldMask = process.umask(0o077);
  let root: RootDatabase;
  try {
    root = open({ path: tmp, ...LMDB_OPTIONS });
  } finally {
    process.umask(oldMask);
  }
  const stable = root.openDB<string, string>({ name: "stable", encoding: "string" });
  stable.put(KEY_FORMAT, JSON.stringify({ format: LOG_FORMAT, version: LOG_FORMAT_VERSION }));
  await stable.put(KEY_HARD_STATE, JSON.stringify(EMPTY_HARD_STATE));
  await root.close();
  rmSync(`${tmp}-lock`, { force: true });
  renameSync(tmp, path);
  await fsyncDir(dirname(path));
}

class LmdbLogStore implements LogStore {
  readonly #root: RootDatabase;
  readonly #log: Database<Buffer, number>;
  readonly #stable: Database<string, string>;
  readonly #txnAtOpen: number;
  /** Issued view: what the disk will hold once every pending write commits. */
  #hard: HardState;
  #snap: SnapshotMeta | undefined;
  #first: number;
  /** Terms of stored entries: #terms[i] is the term at index #first + i. */
  #terms: number[] = [];
  #pending: Promise<unknown> = Promise.resolve();
  #state: { t: "open" } | { t: "failed"; error: unknown } | { t: "closed" } = { t: "open" };

  constructor(
    readonly path: string,
    root: RootDatabase,
  ) {
    this.#root = root;
    this.#log = root.openDB<Buffer, number>({ name: "log", encoding: "binary" });
    this.#stable = root.openDB<string, string>({ name: "stable", encoding: "string" });
    this.#checkFormat();
    this.#hard = this.#readRecord(KEY_HARD_STATE, parseHardState) ?? EMPTY_HARD_STATE;
    this.#snap = this.#readRecord(KEY_SNAPSHOT, parseSnapshotMeta);
    this.#first = (this.#snap?.index ?? 0) + 1;
    this.#scanLog();
    this.#txnAtOpen = this.#txnId();
  }

  #corrupt(what: string): RaftStorageError {
    return new RaftStorageError(
      "corrupt",
      `${this.path}: ${what}: the raft log store is damaged; restore it from a backup or re-enroll this node`,
      this.path,
    );
  }

  #checkFormat(): void {
    const raw = this.#stable.get(KEY_FORMAT);
    if (raw === undefined) {
      throw this.#corrupt("no format record (not a gastrolog raft log store, or damaged)");
    }
    let rec: unknown;
    try {
      rec = JSON.parse(raw);
    } catch {
      throw this.#corrupt("unreadable format record");
    }
    const r = rec as { format?: unknown; version?: unknown };
    if (r.format !== LOG_FORMAT) throw this.#corrupt(`format record names ${String(r.format)}`);
    if (r.version !== LOG_FORMAT_VERSION) {
      throw new RaftStorageError(
        "unknownVersion",
        `${this.path}: raft log store format version ${String(r.version)}; this build reads version ${LOG_FORMAT_VERSION} (written by a newer gastrolog?)`,
        this.path,
      );
    }
  }

  #readRecord<T>(key: string, parse: (v: unknown) => T): T | undefined {
    const raw = this.#stable.get(key);
    if (raw === undefined) return undefined;
    try {
      return parse(JSON.parse(raw));
    } catch (err) {
      throw this.#corrupt(`bad ${key} record (${msg(err)})`);
    }
  }

  /** Reads every stored entry once: decodes it (validating it) and checks contiguity. */
  #scanLog(): void {
    let expect = -1;
    for (const { key, value } of this.#log.getRange({})) {
      if (typeof key !== "number" || !Number.isSafeInteger(key) || key < 1) {
        throw this.#corrupt(`log key ${String(key)} is not an entry index`);
      }
      if (expect === -1) this.#first = key;
      else if (key !== expect) throw this.#corrupt(`gap in the log: entry ${expect} is missing`);
      let e: Entry;
      try {
        e = decodeEntry(key, value);
      } catch (err) {
        throw this.#corrupt(msg(err));
      }
      const prev = this.#terms[this.#terms.length - 1];
      if (prev !== undefined && e.term < prev) {
        throw this.#corrupt(`entry ${key} has term ${e.term} after term ${prev}`);
      }
      this.#terms.push(e.term);
      expect = key + 1;
    }
    const base = this.#snap?.index ?? 0;
    if (this.#terms.length > 0 && this.#first > base + 1) {
      throw new RaftStorageError(
        "inconsistent",
        `${this.path}: the log starts at entry ${this.#first} but the recorded snapshot ends at ${base}: entries ${base + 1}..${this.#first - 1} are lost`,
        this.path,
      );
    }
    if (this.#terms.length === 0) this.#first = base + 1;
  }

  #txnId(): number {
    this.#root.resetReadTxn();
    return (this.#root.getStats() as { lastTxnId: number }).lastTxnId;
  }

  #usable(): void {
    if (this.#state.t === "closed") {
      throw new RaftStorageError("closed", `${this.path}: the log store is closed`, this.path);
    }
    if (this.#state.t === "failed") {
      throw new RaftStorageError(
        "failed",
        `${this.path}: an earlier write failed (${msg(this.#state.error)}); reopen the store`,
        this.path,
        { cause: this.#state.error },
      );
    }
  }

  hardState(): HardState {
    return this.#hard;
  }

  snapshot(): SnapshotMeta | undefined {
    return this.#snap;
  }

  firstIndex(): number {
    return this.#first;
  }

  lastIndex(): number {
    return Math.max(this.#first + this.#terms.length - 1, this.#snap?.index ?? 0);
  }

  term(index: number): number | undefined {
    const t = this.#terms[index - this.#first];
    if (t !== undefined) return t;
    if (this.#snap && index === this.#snap.index) return this.#snap.term;
    return index === 0 ? 0 : undefined;
  }

  entries(lo: number, hi: number): Entry[] {
    const out: Entry[] = [];
    for (const { key, value } of this.#log.getRange({ start: lo, end: hi, inclusiveEnd: true })) {
      try {
        out.push(decodeEntry(key, value));
      } catch (err) {
        throw this.#corrupt(msg(err));
      }
    }
    return out;
  }

  stats(): LogStoreStats {
    return {
      commits: this.#txnId() - this.#txnAtOpen,
      firstIndex: this.#first,
      lastIndex: this.lastIndex(),
      snapshotIndex: this.#snap?.index ?? 0,
    };
  }

  save(update: LogUpdate): Promise<void> {
    try {
      this.#usable();
      return this.#issue(this.#plan(update));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  compact(index: number): Promise<void> {
    try {
      this.#usable();
      if (!Number.isSafeInteger(index) || index < 0) {
        throw invalid(`compact index ${index} is not a non-negative integer`);
      }
      const base = this.#snap?.index ?? 0;
      if (index > base) {
        throw invalid(
          `compact(${index}) would drop entries after the recorded snapshot (index ${base}); record the snapshot first`,
        );
      }
      const first = this.#first;
      if (index < first) return this.#issue(undefined);
      const last = first + this.#terms.length - 1;
      return this.#issue({
        removeFrom: first,
        removeTo: Math.min(index, last),
        puts: [],
        first: index + 1,
        terms: this.#terms.slice(index + 1 - first),
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  rebase(meta: SnapshotMeta): Promise<void> {
    try {
      this.#usable();
      const m = checkMeta(meta);
      const base = this.#snap?.index ?? 0;
      const last = this.#first + this.#terms.length - 1;
      const t = this.#terms[m.index - this.#first];
      if (
        m.index > base ||
        this.#first > m.index + 1 ||
        last < base ||
        (t !== undefined && t !== m.term)
      ) {
        throw new RaftStorageError(
          "inconsistent",
          `${this.path}: the log (entries ${this.#first}..${last}) does not cover the gap from snapshot ${m.index} to the recorded snapshot ${base}`,
          this.path,
        );
      }
      return this.#issue({
        removeFrom: 0,
        removeTo: -1,
        puts: [],
        first: this.#first,
        terms: this.#terms,
        snap: m,
        setSnap: true,
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Validates an update against the issued view and computes the writes; writes nothing. */
  #plan(u: LogUpdate): Plan {
    let first = this.#first;
    let terms = this.#terms;
    let snap = this.#snap;
    let removeFrom = 0;
    let removeTo = -1;
    const last0 = first + terms.length - 1;
    if (u.snapshot) {
      const s = checkMeta(u.snapshot);
      const base = snap?.index ?? 0;
      if (s.index < base) {
        throw invalid(`snapshot at index ${s.index} is older than the recorded one (${base})`);
      }
      const keeps = (snap && sameMeta(snap, s)) || this.term(s.index) === s.term;
      if (!keeps && terms.length > 0) {
        // The snapshot supersedes a divergent or shorter log: drop it all.
        removeFrom = first;
        removeTo = last0;
        terms = [];
      }
      if (terms.length === 0) first = s.index + 1;
      snap = s;
    }
    const base = snap?.index ?? 0;
    const baseTerm = snap?.term ?? 0;
    const hard = u.hardState ? checkHardState(u.hardState) : undefined;
    const entries = u.entries ?? [];
    const puts: [number, Uint8Array][] = [];
    if (entries.length > 0) {
      const e0 = entries[0]!.index;
      const lastNow = Math.max(first + terms.length - 1, base);
      if (!Number.isSafeInteger(e0) || e0 <= base || e0 > lastNow + 1) {
        throw invalid(
          `entries start at ${e0}, but the log can only take entries in ${base + 1}..${lastNow + 1}`,
        );
      }
      // Only the recorded commit counts: a follower may receive a replacement suffix and a
      // commit covering it in the same Ready.
      const commit = this.#hard.commit;
      if (e0 <= lastNow && e0 <= commit) {
        throw invalid(
          `entries starting at ${e0} would overwrite committed entries (commit ${commit})`,
        );
      }
      let prevTerm = e0 - 1 === base ? baseTerm : (terms[e0 - 1 - first] ?? baseTerm);
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        if (e.index !== e0 + i) throw invalid(`entries are not contiguous at ${e0 + i}`);
        if (!Number.isSafeInteger(e.term) || e.term < prevTerm) {
          throw invalid(`entry ${e.index} has term ${e.term} after term ${prevTerm}`);
        }
        prevTerm = e.term;
        try {
          puts.push([e.index, encodeEntry(e)]);
        } catch (err) {
          throw invalid(msg(err));
        }
      }
      const eLast = e0 + entries.length - 1;
      const lastStored = first + terms.length - 1;
      if (lastStored > eLast) {
        // The conflicting suffix beyond the new entries goes; the rest is overwritten by puts.
        removeFrom = removeFrom > 0 ? Math.min(removeFrom, eLast + 1) : eLast + 1;
        removeTo = Math.max(removeTo, lastStored);
      }
      if (terms.length === 0) first = e0;
      terms = terms.slice(0, e0 - first).concat(entries.map((e) => e.term));
    }
    if (hard) {
      const cur = this.#hard;
      if (hard.term < cur.term)
        throw invalid(`term ${hard.term} is below the recorded ${cur.term}`);
      if (hard.term === cur.term && cur.vote !== "" && hard.vote !== cur.vote) {
        throw invalid(`vote in term ${hard.term} changes from ${cur.vote} to ${hard.vote || '""'}`);
      }
      const lastAfter = Math.max(first + terms.length - 1, base);
      if (hard.commit > lastAfter) {
        throw invalid(`commit ${hard.commit} is beyond the last entry ${lastAfter}`);
      }
    }
    return {
      removeFrom,
      removeTo,
      puts,
      first,
      terms,
      snap,
      hard,
      setSnap: u.snapshot !== undefined,
    };
  }

  /**
   * Issues a plan's writes synchronously (so they land in one lmdb transaction), updates the
   * issued view, and returns a promise for the durable commit.
   */
  #issue(plan: Plan | undefined): Promise<void> {
    if (!plan) return this.#pending.then(() => undefined);
    let p: Promise<unknown> | undefined;
    if (plan.setSnap && plan.snap) p = this.#stable.put(KEY_SNAPSHOT, JSON.stringify(plan.snap));
    for (let i = plan.removeFrom; i <= plan.removeTo && plan.removeFrom > 0; i++) {
      p = this.#log.remove(i);
    }
    for (const [k, v] of plan.puts) p = this.#log.put(k, v as Buffer);
    if (plan.hard) p = this.#stable.put(KEY_HARD_STATE, JSON.stringify(plan.hard));
    this.#first = plan.first;
    this.#terms = plan.terms;
    if (plan.snap) this.#snap = plan.snap;
    if (plan.hard) this.#hard = plan.hard;
    if (!p) return this.#pending.then(() => undefined);
    const done = p.then(
      () => undefined,
      (err: unknown) => {
        if (this.#state.t === "open") this.#state = { t: "failed", error: err };
        throw new RaftStorageError("failed", `${this.path}: write failed: ${msg(err)}`, this.path, {
          cause: err,
        });
      },
    );
    this.#pending = done.catch(() => undefined);
    return done;
  }

  async close(): Promise<void> {
    if (this.#state.t === "closed") return;
    this.#state = { t: "closed" };
    await this.#pending;
    await this.#root.close();
  }
}

interface Plan {
  removeFrom: number;
  removeTo: number;
  puts: [number, Uint8Array][];
  first: number;
  terms: number[];
  snap?: SnapshotMeta | undefined;
  hard?: HardState | undefined;
  setSnap?: boolean;
}

function checkMeta(m: SnapshotMeta): SnapshotMeta {
  try {
    return parseSnapshotMeta(m);
  } catch (err) {
    throw invalid(`bad snapshot meta: ${msg(err)}`);
  }
}

function checkHardState(h: HardState): HardState {
  try {
    return parseHardState(h);
  } catch (err) {
    throw invalid(`bad hard state: ${msg(err)}`);
  }
}

function invalid(message: string): RaftStorageError {
  return new RaftStorageError("invalidArgument", message);
}

function msg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
