import { closeSync, openSync, readSync, writeSync } from "node:fs";

/** Test helper: flips one byte of a file in place (simulates bit rot). */
export function corruptFile(path: string, offset: number): void {
  const fd = openSync(path, "r+");
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0] = (b[0] ?? 0) ^ 0xff;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}
