import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
} from "node:fs/promises";
import { join } from "node:path";
import { type Readable, Transform } from "node:stream";
import type { Logger } from "../../log.js";
import { fsyncDir } from "../../util/atomic-file.js";
import type { SnapshotMeta } from "../types.js";
import { parseSnapshotMeta } from "./records.js";
import { RaftStorageError } from "./storage-error.js";

/**
 * A snapshot file is the FSM's bytes followed by a trailer, so it can be written as a
 * stream (size and checksum are only known at the end) and committed with one rename:
 *
 *   data (size bytes) | metadata JSON | u32 BE length of the JSON | SHA-256 of the JSON |
 *   "GLRSNAP" | u8 version
 *
 * The JSON holds format, version, index, term, conf (membership), size, sha256 (hex, of
 * the data) and createdAt. The JSON has its own SHA-256, so a flipped bit in the metadata
 * (say, in the index) is detected like one in the data. One file per snapshot, named `<id>.snap`; while it is being
 * written it is `<id>.snap.tmp`.
 */
export const SNAPSHOT_FORMAT = "gastrolog-raft-snapshot";
/** The snapshot file format version this build writes and reads. */
export const SNAPSHOT_FORMAT_VERSION = 1;
const MAGIC = Buffer.from("GLRSNAP", "ascii");
const TAIL = 4 + 32 + MAGIC.length + 1;
const MAX_TRAILER = 16 * 1024 * 1024;

/** A stored, verified snapshot. */
export interface SnapshotInfo {
  /** Unique id: `<index>-<term>-<random>`, zero-padded so names sort by index. */
  readonly id: string;
  readonly meta: SnapshotMeta;
  /** Bytes of FSM data. */
  readonly size: number;
  /** Lowercase hex SHA-256 of the data. */
  readonly sha256: string;
  /** ISO time the snapshot was written (informational). */
  readonly createdAt: string;
  /** The file. */
  readonly path: string;
}

/**
 * A snapshot being written, in the style of hashicorp/raft's SnapshotSink: write the
 * data in chunks, then close() to commit it or cancel() to throw it away.
 */
export interface SnapshotSink {
  readonly id: string;
  /** Appends a chunk; resolves when the OS has it (backpressure: await before the next). */
  write(chunk: Uint8Array): Promise<void>;
  /**
   * Commits the snapshot: writes the metadata, fsyncs the file, renames it from its
   * temporary name, fsyncs the directory, then prunes snapshots beyond the retention
   * count. Resolves once the snapshot is durable.
   */
  close(): Promise<SnapshotInfo>;
  /** Abandons the snapshot and removes the temporary file. Idempotent. */
  cancel(): Promise<void>;
}

/** A snapshot's data, read whole. */
export interface SnapshotData {
  readonly info: SnapshotInfo;
  readonly data: Uint8Array;
}

/** File-based snapshot store (the SnapshotStore of hashicorp/raft). */
export interface SnapshotStore {
  readonly dir: string;
  /** Starts a new snapshot with this metadata. */
  create(meta: SnapshotMeta): Promise<SnapshotSink>;
  /** Convenience: create, write `data`, close. */
  save(meta: SnapshotMeta, data: Uint8Array): Promise<SnapshotInfo>;
  /** The newest valid snapshot (highest index, then term, then time), if any. */
  latest(): SnapshotInfo | undefined;
  /** Valid snapshots, newest first. */
  list(): SnapshotInfo[];
  /** Reads a snapshot whole and verifies size and checksum (`corrupt` error otherwise). */
  read(id: string): Promise<SnapshotData>;
  /**
   * Streams a snapshot's data. The stream verifies the checksum as it goes and ends with
   * an error instead of a clean end if the data does not match.
   */
  openStream(id: string): { info: SnapshotInfo; stream: Readable };
}

