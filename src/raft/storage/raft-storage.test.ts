import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { open } from "lmdb";
import { pino } from "pino";
import type { Logger } from "../../log.js";
import type { ConfState, Entry, SnapshotMeta } from "../types.js";
import { createRaftStorage, type RaftStorage, RaftStorageError } from "./index.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "raft-storage-"));
  dirs.push(d);
  return d;
}

/** A real pino logger whose lines are captured, so tests can assert on warnings. */
function captureLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = pino(
    { level: "warn" },
    {
      write(line: string) {
        warnings.push((JSON.parse(line) as { msg: string }).msg);
      },
    },
  );
  return { logger, warnings };
}

const quiet = () => captureLogger().logger;
const conf: ConfState = {
  voters: ["a", "b", "c"],
  learners: [],
  addrs: { a: "h:1", b: "h:2", c: "h:3" },
};
const e = (index: number, term: number, byte = index & 0xff): Entry => ({
  index,
  term,
  type: "normal",
  data: new Uint8Array([byte, byte]),
});
const meta = (index: number, term: number): SnapshotMeta => ({ index, term, conf });

async function withStorage<T>(dir: string, fn: (s: RaftStorage) => Promise<T>): Promise<T> {
  const s = await createRaftStorage({ dir, logger: quiet() });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

async function rejectsWith(
  p: Promise<unknown>,
  code: string,
  re: RegExp,
): Promise<RaftStorageError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RaftStorageError, `expected RaftStorageError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.match(err.message, re);
    return err;
  }
  assert.fail(`expected a ${code} error matching ${re}`);
}

test("a new store loads empty; entries (incl. conf changes) and hard state round-trip across reopen", async () => {
  const dir = tempDir();
  const entries: Entry[] = [
    { index: 1, term: 1, type: "noop", data: new Uint8Array() },
    {
      index: 2,
      term: 1,
      type: "conf",
      data: new Uint8Array(),
      change: { type: "addVoter", nodeId: "b", addr: "127.0.0.1:4566" },
    },
    e(3, 2),
  ];
  const before = await withStorage(dir, async (s) => {
    assert.deepEqual(s.load(), { hardState: { term: 0, vote: "", commit: 0 }, entries: [] });
    await s.save({ hardState: { term: 2, vote: "a", commit: 2 }, entries });
    const st = s.load();
    assert.deepEqual(st, { hardState: { term: 2, vote: "a", commit: 2 }, entries });
    return st;
  });
  await withStorage(dir, async (s) => assert.deepEqual(s.load(), before));
});

test("a conflicting suffix is truncated when entries overwrite from entries[0].index", async () => {
  const dir = tempDir();
  await withStorage(dir, async (s) => {
    await s.save({
      hardState: { term: 1, vote: "a", commit: 1 },
      entries: [1, 2, 3, 4, 5].map((i) => e(i, 1)),
    });
    // A shorter replacement: 3..5 of term 1 give way to 3 of term 2; 4 and 5 must go.
    await s.save({ hardState: { term: 2, vote: "b", commit: 1 }, entries: [e(3, 2, 99)] });
    assert.deepEqual(s.load().entries, [e(1, 1), e(2, 1), e(3, 2, 99)]);
    assert.deepEqual(
      s.log.entries(1, 100),
      [e(1, 1), e(2, 1), e(3, 2, 99)],
      "4 and 5 are gone from disk",
    );
  });
  await withStorage(dir, async (s) => {
    assert.deepEqual(s.load().entries, [e(1, 1), e(2, 1), e(3, 2, 99)]);
    // A longer replacement from the middle.
    await s.save({
      entries: [e(3, 3), e(4, 3), e(5, 3), e(6, 3)],
      hardState: { term: 3, vote: "", commit: 2 },
    });
    assert.deepEqual(
      s.load().entries.map((x) => [x.index, x.term]),
      [
        [1, 1],
        [2, 1],
        [3, 3],
        [4, 3],
        [5, 3],
        [6, 3],
      ],
    );
  });
  await withStorage(dir, async (s) => {
    assert.deepEqual(
      s.load().entries.map((x) => [x.index, x.term]),
      [
        [1, 1],
        [2, 1],
        [3, 3],
        [4, 3],
        [5, 3],
        [6, 3],
      ],
    );
  });
});

test("compaction drops the prefix up to the recorded snapshot, never beyond it", async () => {
  const dir = tempDir();
  await withStorage(dir, async (s) => {
    await s.save({
      hardState: { term: 1, vote: "a", commit: 8 },
      entries: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => e(i, 1)),
    });
    await rejectsWith(s.compact(3), "invalidArgument", /after the recorded snapshot/);
    await s.snapshots.save(meta(6, 1), new Uint8Array([6]));
    await s.save({ snapshot: meta(6, 1) });
    // The matching log is kept as a trailing window until compact().
    assert.equal(s.log.firstIndex(), 1);
    assert.deepEqual(
      s.load().entries.map((x) => x.index),
      [7, 8, 9, 10],
    );
    await s.compact(4);
    assert.equal(s.log.firstIndex(), 5);
    assert.deepEqual(
      s.log.entries(1, 10).map((x) => x.index),
      [5, 6, 7, 8, 9, 10],
    );
    await rejectsWith(s.compact(7), "invalidArgument", /after the recorded snapshot/);
  });
  await withStorage(dir, async (s) => {
    const st = s.load();
    assert.deepEqual(st.snapshot, meta(6, 1));
    assert.deepEqual(
      st.entries.map((x) => x.index),
      [7, 8, 9, 10],
    );
    assert.equal(s.log.firstIndex(), 5);
    assert.deepEqual((await s.loadSnapshot())?.data, new Uint8Array([6]));
  });
});

test("a snapshot from the leader that the log does not contain supersedes the whole log", async () => {
  const dir = tempDir();
  await withStorage(dir, async (s) => {
    await s.save({
      hardState: { term: 2, vote: "a", commit: 2 },
      entries: [e(1, 1), e(2, 1), e(3, 2), e(4, 2)],
    });
    await s.snapshots.save(meta(20, 5), new Uint8Array([20]));
    await s.save({
      snapshot: meta(20, 5),
      entries: [e(21, 5)],
      hardState: { term: 5, vote: "", commit: 20 },
    });
    assert.deepEqual(
      s.log.entries(1, 100).map((x) => x.index),
      [21],
    );
  });
  await withStorage(dir, async (s) => {
    const st = s.load();
    assert.deepEqual(st.snapshot, meta(20, 5));
    assert.deepEqual(st.entries, [e(21, 5)]);
    assert.deepEqual(st.hardState, { term: 5, vote: "", commit: 20 });
  });
});

test("invalid saves are refused and write nothing", async () => {
  const dir = tempDir();
  await withStorage(dir, async (s) => {
    await s.save({
      hardState: { term: 3, vote: "a", commit: 3 },
      entries: [1, 2, 3, 4].map((i) => e(i, 3)),
    });
    const before = s.load();
    await rejectsWith(s.save({ entries: [e(7, 3)] }), "invalidArgument", /5\.\.5|1\.\.5/);
    await rejectsWith(s.save({ entries: [e(5, 3), e(7, 3)] }), "invalidArgument", /not contiguous/);
    await rejectsWith(s.save({ entries: [e(2, 4)] }), "invalidArgument", /overwrite committed/);
    await rejectsWith(s.save({ entries: [e(5, 2)] }), "invalidArgument", /term 2 after term 3/);
    await rejectsWith(
      s.save({ hardState: { term: 2, vote: "", commit: 3 } }),
      "invalidArgument",
      /below/,
    );
    await rejectsWith(
      s.save({ hardState: { term: 3, vote: "b", commit: 3 } }),
      "invalidArgument",
      /vote/,
    );
    await rejectsWith(
      s.save({ hardState: { term: 3, vote: "a", commit: 9 } }),
      "invalidArgument",
      /beyond/,
    );
    // A bad entry in a batch with a good hard state: neither is written.
    await rejectsWith(
      s.save({
        hardState: { term: 4, vote: "", commit: 4 },
        entries: [e(5, 4), { ...e(6, 4), term: -1 }],
      }),
      "invalidArgument",
      /term -1/,
    );
    assert.deepEqual(s.load(), before);
  });
});

test("saves issued in one event-loop turn share one lmdb commit (one fsync)", async () => {
  const dir = tempDir();
  await withStorage(dir, async (s) => {
    const c0 = s.log.stats().commits;
    // 32 saves awaited one by one: 32 commits.
    for (let i = 1; i <= 32; i++) await s.save({ entries: [e(i, 1)] });
    const c1 = s.log.stats().commits;
    assert.equal(c1 - c0, 32);
    // 32 saves issued in the same turn: they coalesce into a single commit.
    const ps: Promise<void>[] = [];
    for (let i = 33; i <= 64; i++)
      ps.push(s.save({ entries: [e(i, 1)], hardState: { term: 1, vote: "", commit: i - 1 } }));
    await Promise.all(ps);
    const c2 = s.log.stats().commits;
    assert.equal(c2 - c1, 1, `expected one commit for 32 same-turn saves, got ${c2 - c1}`);
    assert.equal(s.load().entries.length, 64);
  });
});

test("opening a store of an unknown format version fails and names the file", async () => {
  const dir = tempDir();
  await withStorage(dir, async () => undefined);
  const path = join(dir, "raft.mdb");
  const root = open({ path, noSubdir: true, overlappingSync: false });
  await root
    .openDB<string, string>({ name: "stable", encoding: "string" })
    .put("format", JSON.stringify({ format: "gastrolog-raft-log", version: 99 }));
  await root.close();
  const err = await rejectsWith(
    createRaftStorage({ dir, logger: quiet() }),
    "unknownVersion",
    /version 99/,
  );
  assert.ok(err.message.includes(path), err.message);
  assert.equal(err.path, path);
});

test("a store without a format record is refused, not reset", async () => {
  const dir = tempDir();
  const path = join(dir, "raft.mdb");
  const root = open({ path, noSubdir: true, overlappingSync: false });
  await root.openDB<string, string>({ name: "stable", encoding: "string" }).put("hardState", "{}");
  await root.close();
  const err = await rejectsWith(
    createRaftStorage({ dir, logger: quiet() }),
    "corrupt",
    /no format record/,
  );
  assert.ok(err.message.includes(path));
});

test("garbage, truncated and empty lmdb files give a clear error naming the file (no crash, no reset)", async () => {
  for (const [name, bytes] of [
    ["garbage", Buffer.alloc(20000, 7)],
    ["short", Buffer.alloc(100, 0)],
    ["empty", Buffer.alloc(0)],
  ] as const) {
    const dir = tempDir();
    const path = join(dir, "raft.mdb");
    writeFileSync(path, bytes);
    const err = await rejectsWith(
      createRaftStorage({ dir, logger: quiet() }),
      "corrupt",
      /raft log store is damaged/,
    );
    assert.ok(err.message.includes(path), `${name}: ${err.message}`);
  }
  // A valid store whose first page was overwritten.
  const dir = tempDir();
  await withStorage(dir, (s) => s.save({ entries: [e(1, 1)] }));
  const path = join(dir, "raft.mdb");
  const { openSync, writeSync, closeSync } = await import("node:fs");
  const fd = openSync(path, "r+");
  writeSync(fd, Buffer.alloc(64, 0x55), 0, 64, 0);
  closeSync(fd);
  const err = await rejectsWith(
    createRaftStorage({ dir, logger: quiet() }),
    "corrupt",
    /not a valid LMDB/,
  );
  assert.ok(err.message.includes(path));
});

test("a damaged entry record is reported with the file name", async () => {
  const dir = tempDir();
  await withStorage(dir, (s) => s.save({ entries: [e(1, 1), e(2, 1)] }));
  const path = join(dir, "raft.mdb");
  const root = open({ path, noSubdir: true, overlappingSync: false });
  await root
    .openDB<Buffer, number>({ name: "log", encoding: "binary" })
    .put(2, Buffer.from([1, 9]));
  await root.close();
  const err = await rejectsWith(createRaftStorage({ dir, logger: quiet() }), "corrupt", /entry 2/);
  assert.ok(err.message.includes(path));
});

test("a log that starts after the snapshot ends is refused (entries would be lost)", async () => {
  const dir = tempDir();
  await withStorage(dir, async () => undefined);
  const path = join(dir, "raft.mdb");
  const root = open({ path, noSubdir: true, overlappingSync: false });
  const { encodeEntry } = await import("./entry-codec.js");
  const log = root.openDB<Buffer, number>({ name: "log", encoding: "binary" });
  log.put(5, Buffer.from(encodeEntry(e(5, 1))));
  await log.put(6, Buffer.from(encodeEntry(e(6, 1))));
  await root.close();
  const err = await rejectsWith(
    createRaftStorage({ dir, logger: quiet() }),
    "inconsistent",
    /starts at entry 5/,
  );
  assert.ok(err.message.includes(path));
});

test("snapshots without a log store are refused: votes and terms were lost", async () => {
  const dir = tempDir();
  await withStorage(dir, async (s) => {
    await s.save({ entries: [e(1, 1), e(2, 1)], hardState: { term: 1, vote: "a", commit: 2 } });
    await s.snapshots.save(meta(2, 1), new Uint8Array([2]));
  });
  rmSync(join(dir, "raft.mdb"));
  await rejectsWith(
    createRaftStorage({ dir, logger: quiet() }),
    "inconsistent",
    /raft\.mdb is missing/,
  );
});

test("a snapshot written just before a crash but not yet recorded is recorded on open", async () => {
  const dir = tempDir();
  await withStorage(dir, async (s) => {
    await s.save({
      entries: [e(1, 1), e(2, 1), e(3, 2)],
      hardState: { term: 2, vote: "a", commit: 1 },
    });
    // Install from the leader, interrupted between the snapshot file and the log record.
    await s.snapshots.save(meta(10, 3), new Uint8Array([10]));
  });
  const { logger, warnings } = captureLogger();
  const s = await createRaftStorage({ dir, logger });
  try {
    const st = s.load();
    assert.deepEqual(st.snapshot, meta(10, 3));
    assert.deepEqual(st.entries, []);
    assert.equal(st.hardState.commit, 10);
    assert.ok(
      warnings.some((w) => /not yet recorded/.test(w)),
      warnings.join("\n"),
    );
    await s.save({ entries: [e(11, 3)] });
  } finally {
    await s.close();
  }
  await withStorage(dir, async (s2) => assert.deepEqual(s2.load().entries, [e(11, 3)]));
});

test("a damaged newest snapshot falls back to the previous one when the log covers the gap, else refuses", async () => {
  const { corruptFile } = await import("./snapshot-store.test-util.js");
  const dir = tempDir();
  await withStorage(dir, async (s) => {
    await s.save({
      entries: [1, 2, 3, 4, 5, 6, 7, 8].map((i) => e(i, 1)),
      hardState: { term: 1, vote: "a", commit: 8 },
    });
    await s.snapshots.save(meta(3, 1), new Uint8Array([3]));
    await s.save({ snapshot: meta(3, 1) });
    await s.snapshots.save(meta(6, 1), new Uint8Array([6]));
    await s.save({ snapshot: meta(6, 1) });
    await s.compact(3); // keep the log since the previous snapshot
  });
  const newest = (await withStorage(dir, async (s) => s.snapshots.latest()))!;
  corruptFile(newest.path, 0);
  const { logger, warnings } = captureLogger();
  const s = await createRaftStorage({ dir, logger });
  try {
    const st = s.load();
    assert.deepEqual(st.snapshot, meta(3, 1));
    assert.deepEqual(
      st.entries.map((x) => x.index),
      [4, 5, 6, 7, 8],
    );
    assert.ok(
      warnings.some((w) => /corrupt snapshot/.test(w)),
      warnings.join("\n"),
    );
    assert.ok(
      warnings.some((w) => /falling back/.test(w)),
      warnings.join("\n"),
    );
  } finally {
    await s.close();
  }

  // Same, but the log was compacted to the newest snapshot: nothing covers 4..6.
  const dir2 = tempDir();
  await withStorage(dir2, async (s2) => {
    await s2.save({
      entries: [1, 2, 3, 4, 5, 6, 7, 8].map((i) => e(i, 1)),
      hardState: { term: 1, vote: "a", commit: 8 },
    });
    await s2.snapshots.save(meta(3, 1), new Uint8Array([3]));
    await s2.save({ snapshot: meta(3, 1) });
    const info = await s2.snapshots.save(meta(6, 1), new Uint8Array([6]));
    await s2.save({ snapshot: meta(6, 1) });
    await s2.compact(6);
    corruptFile(info.path, 0);
  });
  await rejectsWith(
    createRaftStorage({ dir: dir2, logger: quiet() }),
    "inconsistent",
    /would be lost/,
  );
});
