import { randomUUID } from "node:crypto";
import type { EventEmitter } from "node:events";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { createConnection, createServer as createNetServer, isIPv6 } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import { dirname } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { isUnspecified, parseHostPort } from "../cli/host-port.js";
import type { ServerOptions } from "../cli/server-options.js";
import { type HeldPort, holdPort } from "../cluster/port/held-port.js";
import { dialEnrollment, EnrollmentChainError } from "../cluster/tls/enrollment-dial.js";
import { readTlsFiles, tlsFilePaths } from "../cluster/tls/tls-files.js";
import { ClusterTlsState } from "../cluster/tls/tls-state.js";
import { EnrollService, EnrollSuffrage } from "../gen/gastrolog/v1/enroll_pb.js";
import { HealthService } from "../gen/gastrolog/v1/health_pb.js";
import { createLogger, type Logger } from "../log.js";
import {
  clusterIdOfCa,
  clusterServerName,
  createClusterCa,
  issueClusterCert,
} from "../pki/certificate.js";
import { generateJoinToken, parseJoinToken } from "../pki/join-token.js";
import { certificatesToPem } from "../pki/pem.js";
import type { RaftNodeEvents } from "../raft/node.js";
import { createRaftStorage, type RaftStorage } from "../raft/storage/index.js";
import { writeFileAtomic } from "../util/atomic-file.js";
import { createAdminRoutes, serveAdminSocket } from "./admin-api.js";
import { pickRoutableHost, restartPortProblem } from "./advertise.js";
import { ClusterNode, type RaftTiming } from "./cluster-node.js";
import { serveHealthPort } from "./health-port.js";
import {
  HomeError,
  type HomePaths,
  hasRaftState,
  homePaths,
  type NodeIdentity,
  newNodeId,
  prepareHome,
  readNodeIdentity,
  writeJoinedHome,
  writeNodeIdentity,
} from "./home.js";

/** A start failure, phrased for an operator: one line saying why and what to do. */
export class StartError extends Error {
  override readonly name = "StartError";
}

/** Enroll failures that mean the call broke off, not that the cluster answered no. */
const BROKEN_OFF: ReadonlySet<Code> = new Set([
  Code.Unavailable,
  Code.Canceled,
  Code.DeadlineExceeded,
  Code.Internal,
  Code.Unknown,
  Code.Aborted,
]);

/** How long a joining node keeps retrying an unreachable join address. */
const JOIN_RETRY_MS = Number(process.env.GASTROLOG_JOIN_RETRY_MS ?? 30_000);
/** How long an enrolled node waits for the cluster state, and then for its promotion. */
const JOIN_CATCHUP_MS = Number(process.env.GASTROLOG_JOIN_CATCHUP_MS ?? 60_000);

function timing(): RaftTiming {
  const n = (v: string | undefined, d: number) => (v && Number(v) > 0 ? Number(v) : d);
  return {
    heartbeatMs: n(process.env.GASTROLOG_HEARTBEAT_MS, 100),
    electionTimeoutMs: n(process.env.GASTROLOG_ELECTION_TIMEOUT_MS, 1000),
    snapshotThreshold: n(process.env.GASTROLOG_SNAPSHOT_THRESHOLD, 4096),
  };
}

/**
 * Runs `gastrolog server` until SIGINT or SIGTERM. Resolves to the process exit code: 0
 * after a clean shutdown, 1 when the node could not start or join (one line on stderr says
 * why and what to do).
 */
export async function runServer(options: ServerOptions): Promise<number> {
  const log = createLogger({ level: options.logLevel, format: options.logFormat });
  // Installed before anything starts, so that a signal that arrives while starting (or
  // right after "serving" is logged) still gets a clean shutdown.
  const signal = new Promise<string>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  let running: Running;
  try {
    const started = start(options, log);
    const first = await Promise.race([started, signal]);
    if (typeof first === "string") {
      // Nothing is in flight yet; a half-done bootstrap or join says so on the next start.
      process.stderr.write(`gastrolog: stopped by ${first} while starting\n`);
      log.flush?.();
      process.exit(1);
    }
    running = first;
  } catch (err) {
    const msg =
      err instanceof StartError || err instanceof HomeError ? err.message : describeStartError(err);
    process.stderr.write(`gastrolog: ${msg}\n`);
    log.flush?.();
    return 1;
  }
  await signal;
  log.info({ signal: await signal }, "shutting down");
  await running.stop();
  log.info("stopped");
  log.flush?.();
  return 0;
}

