import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fsyncDir, writeTempFile } from "../../util/atomic-file.js";
import type { ClusterTlsMaterial, ClusterTlsState } from "./tls-state.js";

/** Where a node keeps its TLS material, relative to its home directory. */
export interface TlsFilePaths {
  /** Trusted CA certificates (PEM). */
  caPem: string;
  /** The cluster certificate this node presents, then its CA (PEM). */
  clusterPem: string;
  /** Its private key (PKCS#8 PEM, mode 0600). */
  clusterKey: string;
}

/** The paths of `<home>/tls/ca.pem`, `cluster.pem` and `cluster.key`. */
export function tlsFilePaths(home: string): TlsFilePaths {
  const dir = join(home, "tls");
  return {
    caPem: join(dir, "ca.pem"),
    clusterPem: join(dir, "cluster.pem"),
    clusterKey: join(dir, "cluster.key"),
  };
}

/**
 * Writes a state's material under `<home>/tls/` in the layout openssl, curl and grpcurl
 * read: each file to a temporary name, fsynced, renamed, then the directory fsynced. The
 * key gets mode 0600; certificates are public and get 0644. The three files are written
 * and fsynced together, then renamed key first, so the whole write costs about one
 * atomic write instead of three in a row. A file that already holds exactly this content
 * (and, for the key, is readable by its owner only) is left alone: a node rewrites its
 * files whenever the config store hands it TLS material, which is mostly the material it
 * already has (after enrollment, at every restart).
 *
 * The renames are not one atomic step. A crash between them can leave a key that does
 * not match the certificate; {@link readTlsFiles} then fails with `key-mismatch` rather
 * than starting with half-rotated material, and the config FSM (which holds the
 * authoritative copy) is what rewrites the files.
 */
export async function writeTlsFiles(home: string, state: ClusterTlsState): Promise<void> {
  await (await stageTlsFiles(home, state)).commit();
}

/** Files written and fsynced under temporary names, not yet in place. */
export interface StagedFiles {
  /** Renames the files into place and fsyncs their directory. */
  commit(): Promise<void>;
  /** Removes the temporary files instead. */
  discard(): Promise<void>;
}

/**
 * The first half of {@link writeTlsFiles}: the files that differ from `state` are written
 * and fsynced under temporary names, and `commit()` puts them in place. A caller that must
 * write other files after these (a joining node's node.json) writes them at the same time
 * as these, and renames them only after `commit()`: one fsync round fewer.
 */
export async function stageTlsFiles(home: string, state: ClusterTlsState): Promise<StagedFiles> {
  const paths = tlsFilePaths(home);
  const files: TlsFile[] = [
    { path: paths.clusterKey, data: state.material().keyPem, mode: 0o600, secret: true },
    { path: paths.clusterPem, data: state.chainPem, mode: 0o644, secret: false },
    { path: paths.caPem, data: state.trustedCaPem, mode: 0o644, secret: false },
  ];
  const dir = dirname(paths.clusterKey);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stale = (await Promise.all(files.map(async (f) => ((await holds(f)) ? [] : [f])))).flat();
  if (stale.length === 0) return { commit: async () => {}, discard: async () => {} };
  const settled = await Promise.allSettled(stale.map((f) => writeTempFile(dir, f.data, f.mode)));
  const failed = settled.find((t) => t.status === "rejected");
  const temps = settled.flatMap((t) => (t.status === "fulfilled" ? [t.value] : []));
  const discard = async (from = 0): Promise<void> => {
    await Promise.all(temps.slice(from).map((t) => rm(t, { force: true })));
  };
  if (failed) {
    await discard();
    throw failed.reason;
  }
  return {
    async commit() {
      for (const [i, f] of stale.entries()) {
        try {
          await rename(temps[i] as string, f.path);
        } catch (err) {
          await discard(i);
          throw err;
        }
      }
      await fsyncDir(dir);
    },
    discard: () => discard(),
  };
}

interface TlsFile {
  path: string;
  data: string;
  mode: number;
  /** Must not be readable by group or others. */
  secret: boolean;
}

/** True when `f.path` already holds exactly `f.data` (and a secret is private). */
async function holds(f: TlsFile): Promise<boolean> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(f.path, "r");
  } catch {
    return false;
  }
  try {
    if (f.secret && ((await fh.stat()).mode & 0o077) !== 0) return false;
    return (await fh.readFile("utf8")) === f.data;
  } catch {
    return false;
  } finally {
    await fh.close();
  }
}

/**
 * Reads `<home>/tls/`. Returns undefined when the node has no TLS material yet (no
 * `cluster.key`); otherwise the material, to be validated by `ClusterTlsState.fromPem`
 * (which names what is wrong with a damaged file). The accepted set is not stored here: it
 * comes from the config FSM, and defaults to the node's own certificate until then.
 */
export async function readTlsFiles(home: string): Promise<ClusterTlsMaterial | undefined> {
  const paths = tlsFilePaths(home);
  let keyPem: string;
  try {
    keyPem = await readFile(paths.clusterKey, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
  const [certPem, caPem] = await Promise.all([
    readFile(paths.clusterPem, "utf8"),
    readFile(paths.caPem, "utf8"),
  ]);
  return { trustedCaPems: [caPem], certPem, keyPem };
}
