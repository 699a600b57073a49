import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, rm } from "node:fs/promises";
import * as http from "node:http";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { FsmResult } from "../cluster/fsm/index.js";
import {
  CertService,
  ClusterService,
  ConfigService,
  type MemberSchema,
  type OperationProgressSchema,
  type TlsStatusSchema,
  TokenService,
} from "../gen/gastrolog/v1/admin_pb.js";
import type { Logger } from "../log.js";
import { generateJoinToken } from "../pki/join-token.js";
import { certificateSubject } from "../pki/subject.js";
import { AsyncQueue } from "../raft/transport/async-queue.js";
import { type ClusterNode, fsmCode, toConnectError } from "./cluster-node.js";
import {
  type Progress,
  removeNode,
  rotateCa,
  rotateCert,
  rotateReusableToken,
} from "./rotation.js";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Who the audit trail names for calls over the local socket (only the node's user can reach it). */
const LOCAL_ACTOR = "local-admin";

/** Throws the FSM's rejection as an API error; returns the accepted value. */
function accepted(r: FsmResult) {
  if (!r.ok) throw new ConnectError(r.message, fsmCode(r.code));
  return r.value;
}

function daysLeft(notAfterUnixMs: number, now: number): bigint {
  return BigInt(Math.floor((notAfterUnixMs - now) / DAY_MS));
}

/** Resolves a node id or a unique name to an id. */
export function resolveNodeRef(node: ClusterNode, ref: string): string {
  const nodes = node.fsm.nodes();
  if (nodes.some((n) => n.id === ref)) return ref;
  const byName = nodes.filter((n) => n.name === ref);
  if (byName.length === 1) return byName[0]!.id;
  if (byName.length > 1) {
    throw new ConnectError(`more than one node is named ${ref}; use its id`, Code.InvalidArgument);
  }
  throw new ConnectError(`no node with id or name ${ref}`, Code.NotFound);
}

/** The TLS part of status and `cert show`, from the config store. Never key material. */
export function tlsStatus(
  node: ClusterNode,
  now: number,
): MessageInitShape<typeof TlsStatusSchema> | undefined {
  const tls = node.fsm.tls();
  if (!tls) return undefined;
  const nodes = new Map(node.fsm.nodes().map((n) => [n.id, n.name]));
  const label = (id: string) => (nodes.get(id) ? `${nodes.get(id)} (${id})` : id);
  return {
    caFingerprints: tls.trustedCas.map((c) => c.fingerprint),
    certFingerprint: tls.current.fingerprint,
    certNotAfterUnixMs: BigInt(tls.current.notAfterUnixMs),
    certDaysLeft: daysLeft(tls.current.notAfterUnixMs, now),
    previousCertFingerprint: tls.previous?.fingerprint ?? "",
    serverName: node.port.tls().serverName,
    cas: tls.trustedCas.map((c) => ({
      fingerprint: c.fingerprint,
      subject: certificateSubject(c.certPem),
      notAfterUnixMs: BigInt(c.notAfterUnixMs),
      daysLeft: daysLeft(c.notAfterUnixMs, now),
      state: c.active ? "active" : "trusted",
    })),
    rotation: tls.rotation
      ? {
          kind: "cert",
          newFingerprint: tls.rotation.newFingerprint,
          begunAtUnixMs: BigInt(tls.rotation.begunAtUnixMs),
          ackedBy: tls.rotation.ackedBy.map(label),
          pending: tls.rotation.pending.map(label),
        }
      : undefined,
  };
}

/** Members with live health: Raft's view of membership, the store's names and addresses. */
async function members(node: ClusterNode): Promise<MessageInitShape<typeof MemberSchema>[]> {
  const stats = node.stats();
  const health = await node.memberHealth();
  const recorded = new Map(node.fsm.nodes().map((n) => [n.id, n]));
  const ids = [...stats.conf.voters, ...stats.conf.learners].sort();
  return ids.map((id) => {
    const n = recorded.get(id);
    const h = health.get(id);
    const last = stats.peers[id]?.lastContactMs;
    return {
      id,
      name: n?.name ?? "",
      suffrage: stats.conf.voters.includes(id) ? "voter" : "nonvoter",
      clusterAddr: stats.conf.addrs[id] ?? n?.clusterAddr ?? "",
      apiAddr: n?.apiAddr ?? "",
      healthy: h?.healthy ?? false,
      role: h?.role ?? "",
      healthError: h?.error ?? "",
      lastContactMs: BigInt(last === null || last === undefined ? -1 : last),
      joinedAtUnixMs: BigInt(n?.joinedAtUnixMs ?? 0),
    };
  });
}

/** Options for {@link createAdminRoutes}. */
export interface AdminApiOptions {
  node: ClusterNode;
  /** <home>/join-token: rewritten by `token rotate` on the node that holds it. */
  joinTokenPath: string;
  /**
   * Whether this node keeps <home>/join-token (the bootstrap node). Default: whether the
   * file exists now.
   */
  keepsJoinToken?: boolean;
  logger: Logger;
}

/** Registers the admin services (see admin.proto) on a Connect router. */
export function createAdminRoutes(opts: AdminApiOptions): (router: ConnectRouter) => void {
  const { node } = opts;
  const keepsJoinToken = opts.keepsJoinToken ?? existsSync(opts.joinTokenPath);

  const cluster: Partial<ServiceImpl<typeof ClusterService>> = {
    async getStatus() {
      const stats = node.stats();
      const id = node.fsm.cluster();
      return {
        clusterId: id?.id ?? "",
        clusterName: id?.name ?? "",
        nodeId: node.id,
        nodeName: node.name,
        role: node.role(),
        leaderId: stats.leaderId,
        term: BigInt(stats.term),
        commitIndex: BigInt(stats.commitIndex),
        appliedIndex: BigInt(stats.appliedIndex),
        members: await members(node),
        tls: tlsStatus(node, Date.now()),
        notice: node.notice(),
      };
    },
    async listNodes() {
      return { members: await members(node) };
    },
    async promoteNode(req) {
      const id = resolveNodeRef(node, req.node);
      const timeoutMs = req.timeoutMs > 0n ? Number(req.timeoutMs) : 30_000;
      await node.leaderOp("promote", id, timeoutMs);
      return {};
    },
    async demoteNode(req) {
      await node.leaderOp("demote", resolveNodeRef(node, req.node));
      return {};
    },
    async transferLeader(req) {
      const to = req.node ? resolveNodeRef(node, req.node) : "";
      return { leaderId: await node.leaderOp("transfer", to) };
    },
    removeNode(req, ctx) {
      const id = resolveNodeRef(node, req.node);
      return streamOperation((progress) =>
        removeNode(
          node,
          id,
          { force: req.force, rotateCa: req.rotateCa, signal: ctx.signal },
          progress,
        ).then(async (token) => {
          if (keepsJoinToken) await node.writeJoinTokenFile(token);
          return "node removed; the cluster certificate and the reusable join token were rotated";
        }),
      );
    },
    async listAudit() {
      return {
        events: node.fsm.audit().map((a) => ({
          atUnixMs: BigInt(a.atUnixMs),
          kind: a.kind,
          nodeId: a.nodeId,
          actor: a.actor,
          details: { ...a.details },
        })),
      };
    },
  };

  const config: ServiceImpl<typeof ConfigService> = {
    async put(req) {
      const v = accepted(
        await node.propose(
          {
            kind: "putKey",
            key: req.key,
            value: req.value,
            ...(req.expectedRevision === undefined
              ? {}
              : { expectedRevision: Number(req.expectedRevision) }),
          },
          LOCAL_ACTOR,
        ),
      );
      return { revision: BigInt(v.kind === "putKey" ? v.revision : 0) };
    },
    async get(req) {
      if (req.linearizable) await node.linearize();
      const kv = node.fsm.get(req.key);
      const stats = node.stats();
      return {
        found: kv !== null,
        kv: kv
          ? { key: kv.key, value: kv.value, revision: BigInt(kv.modRevision), modifiedAtUnixMs: 0n }
          : undefined,
        staleEntries: BigInt(
          req.linearizable ? 0 : Math.max(0, stats.commitIndex - stats.appliedIndex),
        ),
      };
    },
    async delete(req) {
      const r = await node.propose(
        {
          kind: "deleteKey",
          key: req.key,
          ...(req.expectedRevision === undefined
            ? {}
            : { expectedRevision: Number(req.expectedRevision) }),
        },
        LOCAL_ACTOR,
      );
      if (!r.ok && r.code === "not_found") return { deleted: false };
      accepted(r);
      return { deleted: true };
    },
    async list(req) {
      if (req.linearizable) await node.linearize();
      return {
        kvs: node.fsm.list(req.prefix).map((kv) => ({
          key: kv.key,
          value: kv.value,
          revision: BigInt(kv.modRevision),
          modifiedAtUnixMs: 0n,
        })),
      };
    },
  };

  const activeCaHash = (): string => {
    const tls = node.fsm.tls();
    if (!tls) throw new ConnectError("the cluster is not initialised", Code.FailedPrecondition);
    return tls.activeCaFingerprint;
  };

  const token: Partial<ServiceImpl<typeof TokenService>> = {
    async createToken(req) {
      if (req.ttlSeconds < 0n) throw new ConnectError("ttl must be positive", Code.InvalidArgument);
      if (req.maxUses < 0) throw new ConnectError("uses must be positive", Code.InvalidArgument);
      const t = generateJoinToken(activeCaHash());
      const id = randomBytes(8).toString("hex");
      const now = Date.now();
      const expiresAt = req.ttlSeconds > 0n ? now + Number(req.ttlSeconds) * 1000 : null;
      accepted(
        await node.propose(
          {
            kind: "createToken",
            tokenId: id,
            secretHash: Buffer.from(t.secretHash, "hex"),
            expiresAtUnixMs: expiresAt,
            maxUses: req.maxUses > 0 ? req.maxUses : null,
            nonvoterOnly: req.nonvoter,
            label: req.label,
          },
          LOCAL_ACTOR,
        ),
      );
      return {
        id,
        token: t.token,
        expiresAtUnixMs: BigInt(expiresAt ?? 0),
        usesLeft: req.maxUses > 0 ? req.maxUses : -1,
      };
    },
    async listTokens() {
      const now = Date.now();
      return {
        tokens: node.fsm.tokens(now).map((t) => ({
          id: t.id,
          kind: t.kind === "reusable" ? "reusable" : "short-lived",
          label: t.label,
          createdAtUnixMs: BigInt(t.createdAtUnixMs),
          createdBy: t.createdBy,
          expiresAtUnixMs: BigInt(t.expiresAtUnixMs ?? 0),
          usesLeft: t.usesLeft ?? -1,
          nonvoter: t.nonvoterOnly,
          revoked: t.revoked,
          state: t.state === "used_up" ? "used-up" : t.state,
        })),
      };
    },
    async revokeToken(req) {
      accepted(await node.propose({ kind: "revokeToken", tokenId: req.id }, LOCAL_ACTOR));
      return {};
    },
    async rotateReusableToken() {
      const t = await rotateReusableToken(node);
      if (keepsJoinToken) await node.writeJoinTokenFile(t);
      const id =
        node.fsm.tokens(Date.now()).find((x) => x.kind === "reusable" && !x.revoked)?.id ?? "";
      return { id, token: t };
    },
  };

  const cert: Partial<ServiceImpl<typeof CertService>> = {
    async showCerts() {
      return { tls: tlsStatus(node, Date.now()) };
    },
    rotateCert(req, ctx) {
      return streamOperation((progress) =>
        rotateCert(node, { force: req.force, signal: ctx.signal }, progress).then(
          (fp) => `cluster certificate rotated to ${fp}`,
        ),
      );
    },
    rotateCA(req, ctx) {
      return streamOperation((progress) =>
        rotateCa(node, { force: req.force, signal: ctx.signal }, progress).then(async (token) => {
          if (keepsJoinToken) await node.writeJoinTokenFile(token);
          return "CA rotated; tokens created before this rotation no longer work: create new ones with `gastrolog token create`";
        }),
      );
    },
  };

  return (router) => {
    router.service(ClusterService, cluster);
    router.service(ConfigService, config);
    router.service(TokenService, token);
    router.service(CertService, cert);
  };
}

/**
 * Rewrites <home>/join-token on the node that keeps one (the bootstrap node; `keeps` is
 * decided at start, since the node drops the file the moment the old token stops working).
 */
/**
 * Runs a long operation and streams its progress reports, then one final message with
 * `done` set. A failure ends the stream with the operation's error.
 */
async function* streamOperation(
  run: (progress: Progress) => Promise<string>,
): AsyncGenerator<MessageInitShape<typeof OperationProgressSchema>> {
  const queue = new AsyncQueue<MessageInitShape<typeof OperationProgressSchema>>();
  let failure: unknown;
  let newToken = "";
  run((p) => {
    if (p.newToken) newToken = p.newToken;
    queue.push({ phase: p.phase, message: p.message, pending: p.pending ?? [] });
  }).then(
    (message) => {
      queue.push({ phase: "done", message, done: true, newToken });
      queue.end();
    },
    (err) => {
      failure = err;
      queue.end();
    },
  );
  yield* queue;
  if (failure) throw toConnectError(failure);
}

/** The admin API's local server on <home>/api.sock. */
export interface AdminSocketServer {
  close(): Promise<void>;
}

/**
 * Serves the admin routes on a unix socket with mode 0600, so only the node's user (and
 * root) can call it. HTTP/1.1, with the Connect protocol (and gRPC-Web).
 */
export async function serveAdminSocket(
  path: string,
  routes: (router: ConnectRouter) => void,
  logger: Logger,
): Promise<AdminSocketServer> {
  // A socket file left by a process that died is stale: nothing listens on it any more.
  await rm(path, { force: true });
  const server = http.createServer(connectNodeAdapter({ routes }));
  const oldMask = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } finally {
    process.umask(oldMask);
  }
  await chmod(path, 0o600);
  logger.debug({ path }, "admin socket listening");
  return {
    async close() {
      server.closeIdleConnections();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Streams (rotation progress) may still be open: give them a moment, then cut.
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      });
      await rm(path, { force: true });
    },
  };
}