function describeStartError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === "EADDRINUSE")
    return `address already in use (${e.message}); choose another with --listen / --cluster-addr or stop what uses it`;
  if (e?.code === "EACCES" && e.syscall === "listen")
    return `not allowed to listen (${e.message}); use a port above 1023 or run with the needed privilege`;
  if (e?.code === "EADDRNOTAVAIL")
    return `cannot bind (${e.message}); the address is not on this host`;
  return (err as Error)?.message ?? String(err);
}

interface Running {
  stop(): Promise<void>;
}

interface Addrs {
  bindHost: string;
  bindPort: number;
  advertise: string;
  listenHost: string;
  listenPort: number;
}

async function start(o: ServerOptions, log: Logger): Promise<Running> {
  const paths = homePaths(o.home);
  await prepareHome(o.home);
  if (await socketAnswers(paths.apiSock)) {
    throw new StartError(
      `a gastrolog server is already running with home ${o.home} (its ${paths.apiSock} answers); stop it first, or give this one its own --home`,
    );
  }
  const identity = await readNodeIdentity(paths);
  const joining = o.joinAddr !== undefined || o.joinToken !== undefined;
  if (identity) {
    if (o.bootstrap)
      log.warn(
        { home: o.home, clusterId: identity.clusterId },
        "home is already initialised; --bootstrap does nothing",
      );
    if (joining)
      log.warn({ home: o.home }, "this node is already a member; join flags are ignored");
  } else {
    if (await hasRaftState(paths)) {
      throw new StartError(
        `${o.home} holds Raft state but no node.json: a bootstrap or join was interrupted. Move ${o.home} aside and start again; if it was a join that got as far as "join: enrolled", the cluster also lists this node (${o.name ?? defaultName()}) as a nonvoter that will never come up: remove it on a member with \`gastrolog cluster remove ${o.name ?? defaultName()}\``,
      );
    }
    if (o.bootstrap && joining) {
      throw new StartError(
        "--bootstrap and --join-addr/--join-token were both given on an empty home: use --bootstrap for a new cluster, or the join flags to join one",
      );
    }
    if (!o.bootstrap && !joining) {
      throw new StartError(
        `${o.home} is not initialised: start the first node with --bootstrap, or join a cluster with --join-addr HOST:PORT --join-token TOKEN`,
      );
    }
  }
  const addrs = await resolveAddrs(o, identity);
  const apiAddr = `${fmtHost(addrs.listenHost === "::" || addrs.listenHost === "0.0.0.0" ? hostOf(addrs.advertise) : addrs.listenHost)}:${addrs.listenPort}`;

  // The API port is bound before anything changes state: a port in use must refuse the
  // start before a bootstrap writes a cluster or a join consumes a token use and records
  // a member that will never come up.
  let node: ClusterNode | undefined;
  const health = await serveHealthPort({
    host: addrs.listenHost,
    port: addrs.listenPort,
    httpsDir: paths.httpsDir,
    ready: () => node?.role() === "leader" || node?.role() === "follower",
  });
  let admin: Awaited<ReturnType<typeof serveAdminSocket>> | undefined;
  try {
    // A joining node is a member once it serves its cluster port; the admin socket then
    // answers (`cluster status` says "joining") while it catches up and is promoted.
    let joined: Promise<void> = Promise.resolve();
    if (identity) {
      node = await restartMember(o, log, paths, identity, addrs, apiAddr);
    } else if (o.bootstrap) {
      node = await bootstrap(o, log, paths, addrs, apiAddr);
    } else {
      ({ node, joined } = await join(o, log, paths, addrs, apiAddr));
    }
    admin = await serveAdminSocket(
      paths.apiSock,
      createAdminRoutes({
        node,
        joinTokenPath: paths.joinToken,
        // The bootstrap node keeps the file; a home from before node.json said so, if it
        // still has one.
        keepsJoinToken:
          (identity ? identity.bootstrapped === true : o.bootstrap) || existsSync(paths.joinToken),
        logger: log,
      }),
      log,
    );
    await joined;
  } catch (err) {
    // A failed start must exit: a node left running keeps the process alive.
    await admin?.close().catch(() => {});
    await node?.stop().catch(() => {});
    await health.close().catch(() => {});
    throw err;
  }
  log.info(
    {
      nodeId: node.id,
      name: node.name,
      clusterAddr: addrs.advertise,
      clusterPort: node.port.address()?.port,
      apiPort: health.port,
      socket: paths.apiSock,
    },
    "serving",
  );
  const started = node;
  const adminSocket = admin;
  return {
    async stop() {
      await adminSocket.close();
      await health.close();
      await started.stop();
    },
  };
}

