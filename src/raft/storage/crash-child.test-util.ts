/**
 * Child process for the crash-durability test: writes entries forever and prints the
 * index of the last entry of every save() once its promise has resolved (so every printed
 * index is acknowledged as durable). The parent SIGKILLs it mid-stream.
 *
 * Usage: node --import tsx crash-child.test-util.ts <dir>
 */
import { pino } from "pino";
import type { Entry } from "../types.js";
import { createRaftStorage } from "./raft-storage.js";

const dir = process.argv[2];
if (!dir) throw new Error("usage: crash-child <dir>");
const storage = await createRaftStorage({ dir, logger: pino({ level: "silent" }) });
const payload = (i: number) => new Uint8Array(256).fill(i & 0xff);
let next = storage.log.lastIndex() + 1;
const term = storage.load().hardState.term || 1;
for (let round = 0; ; round++) {
  // Alternate single awaited saves with bursts of saves in one turn (group commit).
  const burst = round % 3 === 0 ? 1 : 1 + (round % 7);
  const pending: Promise<number>[] = [];
  for (let b = 0; b < burst; b++) {
    const size = 1 + ((round + b) % 4);
    const entries: Entry[] = [];
    for (let k = 0; k < size; k++, next++)
      entries.push({ index: next, term, type: "normal", data: payload(next) });
    const last = next - 1;
    pending.push(
      storage.save({ entries, hardState: { term, vote: "", commit: last } }).then(() => last),
    );
  }
  for (const p of pending) process.stdout.write(`${await p}\n`);
}