/** Options for {@link openSnapshotStore}. */
export interface SnapshotStoreOptions {
  /** Directory holding the snapshot files; created if missing. */
  readonly dir: string;
  /** How many valid snapshots to keep (default 2, minimum 1). */
  readonly keep?: number;
  readonly logger: Logger;
}

/**
 * Opens the snapshot directory and verifies every snapshot in it. A partial snapshot (a
 * `.tmp` left by a crash) is removed; a corrupt one (bad trailer, truncated, checksum
 * mismatch) is renamed to `<name>.corrupt`, kept for inspection, and skipped; both with a
 * warning. A snapshot of an unknown format version is not skipped: opening fails with an
 * `unknownVersion` error naming the file, since skipping it could lose data.
 */
export async function openSnapshotStore(options: SnapshotStoreOptions): Promise<SnapshotStore> {
  const keep = Math.max(1, options.keep ?? 2);
  const { dir, logger } = options;
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw RaftStorageError.from(err, dir);
  }
  const valid: SnapshotInfo[] = [];
  for (const name of (await readdir(dir)).sort()) {
    const path = join(dir, name);
    if (name.endsWith(".snap.tmp")) {
      logger.warn(
        { path },
        "raft snapshot store: removing a partial snapshot left by an interrupted write",
      );
      await rm(path, { force: true });
      continue;
    }
    if (!name.endsWith(".snap")) continue;
    const id = name.slice(0, -".snap".length);
    try {
      valid.push(await verifySnapshotFile(path, id));
    } catch (err) {
      if (err instanceof RaftStorageError && err.code === "unknownVersion") throw err;
      const reason = err instanceof Error ? err.message : String(err);
      logger.warn(
        { path, reason, movedTo: `${path}.corrupt` },
        "raft snapshot store: skipping a corrupt snapshot",
      );
      await rename(path, `${path}.corrupt`);
    }
  }
  await fsyncDir(dir);
  return new FileSnapshotStore(dir, keep, logger, valid);
}

function newer(a: SnapshotInfo, b: SnapshotInfo): number {
  return (
    b.meta.index - a.meta.index ||
    b.meta.term - a.meta.term ||
    b.createdAt.localeCompare(a.createdAt) ||
    b.id.localeCompare(a.id)
  );
}

class FileSnapshotStore implements SnapshotStore {
  #snapshots: SnapshotInfo[];

  constructor(
    readonly dir: string,
    readonly keep: number,
    readonly logger: Logger,
    snapshots: SnapshotInfo[],
  ) {
    this.#snapshots = snapshots.sort(newer);
  }

  latest(): SnapshotInfo | undefined {
    return this.#snapshots[0];
  }

  list(): SnapshotInfo[] {
    return [...this.#snapshots];
  }

  #find(id: string): SnapshotInfo {
    const info = this.#snapshots.find((s) => s.id === id);
    if (!info)
      throw new RaftStorageError("invalidArgument", `no snapshot ${id} in ${this.dir}`, this.dir);
    return info;
  }

  async read(id: string): Promise<SnapshotData> {
    const info = this.#find(id);
    const buf = await readFile(info.path).catch((err: unknown) => {
      throw RaftStorageError.from(err, info.path);
    });
    const data = new Uint8Array(buf.buffer, buf.byteOffset, Math.min(info.size, buf.length));
    if (buf.length < info.size || sha256(data) !== info.sha256) {
      throw new RaftStorageError(
        "corrupt",
        `${info.path}: snapshot data does not match its checksum`,
        info.path,
      );
    }
    return { info, data };
  }