async function restartMember(
  o: ServerOptions,
  log: Logger,
  paths: HomePaths,
  identity: NodeIdentity,
  addrs: Addrs,
  apiAddr: string,
): Promise<ClusterNode> {
  let tls: ClusterTlsState;
  try {
    const material = await readTlsFiles(paths.home);
    if (!material) throw new Error("tls/cluster.key is missing");
    tls = ClusterTlsState.fromPem({
      ...material,
      serverName: clusterServerName(identity.clusterId),
    });
  } catch (err) {
    throw new StartError(
      `cannot load this node's TLS files from ${paths.home}/tls: ${(err as Error).message}`,
    );
  }
  log.info({ nodeId: identity.nodeId, clusterId: identity.clusterId }, "restarting as a member");
  return startNode(
    { paths, addrs, apiAddr, tls, log },
    identity.nodeId,
    o.name ?? identity.name,
    identity.seedPeers ? { seedPeers: identity.seedPeers } : {},
  );
}

/** What every way of starting (restart, bootstrap, join) passes to the node alike. */
interface NodeContext {
  paths: HomePaths;
  addrs: Addrs;
  apiAddr: string;
  tls: ClusterTlsState;
  log: Logger;
}

function startNode(
  ctx: NodeContext,
  nodeId: string,
  nodeName: string,
  extra: {
    bootstrap?: boolean;
    seedPeers?: Record<string, string>;
    storage?: RaftStorage;
    listener?: HeldPort;
    tlsFilesWritten?: Promise<void>;
    serveAfter?: Promise<void>;
  } = {},
): Promise<ClusterNode> {
  return ClusterNode.start({
    paths: ctx.paths,
    nodeId,
    nodeName,
    bindHost: ctx.addrs.bindHost,
    bindPort: ctx.addrs.bindPort,
    advertiseAddr: ctx.addrs.advertise,
    apiAddr: ctx.apiAddr,
    tls: ctx.tls,
    bootstrap: extra.bootstrap ?? false,
    ...(extra.seedPeers ? { seedPeers: extra.seedPeers } : {}),
    ...(extra.storage ? { storage: extra.storage } : {}),
    ...(extra.listener ? { listener: extra.listener } : {}),
    ...(extra.tlsFilesWritten ? { tlsFilesWritten: extra.tlsFilesWritten } : {}),
    ...(extra.serveAfter ? { serveAfter: extra.serveAfter } : {}),
    timing: timing(),
    logger: ctx.log,
  });
}

async function bootstrap(
  o: ServerOptions,
  log: Logger,
  paths: HomePaths,
  addrs: Addrs,
  apiAddr: string,
): Promise<ClusterNode> {
  const nodeId = newNodeId();
  const name = o.name ?? defaultName();
  const clusterId = randomUUID();
  const ca = await createClusterCa({ clusterId });
  const cert = await issueClusterCert({
    ca: { certPem: ca.certPem, keyPem: ca.keyPem },
    clusterId,
  });
  const token = generateJoinToken(ca.fingerprint);
  const tls = ClusterTlsState.fromPem({
    trustedCaPems: [ca.certPem],
    certPem: cert.certPem,
    keyPem: cert.keyPem,
  });
  const node = await startNode({ paths, addrs, apiAddr, tls, log }, nodeId, name, {
    bootstrap: true,
  });
  try {
    await waitFor(
      () => node.stats().role === "leader",
      30_000,
      "this node did not become leader of its new cluster",
    );
    const r = await node.propose(
      {
        kind: "initCluster",
        clusterId,
        clusterName: clusterServerName(clusterId),
        ca: {
          certPem: ca.certPem,
          keyPem: ca.keyPem,
          fingerprint: ca.fingerprint,
          notBeforeUnixMs: ca.notBefore.getTime(),
          notAfterUnixMs: ca.notAfter.getTime(),
        },
        clusterCert: {
          certPem: cert.certPem,
          keyPem: cert.keyPem,
          fingerprint: cert.fingerprint,
          notBeforeUnixMs: cert.notBefore.getTime(),
          notAfterUnixMs: cert.notAfter.getTime(),
          signerFingerprint: ca.fingerprint,
        },
        reusableTokenId: randomUUID().replaceAll("-", "").slice(0, 16),
        reusableTokenSecretHash: Buffer.from(token.secretHash, "hex"),
        node: { id: nodeId, name, clusterAddr: addrs.advertise, apiAddr },
      },
      "bootstrap",
    );
    if (!r.ok) throw new StartError(`initialising the cluster failed: ${r.message}`);
    await node.flushTlsFiles();
    await writeFileAtomic(paths.joinToken, `${token.token}\n`, { mode: 0o600 });
    await writeNodeIdentity(paths, {
      version: 1,
      nodeId,
      name,
      clusterId,
      clusterAddr: addrs.advertise,
      clusterBindPort: addrs.bindPort,
      bootstrapped: true,
    });
  } catch (err) {
    await node.stop();
    throw err;
  }
  log.info({ clusterId, nodeId }, "bootstrapped a new cluster");
  // Shown once. The token is also in <home>/join-token (0600) for later use.
  process.stdout.write(
    `Cluster ${clusterId} created.\n\nJoin token (shown once; also saved to ${paths.joinToken}):\n\n  ${token.token}\n\nJoin another node with:\n\n  gastrolog server --join-addr ${addrs.advertise} --join-token ${token.token}\n\n(A second node on this machine also needs its own --home, --listen and --cluster-addr.)\n\n`,
  );
  return node;
}

