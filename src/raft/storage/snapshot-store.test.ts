import assert from "node:assert/strict";
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { pino } from "pino";
import type { Logger } from "../../log.js";
import type { SnapshotMeta } from "../types.js";
import { openSnapshotStore } from "./snapshot-store.js";
import { corruptFile } from "./snapshot-store.test-util.js";
import { RaftStorageError } from "./storage-error.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "raft-snap-"));
  dirs.push(d);
  return d;
}
function captureLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = pino(
    { level: "warn" },
    { write: (l: string) => warnings.push((JSON.parse(l) as { msg: string }).msg) },
  );
  return { logger, warnings };
}
const meta = (index: number, term = 1): SnapshotMeta => ({
  index,
  term,
  conf: { voters: ["a", "b"], learners: ["c"], addrs: { a: "h:1", b: "h:2", c: "h:3" } },
});
const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

test("snapshots round-trip with metadata (index, term, membership, size, checksum); the last N are kept", async () => {
  const dir = tempDir();
  const { logger, warnings } = captureLogger();
  const store = await openSnapshotStore({ dir, logger, keep: 2 });
  assert.equal(store.latest(), undefined);
  for (const i of [10, 20, 30]) await store.save(meta(i), bytes(1000 + i, i));
  assert.deepEqual(
    store.list().map((s) => s.meta.index),
    [30, 20],
  );
  assert.equal(readdirSync(dir).filter((n) => n.endsWith(".snap")).length, 2);
  const latest = store.latest()!;
  assert.deepEqual(latest.meta, meta(30));
  assert.equal(latest.size, 1030);
  assert.match(latest.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual((await store.read(latest.id)).data, bytes(1030, 30));
  // Reopen: same view, no warnings.
  const again = await openSnapshotStore({ dir, logger, keep: 2 });
  assert.deepEqual(again.list(), store.list());
  assert.deepEqual(warnings, []);
});

test("a streaming sink writes chunks; cancel() removes the temporary file; an open sink is invisible", async () => {
  const dir = tempDir();
  const store = await openSnapshotStore({ dir, logger: captureLogger().logger });
  const sink = await store.create(meta(5));
  await sink.write(bytes(10, 1));
  await sink.write(bytes(20, 2));
  assert.equal(store.latest(), undefined);
  assert.ok(readdirSync(dir).some((n) => n.endsWith(".snap.tmp")));
  const info = await sink.close();
  assert.equal(info.size, 30);
  const { stream } = store.openStream(info.id);
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  assert.deepEqual(
    new Uint8Array(Buffer.concat(chunks)),
    new Uint8Array([...bytes(10, 1), ...bytes(20, 2)]),
  );

  const dropped = await store.create(meta(6));
  await dropped.write(bytes(5, 5));
  await dropped.cancel();
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes(".tmp")),
    [],
  );
  assert.equal(store.latest()?.meta.index, 5);
});

test("a partial snapshot (crash mid-write) is removed with a warning", async () => {
  const dir = tempDir();
  const store = await openSnapshotStore({ dir, logger: captureLogger().logger });
  await store.save(meta(1), bytes(10, 1));
  const sink = await store.create(meta(2));
  await sink.write(bytes(100, 2)); // never closed: as if the process died here
  const { logger, warnings } = captureLogger();
  const reopened = await openSnapshotStore({ dir, logger });
  assert.equal(reopened.latest()?.meta.index, 1);
  assert.ok(
    warnings.some((w) => /partial snapshot/.test(w)),
    warnings.join("\n"),
  );
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes(".tmp")),
    [],
  );
  await sink.cancel();
});

test("corrupt snapshots (bit flip, truncation, bad trailer) are skipped with a warning, falling back to the previous", async () => {
  for (const damage of ["flip", "truncate", "trailer"] as const) {
    const dir = tempDir();
    const store = await openSnapshotStore({ dir, logger: captureLogger().logger, keep: 3 });
    await store.save(meta(1), bytes(500, 1));
    const bad = await store.save(meta(2), bytes(500, 2));
    if (damage === "flip") corruptFile(bad.path, 100);
    if (damage === "truncate") truncateSync(bad.path, statSync(bad.path).size - 30);
    if (damage === "trailer") corruptFile(bad.path, statSync(bad.path).size - 20);
    const { logger, warnings } = captureLogger();
    const reopened = await openSnapshotStore({ dir, logger, keep: 3 });
    assert.equal(reopened.latest()?.meta.index, 1, damage);
    assert.ok(
      warnings.some((w) => /corrupt snapshot/.test(w)),
      `${damage}: ${warnings.join("\n")}`,
    );
    assert.ok(existsSync(`${bad.path}.corrupt`), "kept for inspection");
  }
});

test("a snapshot of an unknown format version fails the open, naming the file", async () => {
  const dir = tempDir();
  const store = await openSnapshotStore({ dir, logger: captureLogger().logger });
  const info = await store.save(meta(1), bytes(10, 1));
  const size = statSync(info.path).size;
  const { openSync, writeSync, closeSync } = await import("node:fs");
  const fd = openSync(info.path, "r+");
  writeSync(fd, Buffer.from([7]), 0, 1, size - 1);
  closeSync(fd);
  await assert.rejects(
    openSnapshotStore({ dir, logger: captureLogger().logger }),
    (err: unknown) => {
      assert.ok(err instanceof RaftStorageError);
      assert.equal(err.code, "unknownVersion");
      assert.ok(err.message.includes(info.path), err.message);
      return true;
    },
  );
  writeFileSync(join(dir, "unrelated.txt"), "ignored");
});

test("a stream of damaged data ends with an error instead of a clean end", async () => {
  const dir = tempDir();
  const store = await openSnapshotStore({ dir, logger: captureLogger().logger });
  const info = await store.save(meta(1), bytes(4096, 1));
  corruptFile(info.path, 7);
  await assert.rejects(async () => {
    for await (const _ of store.openStream(info.id).stream) {
      // drain
    }
  }, /checksum/);
  await assert.rejects(store.read(info.id), /checksum/);
});
