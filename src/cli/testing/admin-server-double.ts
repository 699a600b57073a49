import { chmod } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  CertService,
  ClusterService,
  ConfigService,
  TokenService,
} from "../../gen/gastrolog/v1/admin_pb.js";

/**
 * TEST DOUBLE of a node's admin API, for CLI tests only: the four admin services with
 * canned answers (and a small in-memory key/value map), served over a real unix socket
 * with the real Connect adapter, so that the CLI's transport, encoding and error paths run
 * exactly as against a node. It is not the server; it knows nothing of Raft.
 */

/** Fixed clock of the canned data: 2030-01-01T00:00:00Z. */
export const DOUBLE_NOW_MS = Date.UTC(2030, 0, 1);
const DAY_MS = 86_400_000;

/** Fingerprints used in the canned data (64 lowercase hex digits). */
export const DOUBLE_FP = {
  ca: "a".repeat(64),
  cert: "c".repeat(64),
  nextCert: "d".repeat(64),
} as const;

/** The canned GetStatus answer: a 3-node cluster seen from n1, n3 down, a rotation open. */
export function cannedStatus() {
  return {
    clusterId: "cl-7f3e",
    clusterName: "gastrolog-cl-7f3e",
    nodeId: "n1",
    nodeName: "alpha",
    role: "leader",
    leaderId: "n1",
    term: 4n,
    commitIndex: 120n,
    appliedIndex: 119n,
    members: [
      {
        id: "n1",
        name: "alpha",
        suffrage: "voter",
        clusterAddr: "127.0.0.1:4566",
        apiAddr: "127.0.0.1:4564",
        healthy: true,
        lastContactMs: 0n,
        role: "leader",
        healthError: "",
        joinedAtUnixMs: BigInt(DOUBLE_NOW_MS - 10 * DAY_MS),
      },
      {
        id: "n2",
        name: "beta",
        suffrage: "nonvoter",
        clusterAddr: "127.0.0.1:5566",
        apiAddr: "127.0.0.1:5564",
        healthy: true,
        lastContactMs: 42n,
        role: "follower",
        healthError: "",
        joinedAtUnixMs: BigInt(DOUBLE_NOW_MS - 3 * DAY_MS),
      },
      {
        id: "n3",
        name: "gamma",
        suffrage: "voter",
        clusterAddr: "127.0.0.1:6566",
        apiAddr: "127.0.0.1:6564",
        healthy: false,
        lastContactMs: -1n,
        role: "",
        healthError: "connect ECONNREFUSED 127.0.0.1:6566",
        joinedAtUnixMs: BigInt(DOUBLE_NOW_MS - DAY_MS),
      },
    ],
    tls: cannedTls(),
    notice: "",
  };
}

/** The canned TLS status: one active CA, a cert rotation held open by n3. */
export function cannedTls() {
  return {
    caFingerprints: [DOUBLE_FP.ca],
    certFingerprint: DOUBLE_FP.cert,
    certNotAfterUnixMs: BigInt(DOUBLE_NOW_MS + 365 * DAY_MS),
    certDaysLeft: 365n,
    rotation: {
      kind: "cert",
      newFingerprint: DOUBLE_FP.nextCert,
      begunAtUnixMs: BigInt(DOUBLE_NOW_MS - 60_000),
      ackedBy: ["n1", "n2"],
      pending: ["n3"],
    },
    cas: [
      {
        fingerprint: DOUBLE_FP.ca,
        subject: "CN=gastrolog CA cl-7f3e",
        notAfterUnixMs: BigInt(DOUBLE_NOW_MS + 20 * DAY_MS),
        daysLeft: 20n,
        state: "active",
      },
    ],
    previousCertFingerprint: "",
    serverName: "cl-7f3e.gastrolog.internal",
  };
}

/** A canned join token (valid syntax; not a secret of anything). */
export const DOUBLE_TOKEN = `${"Q".repeat(42)}A:${DOUBLE_FP.ca}`;
/** The reusable token a canned CA rotation hands out. */
export const DOUBLE_ROTATED_TOKEN = `${"R".repeat(42)}A:${"b".repeat(64)}`;

/** Method implementations a test can replace. */
export interface AdminDoubleOverrides {
  cluster?: Partial<ServiceImpl<typeof ClusterService>>;
  config?: Partial<ServiceImpl<typeof ConfigService>>;
  token?: Partial<ServiceImpl<typeof TokenService>>;
  cert?: Partial<ServiceImpl<typeof CertService>>;
}

/** A running double. */
export interface AdminServerDouble {
  readonly socketPath: string;
  /** Every request received, in order: method name and the decoded request message. */
  readonly calls: { method: string; request: unknown }[];
  close(): Promise<void>;
}

/**
 * Starts the double on `<home>/api.sock` (mode 0600, like a node). Close it in `finally`.
 */