async function join(
  o: ServerOptions,
  log: Logger,
  paths: HomePaths,
  addrs: Addrs,
  apiAddr: string,
): Promise<{ node: ClusterNode; joined: Promise<void> }> {
  const token = parseJoinToken(o.joinToken ?? "");
  const target = parseHostPort(o.joinAddr ?? "", { requireHost: true });
  const progress = (step: string, fields: Record<string, unknown> = {}) =>
    log.info({ join: step, ...fields }, `join: ${step}`);
  progress("connecting", { to: o.joinAddr });
  const deadline = performance.now() + JOIN_RETRY_MS;
  let delay = 100;
  let conn: Awaited<ReturnType<typeof dialEnrollment>>;
  for (;;) {
    try {
      conn = await dialEnrollment({
        host: target.host,
        port: target.port,
        caHash: token.caHash,
        timeoutMs: 5000,
      });
      break;
    } catch (err) {
      if (err instanceof EnrollmentChainError) {
        throw new StartError(
          `${o.joinAddr} did not prove it belongs to the cluster the token names (${err.message}); nothing was sent. Check --join-addr, or get a current token with \`gastrolog token create\` on a member`,
        );
      }
      const code = (err as NodeJS.ErrnoException).code ?? "";
      const retryable =
        [
          "ECONNREFUSED",
          "ECONNRESET",
          "ETIMEDOUT",
          "EHOSTUNREACH",
          "ENETUNREACH",
          "EAI_AGAIN",
        ].includes(code) || /not established/.test((err as Error).message);
      if (!retryable) {
        throw new StartError(
          `${o.joinAddr} is not a gastrolog cluster port (${dialFailure(err)}); check --join-addr: it is a member's --cluster-addr (default port 4566), not its HTTPS port`,
        );
      }
      if (performance.now() + delay > deadline) {
        throw new StartError(
          `cannot reach ${o.joinAddr} (${code || dialFailure(err)}) after ${Math.round(JOIN_RETRY_MS / 1000)} s; check that a member is running there and that the port is open`,
        );
      }
      log.info({ to: o.joinAddr, code, retryInMs: delay }, "join: unreachable, retrying");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 3000);
    }
  }
  progress("verified CA", { caFingerprint: token.caHash });
  const nodeId = newNodeId();
  const name = o.name ?? defaultName();
  // Bind the cluster port now, before the cluster records this node: the leader starts
  // replicating to it as soon as it has, and its first connection then waits in the
  // port until this node serves it (below) instead of being refused and retried on a
  // backoff timer. A port in use also fails the join here, before a token use is spent.
  let held: HeldPort;
  try {
    held = await holdPort(addrs.bindHost, addrs.bindPort);
  } catch (err) {
    conn.close();
    throw err;
  }
  // Open the Raft store now too, before the cluster records this node: the joining node is
  // short of CPU, not of time, between its Enroll call and serving as a voter (each step
  // runs code for the first time), so this work would only delay the steps after the
  // reply; and a Raft directory that cannot be created fails the join before a token use
  // is spent. The home has no Raft directory yet (a leftover one is refused before a join
  // starts), so a join refused from here until the node starts removes it again and
  // leaves the home as it found it.
  let storage: RaftStorage | undefined;
  const discardStorage = async () => {
    await held.close();
    await storage?.close().catch(() => undefined);
    await rm(paths.raftDir, { recursive: true, force: true });
  };
  try {
    storage = await createRaftStorage({ dir: paths.raftDir, logger: log });
  } catch (err) {
    conn.close();
    await discardStorage();
    throw err;
  }
  let res: Awaited<ReturnType<ReturnType<typeof createClient<typeof EnrollService>>["enroll"]>>;
  try {
    const client = createClient(EnrollService, conn.transport);
    progress("enrolling", { nodeId });
    const reply = client.enroll(
      {
        secret: token.secret,
        nodeId,
        nodeName: name,
        clusterAddr: addrs.advertise,
        apiAddr,
        suffrage: o.nonvoter ? EnrollSuffrage.NONVOTER : EnrollSuffrage.VOTER,
      },
      { timeoutMs: 30_000 },
    );
    // Once the request is on its way, and not before (this is CPU work that would delay
    // it): check the certificates the server presented (the reply carries them again), so
    // that loading the reply's TLS material is quick.
    const { ca, leaf } = conn;
    void conn.whenSent().then(() => {
      const clusterId = clusterIdOfCa(ca);
      ClusterTlsState.prepare({
        trustedCaPems: [certificatesToPem([ca])],
        certPem: certificatesToPem([leaf]),
        ...(clusterId === undefined ? {} : { serverName: clusterServerName(clusterId) }),
      });
    });
    res = await reply;
  } catch (err) {
    await discardStorage();
    const e = ConnectError.from(err);
    if (e.code === Code.Unauthenticated) {
      throw new StartError(
        "the cluster refused the join token: invalid or expired token. Create a new one on a member with `gastrolog token create` and try again",
      );
    }
    if (e.code === Code.ResourceExhausted) throw new StartError(`${e.rawMessage}`);
    const detail = dialFailure(e);
    if (BROKEN_OFF.has(e.code)) {
      // The connection or the member went away mid-call (a leader that died, say): the
      // cluster may have recorded this node before it did.
      throw new StartError(
        `enrollment through ${o.joinAddr} broke off (${detail}); the cluster may or may not have recorded this node. This home was left as it was, so the same command can be run again (through another member if that one is down); if \`gastrolog cluster nodes\` on a member then also lists a nonvoter named ${name} that never came up, remove it with \`gastrolog cluster remove\``,
      );
    }
    throw new StartError(`enrollment failed: ${detail}`);
  } finally {
    conn.close();
  }
  progress("enrolled", { nodeId, clusterId: res.clusterId });
  let tls: ClusterTlsState;
  try {
    tls = ClusterTlsState.fromPem({
      trustedCaPems: res.trustedCaPems,
      certPem: res.clusterCertPem,
      keyPem: res.clusterKeyPem,
      accepted: res.acceptedFingerprints,
      serverName: clusterServerName(res.clusterId),
    });
  } catch (err) {
    await discardStorage();
    throw new StartError(`the cluster sent unusable TLS material: ${(err as Error).message}`);
  }
  // Persist the TLS material and identity while the node is built, and serve the cluster
  // port only once they are durable: the leader may promote this node from its first
  // acknowledged append on, and its home must restart as a member from then on. The home
  // becomes a member once node.json is in place; writeJoinedHome never puts node.json in
  // place before the TLS files. A crash before that leaves Raft state without node.json,
  // which the next start refuses with a message saying to move the home aside and join
  // again (the cluster then holds a nonvoter that never came up, to remove).
  const seedPeers = Object.fromEntries(res.members.map((m) => [m.nodeId, m.clusterAddr]));
  const persisted = writeJoinedHome(paths, tls, {
    version: 1,
    nodeId,
    name,
    clusterId: res.clusterId,
    clusterAddr: addrs.advertise,
    clusterBindPort: addrs.bindPort,
    seedPeers,
  }).then(
    () => undefined,
    (err: unknown) =>
      new StartError(
        `cannot write this node's TLS files and identity to ${paths.home}: ${(err as Error).message}`,
      ),
  );
  const durable = persisted.then((e) => {
    if (e) throw e;
  });
  const undoJoin = async (): Promise<void> => {
    // Leave the home as it was: no node.json, no TLS files, no Raft state.
    await persisted;
    await rm(paths.nodeJson, { force: true });
    await rm(dirname(tlsFilePaths(paths.home).caPem), { recursive: true, force: true });
    await discardStorage();
  };
  let joined: ClusterNode;
  try {
    joined = await startNode({ paths, addrs, apiAddr, tls, log }, nodeId, name, {
      seedPeers,
      storage,
      listener: held,
      // The config store's copy of the same material then writes nothing.
      tlsFilesWritten: durable,
      serveAfter: durable,
    });
  } catch (err) {
    await undoJoin();
    throw err;
  }
  warmUpSessions(joined, joinedVia(target, res.members), res.members);
  progress("catching up");
  const done = (async () => {
    const raft = joined.raft();
    // The home is a member's from here on: a node that gives up says how to go on.
    const removed = () => joined.role() === "removed";
    const memberWaitFor = async (cond: () => boolean, what: string) => {
      await waitFor(() => cond() || removed(), JOIN_CATCHUP_MS, what, raft.events).catch(
        (err: unknown) => {
          throw new StartError(
            `${(err as Error).message}. This node is a member now: check that the other members can reach it at ${addrs.advertise} (--advertise-addr, firewalls), then start it again with the same --home (no token needed) and it goes on`,
          );
        },
      );
      // Removed while it joined (`cluster remove`): say so now, not after the timeout.
      if (removed()) throw new StartError(joined.notice() || "this node was removed");
    };
    await memberWaitFor(
      () => joined.fsm.initialized(),
      "did not receive the cluster state from the leader",
    );
    if (!o.nonvoter) {
      await memberWaitFor(
        () => joined.stats().conf.voters.includes(nodeId),
        "was not promoted to voter",
      );
    }
    // The identity and TLS files were durable before the port served (serveAfter).
    await joined.flushTlsFiles();
    progress(o.nonvoter ? "nonvoter" : "voter");
  })();
  // The caller awaits it after serving the admin socket; a failure meanwhile must not
  // count as unhandled. The caller stops the node when it fails.
  done.catch(() => undefined);
  return { node: joined, joined: done };
}

