import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../../util/atomic-file.js";
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
 * read: each file to a temporary name, fsynced, renamed. The key is written first and
 * with mode 0600; certificates are public and get 0644.
 *
 * The three renames are not one atomic step. A crash between them can leave a key that
 * does not match the certificate; {@link readTlsFiles} then fails with `key-mismatch`
 * rather than starting with half-rotated material, and the config FSM (which holds the
 * authoritative copy) is what rewrites the files.
 */
export async function writeTlsFiles(home: string, state: ClusterTlsState): Promise<void> {
  const paths = tlsFilePaths(home);
  const material = state.material();
  await writeFileAtomic(paths.clusterKey, material.keyPem, { mode: 0o600 });
  await writeFileAtomic(paths.clusterPem, state.chainPem, { mode: 0o644 });
  await writeFileAtomic(paths.caPem, state.trustedCaPem, { mode: 0o644 });
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