  openStream(id: string): { info: SnapshotInfo; stream: Readable } {
    const info = this.#find(id);
    const hash = createHash("sha256");
    let seen = 0;
    const check = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        seen += chunk.length;
        cb(null, chunk);
      },
      flush(cb) {
        if (seen !== info.size || hash.digest("hex") !== info.sha256) {
          cb(
            new RaftStorageError(
              "corrupt",
              `${info.path}: snapshot data does not match its checksum`,
              info.path,
            ),
          );
        } else cb();
      },
    });
    if (info.size === 0) {
      check.end();
    } else {
      const src = createReadStream(info.path, { start: 0, end: info.size - 1 });
      src.on("error", (err) => check.destroy(RaftStorageError.from(err, info.path)));
      src.pipe(check);
    }
    return { info, stream: check };
  }

  async create(meta: SnapshotMeta): Promise<SnapshotSink> {
    let m: SnapshotMeta;
    try {
      m = parseSnapshotMeta(meta);
    } catch (err) {
      throw new RaftStorageError("invalidArgument", `bad snapshot meta: ${(err as Error).message}`);
    }
    const id = `${pad(m.index)}-${pad(m.term)}-${randomBytes(4).toString("hex")}`;
    const path = join(this.dir, `${id}.snap`);
    const tmp = `${path}.tmp`;
    const fh = await open(tmp, "wx", 0o600).catch((err: unknown) => {
      throw RaftStorageError.from(err, tmp);
    });
    return new FileSink(this, id, m, path, tmp, fh);
  }

  async save(meta: SnapshotMeta, data: Uint8Array): Promise<SnapshotInfo> {
    const sink = await this.create(meta);
    try {
      await sink.write(data);
    } catch (err) {
      await sink.cancel();
      throw err;
    }
    return sink.close();
  }

  /** Called by a sink once its file is durable: record it and prune old snapshots. */
  async committed(info: SnapshotInfo): Promise<void> {
    this.#snapshots = [...this.#snapshots, info].sort(newer);
    const drop = this.#snapshots.slice(this.keep);
    this.#snapshots = this.#snapshots.slice(0, this.keep);
    for (const old of drop) {
      await rm(old.path, { force: true });
    }
    if (drop.length > 0) await fsyncDir(this.dir);
  }
}

class FileSink implements SnapshotSink {
  readonly #hash = createHash("sha256");
  #size = 0;
  #chain: Promise<void> = Promise.resolve();
  #state: "open" | "closed" | "cancelled" | "failed" = "open";

  constructor(
    readonly store: FileSnapshotStore,
    readonly id: string,
    readonly meta: SnapshotMeta,
    readonly path: string,
    readonly tmp: string,
    readonly fh: FileHandle,
  ) {}