/**
 * True when something accepts connections on the unix socket at `path`: the node of this
 * home is running. A socket file left by a process that died refuses connections.
 */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (answers: boolean): void => {
      s.destroy();
      resolve(answers);
    };
    s.once("connect", () => done(true));
    s.once("error", () => done(false));
    // Connected but silent would still be a listener: count it as one.
    s.setTimeout(2000, () => done(true));
  });
}

/**
 * Why a dial or a call failed, in one line: OpenSSL's reason ("tlsv1 alert no application
 * protocol") rather than its message, which carries its source file and line; a Connect
 * error's message without its code prefix.
 */
function dialFailure(err: unknown): string {
  const e = err as { reason?: unknown; rawMessage?: unknown; message?: unknown };
  if (typeof e.reason === "string" && e.reason !== "") return e.reason;
  return String(e.rawMessage ?? e.message ?? err)
    .split("\n", 1)[0]!
    .trim();
}

/**
 * The member the joining node enrolled through, if the enrollment reply lists it under
 * the address it was dialled at. Usually the leader, which is about to replicate to the
 * new node.
 */
function joinedVia(
  target: { host: string; port: number },
  members: readonly { nodeId: string; clusterAddr: string }[],
): { nodeId: string; clusterAddr: string } | undefined {
  for (const m of members) {
    try {
      const a = parseHostPort(m.clusterAddr, { requireHost: true });
      if (a.port === target.port && a.host.toLowerCase() === target.host.toLowerCase()) {
        return m;
      }
    } catch {
      // An address this node cannot parse is not the one it dialled.
    }
  }
  return undefined;
}