export async function startAdminServerDouble(
  home: string,
  overrides: AdminDoubleOverrides = {},
): Promise<AdminServerDouble> {
  const calls: { method: string; request: unknown }[] = [];
  const record = (method: string, request: unknown) => calls.push({ method, request });
  const rec = <R>(method: string, request: unknown, response: R): R => {
    record(method, request);
    return response;
  };
  const kv = new Map<string, { value: Uint8Array; revision: bigint }>();
  let revision = 0n;

  const cluster: ServiceImpl<typeof ClusterService> = {
    getStatus: (req) => rec("GetStatus", req, cannedStatus()),
    listNodes: (req) => rec("ListNodes", req, { members: cannedStatus().members }),
    async *removeNode(req) {
      record("RemoveNode", req);
      yield { phase: "remove", message: `removed ${req.node} from the Raft configuration` };
      yield { phase: "rotate-cert", message: "rotating the cluster certificate", pending: ["n2"] };
      yield {
        phase: "finished",
        message: `${req.node} removed`,
        done: true,
        newToken: DOUBLE_ROTATED_TOKEN,
      };
    },
    promoteNode: (req) => rec("PromoteNode", req, {}),
    demoteNode: (req) => rec("DemoteNode", req, {}),
    transferLeader: (req) => rec("TransferLeader", req, { leaderId: req.node || "n2" }),
    listAudit: (req) =>
      rec("ListAudit", req, {
        events: [
          {
            atUnixMs: BigInt(DOUBLE_NOW_MS - 5_000),
            kind: "enroll",
            nodeId: "n2",
            actor: "token:t1",
            details: { source: "127.0.0.1", suffrage: "nonvoter" },
          },
        ],
      }),
    ...overrides.cluster,
  };

  const config: ServiceImpl<typeof ConfigService> = {
    put(req) {
      record("Put", req);
      const current = kv.get(req.key);
      if (
        req.expectedRevision !== undefined &&
        req.expectedRevision !== (current?.revision ?? 0n)
      ) {
        throw new ConnectError(
          `revision mismatch for ${req.key}: expected ${req.expectedRevision}, it is ${current?.revision ?? 0n}`,
          Code.FailedPrecondition,
        );
      }
      revision += 1n;
      kv.set(req.key, { value: req.value, revision });
      return { revision };
    },
    get(req) {
      record("Get", req);
      const e = kv.get(req.key);
      if (!e) return { found: false };
      return {
        found: true,
        kv: {
          key: req.key,
          value: e.value,
          revision: e.revision,
          modifiedAtUnixMs: BigInt(DOUBLE_NOW_MS),
        },
        staleEntries: req.linearizable ? 0n : 2n,
      };
    },
    delete(req) {
      record("Delete", req);
      return { deleted: kv.delete(req.key) };
    },
    list(req) {
      record("List", req);
      return {
        kvs: [...kv.entries()]
          .filter(([k]) => k.startsWith(req.prefix))
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([key, e]) => ({
            key,
            value: e.value,
            revision: e.revision,
            modifiedAtUnixMs: BigInt(DOUBLE_NOW_MS),
          })),
      };
    },
    ...overrides.config,
  };

  const token: ServiceImpl<typeof TokenService> = {
    createToken: (req) =>
      rec("CreateToken", req, {
        id: "t-5c1e",
        token: DOUBLE_TOKEN,
        expiresAtUnixMs: BigInt(DOUBLE_NOW_MS) + req.ttlSeconds * 1000n,
        usesLeft: req.maxUses === 0 ? -1 : req.maxUses,
      }),
    listTokens: (req) =>
      rec("ListTokens", req, {
        tokens: [
          {
            id: "t-reuse",
            kind: "reusable",
            createdAtUnixMs: BigInt(DOUBLE_NOW_MS - 10 * DAY_MS),
            createdBy: "bootstrap",
            usesLeft: -1,
            state: "usable",
          },
          {
            id: "t-5c1e",
            kind: "short-lived",
            label: "read replicas",
            createdAtUnixMs: BigInt(DOUBLE_NOW_MS),
            createdBy: "admin-socket",
            expiresAtUnixMs: BigInt(DOUBLE_NOW_MS + 3_600_000),
            usesLeft: 1,
            nonvoter: true,
            state: "usable",
          },
        ],
      }),
    revokeToken: (req) => rec("RevokeToken", req, {}),
    rotateReusableToken: (req) =>
      rec("RotateReusableToken", req, { id: "t-reuse2", token: DOUBLE_ROTATED_TOKEN }),
    ...overrides.token,
  };

  const cert: ServiceImpl<typeof CertService> = {
    showCerts: (req) => rec("ShowCerts", req, { tls: cannedTls() }),
    async *rotateCert(req) {
      record("RotateCert", req);
      yield { phase: "begin", message: "new certificate committed" };
      yield { phase: "finished", message: "certificate rotated", done: true };
    },
    async *rotateCA(req) {
      record("RotateCA", req);
      yield { phase: "add-ca", message: "new CA trusted by every node" };
      yield { phase: "rotate-cert", message: "certificate moved onto the new CA" };
      yield { phase: "retire-ca", message: "old CA retired" };
      yield {
        phase: "finished",
        message: "CA rotated",
        done: true,
        newToken: DOUBLE_ROTATED_TOKEN,
      };
    },
    ...overrides.cert,
  };

  const handler = connectNodeAdapter({
    routes: (router) => {
      router.service(ClusterService, cluster);
      router.service(ConfigService, config);
      router.service(TokenService, token);
      router.service(CertService, cert);
    },
  });
  const socketPath = join(home, "api.sock");
  const server: Server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => {
      server.off("error", reject);
      resolve();
    });
  });
  await chmod(socketPath, 0o600);
  return {
    socketPath,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