  write(chunk: Uint8Array): Promise<void> {
    if (this.#state !== "open") {
      return Promise.reject(
        new RaftStorageError("invalidArgument", `snapshot ${this.id} is ${this.#state}`),
      );
    }
    // Writes are serialised so that chunks land in order even if the caller does not await.
    const next = this.#chain.then(async () => {
      this.#hash.update(chunk);
      this.#size += chunk.length;
      await this.fh.write(chunk);
    });
    this.#chain = next.catch(() => {
      this.#state = "failed";
    });
    return next.catch((err: unknown) => {
      throw RaftStorageError.from(err, this.tmp);
    });
  }

  async close(): Promise<SnapshotInfo> {
    if (this.#state !== "open") {
      throw new RaftStorageError("invalidArgument", `snapshot ${this.id} is ${this.#state}`);
    }
    await this.#chain;
    if (this.#state !== "open") {
      await this.cancel();
      throw new RaftStorageError("io", `${this.tmp}: an earlier write failed`, this.tmp);
    }
    this.#state = "closed";
    const sha = this.#hash.digest("hex");
    const createdAt = new Date().toISOString();
    const trailer = Buffer.from(
      JSON.stringify({
        format: SNAPSHOT_FORMAT,
        version: SNAPSHOT_FORMAT_VERSION,
        index: this.meta.index,
        term: this.meta.term,
        conf: this.meta.conf,
        size: this.#size,
        sha256: sha,
        createdAt,
      }),
    );
    const tail = Buffer.alloc(TAIL);
    tail.writeUInt32BE(trailer.length, 0);
    createHash("sha256").update(trailer).digest().copy(tail, 4);
    MAGIC.copy(tail, 36);
    tail[TAIL - 1] = SNAPSHOT_FORMAT_VERSION;
    try {
      await this.fh.write(trailer);
      await this.fh.write(tail);
      await this.fh.sync();
      await this.fh.close();
      await rename(this.tmp, this.path);
      await fsyncDir(this.store.dir);
    } catch (err) {
      await this.fh.close().catch(() => undefined);
      await rm(this.tmp, { force: true });
      throw RaftStorageError.from(err, this.tmp);
    }
    const info: SnapshotInfo = {
      id: this.id,
      meta: this.meta,
      size: this.#size,
      sha256: sha,
      createdAt,
      path: this.path,
    };
    await this.store.committed(info);
    return info;
  }

  async cancel(): Promise<void> {
    if (this.#state === "closed" || this.#state === "cancelled") return;
    this.#state = "cancelled";
    await this.#chain;
    await this.fh.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

/**
 * Reads and checks one snapshot file: trailer, metadata, length and checksum. Throws
 * `unknownVersion` for a trailer of another format version, a plain Error for damage.
 */
export async function verifySnapshotFile(path: string, id: string): Promise<SnapshotInfo> {
  const { size: fileSize } = await stat(path);
  if (fileSize < TAIL) throw new Error(`truncated: ${fileSize} bytes`);
  const fh = await open(path, "r");
  let meta: SnapshotMeta;
  let size: number;
  let sha: string;
  let createdAt: string;
  try {
    const tail = Buffer.alloc(TAIL);
    await fh.read(tail, 0, TAIL, fileSize - TAIL);
    if (!tail.subarray(36, 36 + MAGIC.length).equals(MAGIC)) {
      throw new Error("no snapshot trailer (truncated or not a snapshot)");
    }
    const version = tail[TAIL - 1];
    if (version !== SNAPSHOT_FORMAT_VERSION) {
      throw new RaftStorageError(
        "unknownVersion",
        `${path}: snapshot format version ${version}; this build reads version ${SNAPSHOT_FORMAT_VERSION}`,
        path,
      );
    }
    const len = tail.readUInt32BE(0);
    if (len > MAX_TRAILER || len > fileSize - TAIL) throw new Error(`bad trailer length ${len}`);
    const json = Buffer.alloc(len);
    await fh.read(json, 0, len, fileSize - TAIL - len);
    if (!createHash("sha256").update(json).digest().equals(tail.subarray(4, 36))) {
      throw new Error("metadata checksum mismatch: the trailer is damaged");
    }
    const rec = JSON.parse(json.toString("utf8")) as Record<string, unknown>;
    if (rec.format !== SNAPSHOT_FORMAT)
      throw new Error(`trailer names format ${String(rec.format)}`);
    meta = parseSnapshotMeta(rec);
    size = rec.size as number;
    sha = rec.sha256 as string;
    createdAt = typeof rec.createdAt === "string" ? rec.createdAt : "";
    if (!Number.isSafeInteger(size) || size !== fileSize - TAIL - len) {
      throw new Error(
        `size ${String(rec.size)} does not match the file (${fileSize - TAIL - len} data bytes)`,
      );
    }
    if (typeof sha !== "string" || !/^[0-9a-f]{64}$/.test(sha))
      throw new Error("bad sha256 in trailer");
  } finally {
    await fh.close();
  }
  const hash = createHash("sha256");
  if (size > 0) {
    for await (const chunk of createReadStream(path, { start: 0, end: size - 1 })) {
      hash.update(chunk as Buffer);
    }
  }
  if (hash.digest("hex") !== sha) throw new Error("checksum mismatch: the data is damaged");
  return { id, meta, size, sha256: sha, createdAt, path };
}

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

function pad(n: number): string {
  return n.toString().padStart(16, "0");
}