/**
 * Opens this node's mTLS connection to the member it enrolled through ahead of need, with
 * one Health.Check: its first Raft answers then go out on a connection that is already
 * up, instead of waiting for a TCP and TLS handshake. The leader is told that this node
 * is up (RaftNode.announce): its Raft link to this node, which failed while this node's
 * port was not open yet, then reconnects at once instead of at the end of its backoff.
 * When that member is not the leader, the other members are asked (at most 8 more
 * handshakes) to find it. Failures are of no consequence.
 */
function warmUpSessions(
  node: ClusterNode,
  via: { nodeId: string; clusterAddr: string } | undefined,
  members: readonly { nodeId: string; clusterAddr: string }[],
): void {
  const check = async (m: { nodeId: string; clusterAddr: string }): Promise<boolean> => {
    const client = createClient(HealthService, node.port.peers.transport(m.clusterAddr));
    const res = await client.check({}, { timeoutMs: 5000 });
    if (res.role !== "leader" || res.nodeId !== m.nodeId) return false;
    node.raft().announce(m.nodeId);
    return true;
  };
  const others = members.filter(
    (m) => m.nodeId !== node.id && m.clusterAddr !== "" && m.nodeId !== via?.nodeId,
  );
  void (async () => {
    if (via && (await check(via).catch(() => false))) return;
    await Promise.all(others.map((m) => check(m).catch(() => false)));
  })();
}

