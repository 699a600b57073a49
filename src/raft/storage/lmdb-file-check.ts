import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { RaftStorageError } from "./storage-error.js";

/** LMDB's file magic and the data-file format version lmdb-js 3.x writes. */
const MDB_MAGIC = 0xbeefc0de;
const MDB_DATA_VERSION = 2;
/** Offsets inside a meta page: a 24-byte page header, then MDB_meta. */
const META_MAGIC_OFFSET = 24;
const META_VERSION_OFFSET = 28;
/** mm_dbs[FREE_DBI].md_pad holds the page size (a 32-bit field, native byte order). */
const META_PSIZE_OFFSET = 48;

/**
 * Checks that an existing file looks like an LMDB data file before lmdb-js opens it.
 *
 * Why: lmdb-js 3.5 crashes the whole process with SIGSEGV when asked to open a file that
 * is not an LMDB database (measured: a file of repeated bytes, and a 100-byte file), and it
 * silently initialises a zero-length file as a brand-new empty database. Neither is
 * acceptable for a Raft log: one kills the node without a word, the other forgets votes
 * and entries. So both meta pages are checked here (magic, format version, page size) and
 * anything else becomes a clear `corrupt` / `unknownVersion` error naming the file.
 *
 * This guards the file header only; damage inside B-tree pages is caught later when the
 * log is read and decoded (or, for pages lmdb itself trips over, not at all: a known
 * limit of a memory-mapped store without page checksums).
 */
export function checkLmdbFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (err) {
    throw RaftStorageError.from(err, path);
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) {
      throw new RaftStorageError(
        "corrupt",
        `${path} is empty (0 bytes): the raft log store is damaged; restore it from a backup or re-enroll this node`,
        path,
      );
    }
    const head = Buffer.alloc(64);
    const n = readSync(fd, head, 0, head.length, 0);
    if (n < head.length) throw notLmdb(path, `only ${size} bytes long`);
    const le = head.readUInt32LE(META_MAGIC_OFFSET) === MDB_MAGIC;
    const be = head.readUInt32BE(META_MAGIC_OFFSET) === MDB_MAGIC;
    if (!le && !be) throw notLmdb(path, "no LMDB magic in its first meta page");
    const read32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const version = read32(head, META_VERSION_OFFSET) & 0xffff;
    if (version !== MDB_DATA_VERSION) {
      throw new RaftStorageError(
        "unknownVersion",
        `${path} is an LMDB file of data format ${version}; this build reads format ${MDB_DATA_VERSION}`,
        path,
      );
    }
    const psize = read32(head, META_PSIZE_OFFSET);
    if (psize < 512 || psize > 65536 || (psize & (psize - 1)) !== 0) {
      throw notLmdb(path, `implausible page size ${psize}`);
    }
    if (size < 2 * psize) throw notLmdb(path, `truncated to ${size} bytes (page size ${psize})`);
    const second = Buffer.alloc(32);
    readSync(fd, second, 0, second.length, psize);
    if (read32(second, META_MAGIC_OFFSET) !== MDB_MAGIC) {
      throw notLmdb(path, "no LMDB magic in its second meta page");
    }
  } finally {
    closeSync(fd);
  }
}

function notLmdb(path: string, why: string): RaftStorageError {
  return new RaftStorageError(
    "corrupt",
    `${path} is not a valid LMDB database (${why}): the raft log store is damaged; restore it from a backup or re-enroll this node`,
    path,
  );
}
