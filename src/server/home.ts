import { randomBytes } from "node:crypto";
import { constants } from "node:fs";
import { access, mkdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { stageTlsFiles } from "../cluster/tls/tls-files.js";
import type { ClusterTlsState } from "../cluster/tls/tls-state.js";
import { fsyncDir, writeFileAtomic, writeTempFile } from "../util/atomic-file.js";

/** Where each file of a node's home lives (see DESIGN.md, "Data on disk"). */
export interface HomePaths {
  readonly home: string;
  readonly nodeJson: string;
  readonly raftDir: string;
  readonly joinToken: string;
  readonly apiSock: string;
  readonly httpsDir: string;
}

/** The paths of a home directory. */
export function homePaths(home: string): HomePaths {
  return {
    home,
    nodeJson: join(home, "node.json"),
    raftDir: join(home, "raft"),
    joinToken: join(home, "join-token"),
    apiSock: join(home, "api.sock"),
    httpsDir: join(home, "https"),
  };
}

/** What node.json holds: the node's stable identity and the cluster it belongs to. */
export interface NodeIdentity {
  readonly version: 1;
  readonly nodeId: string;
  readonly name: string;
  readonly clusterId: string;
  /** The advertised cluster address this node was recorded with. */
  readonly clusterAddr: string;
  /** The port the cluster port bound (may differ from the advertised one behind NAT). */
  readonly clusterBindPort?: number;
  /**
   * A joined node's members at enrollment, id to cluster address: who to answer until its
   * Raft log holds a configuration. Without it, a node that stopped before the leader's
   * first entries reached it would restart knowing no peer address, hear the leader but
   * never answer it, and never catch up.
   */
  readonly seedPeers?: Readonly<Record<string, string>>;
  /**
   * This node bootstrapped the cluster: it keeps `<home>/join-token`, and a rotation of the
   * reusable token run on it rewrites the file (also after a rotation run elsewhere had it
   * removed as stale).
   */
  readonly bootstrapped?: boolean;
}

/** A problem with the home directory, phrased for an operator. */
export class HomeError extends Error {
  override readonly name = "HomeError";
}

/** A fresh node id: 16 random bytes, hex. Stable for the node's life once written. */
export function newNodeId(): string {
  return randomBytes(16).toString("hex");
}

/**
 * Creates the home (mode 0700) if needed and checks that it is a writable directory, so
 * that a start fails at once with a clear line instead of half-way through.
 */
export async function prepareHome(home: string): Promise<void> {
  try {
    await makeDirs(home);
    const st = await stat(home);
    if (!st.isDirectory()) throw new HomeError(`--home ${home} is not a directory`);
    await access(home, constants.W_OK | constants.X_OK);
  } catch (err) {
    if (err instanceof HomeError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EACCES" || code === "EPERM" || code === "EROFS") {
      throw new HomeError(
        `home directory ${home} is not writable (${code}); choose another with --home or fix its permissions`,
      );
    }
    if (code === "ENOTDIR" || code === "EEXIST") {
      throw new HomeError(`--home ${home} is not a directory`);
    }
    throw new HomeError(`cannot use home directory ${home}: ${(err as Error).message}`);
  }
}

/**
 * `mkdir -p` with mode 0700 for what it creates. Not `mkdir({ recursive: true })`: on
 * Node 20 that never returns for a path where mkdir answers ENOENT although the parent
 * exists (any path under /proc or /sys), and spins the CPU; here that is an ENOENT error.
 */
async function makeDirs(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return;
    const parent = dirname(dir);
    if (code !== "ENOENT" || parent === dir) throw err;
    await makeDirs(parent);
  }
  try {
    await mkdir(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
}

/** Reads node.json; undefined when the home is not initialised. */
export async function readNodeIdentity(paths: HomePaths): Promise<NodeIdentity | undefined> {
  let text: string;
  try {
    text = await readFile(paths.nodeJson, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new HomeError(`cannot read ${paths.nodeJson}: ${(err as Error).message}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new HomeError(`${paths.nodeJson} is not valid JSON; restore it from a backup`);
  }
  const o = v as Partial<NodeIdentity>;
  if (
    o.version !== 1 ||
    typeof o.nodeId !== "string" ||
    typeof o.name !== "string" ||
    typeof o.clusterId !== "string" ||
    typeof o.clusterAddr !== "string" ||
    (o.clusterBindPort !== undefined && !Number.isInteger(o.clusterBindPort)) ||
    (o.seedPeers !== undefined && !isAddressMap(o.seedPeers)) ||
    (o.bootstrapped !== undefined && typeof o.bootstrapped !== "boolean")
  ) {
    throw new HomeError(
      `${paths.nodeJson} is not a gastrolog node identity (unknown version or fields)`,
    );
  }
  return o as NodeIdentity;
}

function isAddressMap(v: unknown): boolean {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  return Object.entries(v).every(([k, a]) => k !== "" && typeof a === "string" && a !== "");
}

/** Writes node.json atomically. It marks the home as initialised, so it is written last. */
export async function writeNodeIdentity(paths: HomePaths, id: NodeIdentity): Promise<void> {
  await writeFileAtomic(paths.nodeJson, nodeIdentityText(id), { mode: 0o600 });
}

function nodeIdentityText(id: NodeIdentity): string {
  return `${JSON.stringify(id, null, 2)}\n`;
}

/**
 * What a joining node writes once enrolled: its TLS files and then node.json, durable
 * before it returns, with node.json never in place without the TLS files (a crash at any
 * point leaves either no node.json or both). The four files are written and fsynced under
 * temporary names together; then the TLS files are renamed into place and their
 * directory fsynced, and only then node.json (and the home directory fsynced): three
 * fsync rounds instead of the four of writing one after the other.
 */
export async function writeJoinedHome(
  paths: HomePaths,
  tls: ClusterTlsState,
  id: NodeIdentity,
): Promise<void> {
  const [tlsFiles, identity] = await Promise.allSettled([
    stageTlsFiles(paths.home, tls),
    writeTempFile(paths.home, nodeIdentityText(id), 0o600),
  ]);
  const dropIdentity = async () => {
    if (identity.status === "fulfilled") await rm(identity.value, { force: true });
  };
  if (tlsFiles.status === "rejected") {
    await dropIdentity();
    throw tlsFiles.reason;
  }
  if (identity.status === "rejected") {
    await tlsFiles.value.discard();
    throw identity.reason;
  }
  try {
    await tlsFiles.value.commit();
    await rename(identity.value, paths.nodeJson);
  } catch (err) {
    await dropIdentity();
    throw err;
  }
  await fsyncDir(paths.home);
}

/** True when the raft directory exists (a start or join got that far before). */
export async function hasRaftState(paths: HomePaths): Promise<boolean> {
  try {
    await stat(paths.raftDir);
    return true;
  } catch {
    return false;
  }
}