/**
 * Waits until `cond` holds, or fails with `what` after `ms`. Checks on every `events`
 * emission (Raft progress) and on a short poll as a fallback.
 */
function waitFor(
  cond: () => boolean,
  ms: number,
  what: string,
  events?: EventEmitter<RaftNodeEvents>,
): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + ms;
    const done = (err?: Error): void => {
      clearInterval(t);
      events?.off("applied", check);
      events?.off("membership", check);
      if (err) reject(err);
      else resolve();
    };
    const check = (): void => {
      if (cond()) done();
      else if (performance.now() > deadline) {
        done(new StartError(`${what} within ${Math.round(ms / 1000)} s`));
      }
    };
    const t = setInterval(check, events ? 20 : 5);
    events?.on("applied", check);
    events?.on("membership", check);
  });
}

function defaultName(): string {
  const h = hostname()
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, 63);
  return h || "node";
}

function fmtHost(h: string): string {
  return isIPv6(h) ? `[${h}]` : h;
}

function hostOf(addr: string): string {
  return parseHostPort(addr).host;
}

/**
 * Asks the OS for a free port on `host`, for "port 0" before anything binds for real; with
 * `port`, checks that it can be bound (throws EADDRINUSE otherwise).
 */
async function freePort(host: string, wanted = 0): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(wanted, host, () => resolve());
  });
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function resolveAddrs(o: ServerOptions, identity: NodeIdentity | undefined): Promise<Addrs> {
  const cluster = parseHostPort(o.clusterAddr, { allowPortZero: true });
  const listen = parseHostPort(o.listen, { allowPortZero: true });
  const bindHost = cluster.host === "" ? "::" : cluster.host;
  let bindPort = cluster.port;
  if (bindPort === 0) {
    // A member keeps the port it is known by; a new node takes a free one.
    bindPort = identity
      ? (identity.clusterBindPort ?? parseHostPort(identity.clusterAddr).port)
      : await freePort(bindHost);
  } else {
    // A member restarted on another port than it joined with would not be reached (and
    // that port is often another node's, which would only say "address in use").
    const problem =
      identity && restartPortProblem(identity, bindPort, o.advertiseAddr !== undefined);
    if (problem) throw new StartError(problem);
    // Fail on a port in use now, before a join consumes a token use and records a member
    // whose cluster port then cannot open.
    await freePort(bindHost, bindPort);
  }
  let advertise: string;
  if (o.advertiseAddr) {
    advertise = o.advertiseAddr;
  } else if (identity && !o.advertiseAddr && cluster.host === "") {
    advertise = identity.clusterAddr;
  } else {
    const unspecified = isUnspecified(cluster.host);
    const host = unspecified ? pickRoutableHost(networkInterfaces()) : cluster.host;
    if (!host) {
      throw new StartError(
        "no routable address to advertise: pass --advertise-addr HOST:PORT (other nodes dial it)",
      );
    }
    advertise = `${fmtHost(host)}:${bindPort}`;
  }
  const adv = parseHostPort(advertise, { requireHost: true });
  if (isUnspecified(adv.host)) {
    throw new StartError(
      `cannot advertise ${advertise}: other nodes cannot dial an unspecified address; pass --advertise-addr`,
    );
  }
  const listenHost = listen.host === "" ? "::" : listen.host;
  // The API address is recorded in the config store, so port 0 is made concrete here.
  const listenPort = listen.port === 0 ? await freePort(listenHost) : listen.port;
  return { bindHost, bindPort, advertise, listenHost, listenPort };
}
