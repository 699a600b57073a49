/**
 * Micro-benchmark of the durable Raft log (src/raft/storage): appends per second of
 * 256-byte entries with one awaited save() (one fsync'd lmdb commit) per batch, at batch
 * sizes 1, 16 and 256 — what one drive-loop turn hands to storage.
 *
 * Baseline, measured in the same run and interleaved round by round with the lmdb runs so
 * that both see the same disk weather: the same bytes written with fs.writeSync and made
 * durable with fs.fsyncSync on a plain file, one fsync per batch: the physical limit of
 * fsync on this disk. The ratio lmdb/baseline is the figure to watch (1.0 = storage costs
 * no more than a bare fsync per turn).
 *
 * Run: npm run bench:storage. Last output line: one JSON object.
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createRaftStorage } from "../src/raft/storage/index.js";
import type { Entry } from "../src/raft/types.js";

const ENTRY_BYTES = 256;
const BATCHES = [1, 16, 256] as const;
const ROUNDS = 5;
/** Batches (= fsyncs) per round, per batch size. */
const TURNS: Record<number, number> = { 1: 300, 16: 150, 256: 40 };

const dir = mkdtempSync(join(tmpdir(), "bench-raft-storage-"));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function main(): Promise<void> {
  const storage = await createRaftStorage({
    dir: join(dir, "raft"),
    logger: pino({ level: "silent" }),
  });
  const rawPath = join(dir, "raw.log");
  const rawFd = openSync(rawPath, "w");
  const payload = new Uint8Array(ENTRY_BYTES).fill(0xab);
  let next = 1;
  const rates: Record<number, { lmdb: number[]; fsync: number[] }> = {};
  try {
    // Warm-up: grow the lmdb map and the file a little so the first round is not special.
    for (let i = 0; i < 50; i++) {
      await storage.save({ entries: [{ index: next, term: 1, type: "normal", data: payload }] });
      next++;
    }
    for (const batch of BATCHES) {
      rates[batch] = { lmdb: [], fsync: [] };
      const turns = TURNS[batch]!;
      const bytes = Buffer.alloc(batch * (ENTRY_BYTES + 16), 0xab); // + a small per-entry header
      for (let r = 0; r < ROUNDS; r++) {
        let t = performance.now();
        for (let i = 0; i < turns; i++) {
          writeSync(rawFd, bytes);
          fsyncSync(rawFd);
        }
        rates[batch]!.fsync.push((turns * batch * 1000) / (performance.now() - t));

        t = performance.now();
        for (let i = 0; i < turns; i++) {
          const entries: Entry[] = [];
          for (let k = 0; k < batch; k++)
            entries.push({ index: next++, term: 1, type: "normal", data: payload });
          await storage.save({ entries, hardState: { term: 1, vote: "a", commit: next - 1 } });
        }
        rates[batch]!.lmdb.push((turns * batch * 1000) / (performance.now() - t));
        // Keep the log bounded like the runtime would, with a snapshot marker and compaction.
        const snapIndex = next - 1;
        await storage.save({
          snapshot: { index: snapIndex, term: 1, conf: { voters: ["a"], learners: [], addrs: {} } },
        });
        await storage.compact(snapIndex);
      }
    }
  } finally {
    closeSync(rawFd);
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const results: Record<string, { lmdbPerSec: number; fsyncPerSec: number; ratio: number }> = {};
  console.log(
    `raft storage appends/sec, ${ENTRY_BYTES}-byte entries, one durable save per batch (median of ${ROUNDS} rounds)`,
  );
  console.log("batch   lmdb save/s   raw fsync/s   ratio");
  for (const batch of BATCHES) {
    const lmdb = median(rates[batch]!.lmdb);
    const fsync = median(rates[batch]!.fsync);
    const ratio = lmdb / fsync;
    results[`batch${batch}`] = {
      lmdbPerSec: Math.round(lmdb),
      fsyncPerSec: Math.round(fsync),
      ratio: Number(ratio.toFixed(3)),
    };
    console.log(
      `${String(batch).padStart(5)}   ${Math.round(lmdb).toString().padStart(11)}   ${Math.round(fsync).toString().padStart(11)}   ${ratio.toFixed(2).padStart(5)}`,
    );
  }
  const ratio = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.ratio]));
  console.log(JSON.stringify({ bench: "raft-storage", entryBytes: ENTRY_BYTES, ratio, results }));
}

await main();
