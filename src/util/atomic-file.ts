import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";

/** Options for {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** File mode; default 0o600, since most files this project writes hold secrets. */
  mode?: number;
}

/**
 * Writes `data` to `path` so that a crash leaves either the old file or the new one, never
 * a torn mix: write to a temporary name in the same directory, fsync it, rename it over the
 * target, then fsync the directory so the rename itself is durable. The mode is applied at
 * creation, so a secret is never readable by others, not even briefly.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = await writeTempFile(dir, data, options.mode ?? 0o600);
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dir);
}

/**
 * Writes `data` to a new temporary file in `dir`, created with `mode`, and fsyncs it;
 * returns its path, for the caller to rename into place. On failure nothing is left.
 */
export async function writeTempFile(
  dir: string,
  data: string | Uint8Array,
  mode: number,
): Promise<string> {
  const tmp = join(dir, `.${randomBytes(6).toString("hex")}.tmp`);
  const fh = await open(tmp, "wx", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  return tmp;
}

/** Fsyncs a directory so that entries created or renamed in it survive a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const dh = await open(dir, "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}
