import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type HandlerContext } from "@connectrpc/connect";
import {
  type CommandInput,
  type ConfigFsm,
  createConfigFsm,
  encodeCommand,
  type FsmResult,
  type NodeView,
} from "../cluster/fsm/index.js";
import { peerIdentityKey } from "../cluster/port/peer-identity.js";
import { type ClusterPortServer, createClusterPortServer } from "../cluster/port/server.js";
import { writeTlsFiles } from "../cluster/tls/tls-files.js";
import { ClusterTlsState } from "../cluster/tls/tls-state.js";
import {
  type EnrollRequest,
  type EnrollResponseSchema,
  EnrollService,
  EnrollSuffrage,
} from "../gen/gastrolog/v1/enroll_pb.js";
import { HealthService } from "../gen/gastrolog/v1/health_pb.js";
import { NodeService } from "../gen/gastrolog/v1/node_pb.js";
import { RaftService } from "../gen/gastrolog/v1/raft_pb.js";
import type { Logger } from "../log.js";
import { clusterServerName } from "../pki/certificate.js";
import { hashJoinSecret, JOIN_SECRET_BYTES } from "../pki/join-token.js";
import { createRaftNode, type RaftFsm, type RaftNode, type RaftNodeStats } from "../raft/node.js";
import { RaftNodeError } from "../raft/node-errors.js";
import { createRaftStorage } from "../raft/storage/index.js";
import { createGrpcRaftTransport, createRaftInbound } from "../raft/transport/grpc-transport.js";
import type { Entry, SnapshotMeta } from "../raft/types.js";
import { createFailureLimiter, type FailureLimiter } from "./failure-limiter.js";
import type { HomePaths } from "./home.js";

/** Raft timing; defaults as in docs/raft.md. */
export interface RaftTiming {
  heartbeatMs: number;
  electionTimeoutMs: number;
  snapshotThreshold?: number;
}

/** Options for {@link startClusterNode}. */
export interface ClusterNodeOptions {
  paths: HomePaths;
  nodeId: string;
  nodeName: string;
  /** Where the cluster port binds. */
  bindHost: string;
  bindPort: number;
  /** The cluster address other nodes dial (host:port). */
  advertiseAddr: string;
  /** The HTTPS/API address reported to other members. */
  apiAddr: string;
  /** The TLS material to listen with until the config store says otherwise. */
  tls: ClusterTlsState;
  /** Start a new single-voter cluster (empty raft directory only). */
  bootstrap: boolean;
  /** Known members' cluster addresses (from enrollment), until Raft's configuration arrives. */
  seedPeers?: Record<string, string>;
  timing: RaftTiming;
  logger: Logger;
}

/** A forwarded or local write's outcome, mapped to API errors by the caller. */
export type ApplyOutcome = FsmResult;

/** Live health of one member, from Health.Check over the cluster port. */
export interface MemberHealth {
  healthy: boolean;
  role: string;
  error: string;
}

const ACTOR_SYSTEM = "system";
const HEALTH_TIMEOUT_MS = 1000;
/** Forwarded calls to the leader give up after this long. */
const FORWARD_TIMEOUT_MS = 10_000;
const FORWARDED_SOURCE_HEADER = "x-gastrolog-enroll-source";

/**
 * One member of a gastrolog cluster: the config FSM replicated by Raft, the mTLS cluster
 * port (Raft, enrollment, health, forwarding), and the leader's duties (promoting caught-up
 * nonvoters, completing interrupted joins). The admin API and the CLI sit on top of it.
 */
export class ClusterNode {
  readonly id: string;
  readonly name: string;
  readonly fsm: ConfigFsm;
  readonly port: ClusterPortServer;
  private raftNode: RaftNode | undefined;
  private readonly log: Logger;
  private readonly opts: ClusterNodeOptions;
  private readonly limiter: FailureLimiter;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private reconciling = false;
  private readonly promoting = new Set<string>();
  private removedNotice = "";
  private stopped = false;
  private tlsKey = "";
  private tlsWrite: Promise<void> = Promise.resolve();

  private constructor(opts: ClusterNodeOptions, port: ClusterPortServer) {
    this.opts = opts;
    this.id = opts.nodeId;
    this.name = opts.nodeName;
    this.log = opts.logger;
    this.fsm = createConfigFsm({
      onListenerError: (err) => this.log.error({ err }, "config listener failed"),
    });
    this.port = port;
    this.limiter = createFailureLimiter({});
  }

  /**
   * Opens storage, starts the cluster port and the Raft node, and (with `bootstrap`)
   * makes this node the sole voter of a new cluster. The cluster port listens before Raft
   * starts so that peers can reach it as soon as it is a member.
   */
  static async start(opts: ClusterNodeOptions): Promise<ClusterNode> {
    let node: ClusterNode | undefined;
    const port = createClusterPortServer({
      tls: opts.tls,
      nodeId: opts.nodeId,
      role: () => node?.role() ?? "joining",
      host: opts.bindHost,
      port: opts.bindPort,
      logger: opts.logger.child({ component: "cluster-port" }),
    });
    node = new ClusterNode(opts, port);
    await node.init();
    return node;
  }

  private async init(): Promise<void> {
    const { opts } = this;
    const inbound = createRaftInbound({
      id: this.id,
      logger: this.log,
      admit: (from) => this.admitPeer(from),
    });
    this.port.register(RaftService, inbound.impl);
    this.port.register(NodeService, {
      apply: async (req) => {
        const r = await this.applyLocal(req.command);
        return { index: BigInt(r.index), result: new TextEncoder().encode(JSON.stringify(r)) };
      },
      readIndex: async () => {
        const raft = this.raft();
        try {
          return { index: BigInt(await raft.readIndex({ timeoutMs: FORWARD_TIMEOUT_MS })) };
        } catch (err) {
          throw toConnectError(err);
        }
      },
    });
    this.port.setEnrollHandler((req, ctx) => this.handleEnroll(req, ctx));
    await this.port.listen();

    const storage = await createRaftStorage({ dir: opts.paths.raftDir, logger: this.log });
    const fsm = this.fsm;
    const adapter: RaftFsm = {
      apply: (e: Entry) => fsm.apply(e.data, e.index),
      snapshot: () => fsm.snapshot(),
      restore: (data: Uint8Array, meta: SnapshotMeta) => {
        if (data.byteLength === 0) return; // the bootstrap snapshot of an empty store
        fsm.restore(data, meta.index);
      },
    };
    const dial = (addr: string) => this.port.peers.transport(addr);
    const raftTransport = createGrpcRaftTransport({
      id: this.id,
      dial,
      logger: this.log,
      onRefused: (peer, err) => this.onRefusedByPeer(peer, err),
    });
    this.raftNode = await createRaftNode({
      id: this.id,
      fsm: adapter,
      storage,
      transport: (sink) => {
        inbound.attach(sink);
        return raftTransport(sink);
      },
      bootstrap: opts.bootstrap ? { addr: opts.advertiseAddr } : undefined,
      seedPeers: opts.seedPeers,
      logger: this.log.child({ component: "raft" }),
      heartbeatMs: opts.timing.heartbeatMs,
      electionTimeoutMs: opts.timing.electionTimeoutMs,
      snapshotThreshold: opts.timing.snapshotThreshold,
    });
    this.fsm.subscribe((ev) => {
      if (ev.type === "tls" || ev.type === "restored" || ev.type === "cluster")
        this.onTlsMaybeChanged();
    });
    this.raftNode.events.on("removed", () =>
      this.markRemoved("this node was removed from the cluster"),
    );
    this.raftNode.events.on("leader", () => this.kickReconcile());
    this.raftNode.events.on("membership", () => this.kickReconcile());
    this.reconcileTimer = setInterval(() => this.kickReconcile(), 500);
    this.reconcileTimer.unref();
    // The store may already hold TLS material (restart): adopt it.
    this.onTlsMaybeChanged();
  }

  /** The running Raft node. */
  raft(): RaftNode {
    if (!this.raftNode) throw new ConnectError("raft is not running yet", Code.Unavailable);
    return this.raftNode;
  }

  /** The role reported in status and Health.Check. */
  role(): string {
    if (this.removedNotice) return "removed";
    if (!this.raftNode) return "joining";
    const r = this.raftNode.stats().role;
    if (r === "preCandidate") return "candidate";
    if (r === "shutdown") return "removed";
    if ((r === "follower" || r === "candidate") && !this.fsm.initialized()) return "joining";
    return r;
  }

  /** Set when the node needs operator action (removed, left behind). */
  notice(): string {
    return this.removedNotice;
  }

  stats(): RaftNodeStats {
    return this.raft().stats();
  }

  // ---- writes ----

  /** Encodes a command with this node's clock and identity. */
  encode(command: CommandInput, actor: string): Uint8Array {
    return encodeCommand({ atUnixMs: Date.now(), actor, originNodeId: this.id }, command);
  }

  /**
   * Applies a command through Raft, on this node when it leads, else forwarded to the
   * leader over the cluster port. Resolves with the FSM's result (which may be a
   * rejection); rejects with a ConnectError when the write could not be made.
   */
  async propose(command: CommandInput, actor: string): Promise<FsmResult> {
    return this.proposeBytes(this.encode(command, actor));
  }

  async proposeBytes(bytes: Uint8Array): Promise<FsmResult> {
    this.ensureMember();
    const raft = this.raft();
    const stats = raft.stats();
    if (stats.role === "leader") return this.applyLocal(bytes);
    const leaderAddr = stats.leaderId ? stats.conf.addrs[stats.leaderId] : undefined;
    if (!leaderAddr) throw noQuorum("no leader is known");
    const client = createClient(NodeService, this.port.peers.transport(leaderAddr));
    try {
      const res = await client.apply({ command: bytes }, { timeoutMs: FORWARD_TIMEOUT_MS });
      return JSON.parse(new TextDecoder().decode(res.result)) as FsmResult;
    } catch (err) {
      const e = ConnectError.from(err);
      if (e.code === Code.Unavailable || e.code === Code.DeadlineExceeded) {
        throw noQuorum(
          `the leader ${stats.leaderId} at ${leaderAddr} did not answer (${e.rawMessage})`,
        );
      }
      throw e;
    }
  }

  private async applyLocal(bytes: Uint8Array): Promise<FsmResult> {
    this.ensureMember();
    try {
      const r = await this.raft().apply(bytes, { timeoutMs: FORWARD_TIMEOUT_MS });
      return r.response as FsmResult;
    } catch (err) {
      throw toConnectError(err);
    }
  }

  /**
   * Waits until this node's state is at least as new as the leader's commit when the call
   * began (ReadIndex, forwarded when this node follows). Local reads after it are current.
   */
  async linearize(): Promise<void> {
    this.ensureMember();
    const raft = this.raft();
    const stats = raft.stats();
    try {
      if (stats.role === "leader") {
        await raft.readIndex({ timeoutMs: FORWARD_TIMEOUT_MS });
        return;
      }
      const leaderAddr = stats.leaderId ? stats.conf.addrs[stats.leaderId] : undefined;
      if (!leaderAddr) throw noQuorum("no leader is known");
      const client = createClient(NodeService, this.port.peers.transport(leaderAddr));
      const res = await client.readIndex({}, { timeoutMs: FORWARD_TIMEOUT_MS });
      await this.waitApplied(Number(res.index), FORWARD_TIMEOUT_MS);
    } catch (err) {
      throw toConnectError(err);
    }
  }

  /** Resolves once this node has applied `index`. */
  waitApplied(index: number, timeoutMs: number): Promise<void> {
    const raft = this.raft();
    if (raft.stats().appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const on = (applied: number) => {
        if (applied >= index) {
          clearTimeout(timer);
          raft.events.off("applied", on);
          resolve();
        }
      };
      const timer = setTimeout(() => {
        raft.events.off("applied", on);
        reject(noQuorum(`this node did not catch up to index ${index} within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      raft.events.on("applied", on);
    });
  }

  private ensureMember(): void {
    if (this.removedNotice) throw new ConnectError(this.removedNotice, Code.FailedPrecondition);
  }

  // ---- health ----

  /** Asks every member for Health.Check over the cluster port, in parallel. */
  async memberHealth(): Promise<Map<string, MemberHealth>> {
    const out = new Map<string, MemberHealth>();
    const addrs = this.raftNode?.stats().conf.addrs ?? {};
    await Promise.all(
      Object.entries(addrs).map(async ([id, addr]) => {
        if (id === this.id) {
          out.set(id, { healthy: !this.removedNotice, role: this.role(), error: "" });
          return;
        }
        try {
          const client = createClient(HealthService, this.port.peers.transport(addr));
          const res = await client.check({}, { timeoutMs: HEALTH_TIMEOUT_MS });
          if (res.nodeId !== id) {
            out.set(id, { healthy: false, role: "", error: `answered as node ${res.nodeId}` });
          } else {
            out.set(id, { healthy: true, role: res.role, error: "" });
          }
        } catch (err) {
          out.set(id, { healthy: false, role: "", error: ConnectError.from(err).rawMessage });
        }
      }),
    );
    return out;
  }

  // ---- enrollment (leader side) ----

  private async handleEnroll(
    req: EnrollRequest,
    ctx: HandlerContext,
  ): Promise<MessageInitShape<typeof EnrollResponseSchema>> {
    const peer = ctx.values.get(peerIdentityKey);
    // A member forwarding a join passes the joiner's address; only an authenticated
    // member may say so, anyone else is judged by their own address.
    const forwardedFor = ctx.requestHeader.get(FORWARDED_SOURCE_HEADER);
    const source =
      forwardedFor && peer?.auth.t === "authenticated"
        ? forwardedFor
        : (peer?.remoteAddress ?? "unknown");
    if (!this.limiter.allow(source)) {
      throw new ConnectError(
        "too many failed enrollment attempts from this address; try again later",
        Code.ResourceExhausted,
      );
    }
    const bad = validateEnrollRequest(req);
    if (bad) throw new ConnectError(bad, Code.InvalidArgument);
    if (!this.fsm.initialized()) {
      throw new ConnectError("this node has not joined a cluster yet", Code.Unavailable);
    }
    const raft = this.raft();
    const stats = raft.stats();
    if (stats.role !== "leader") {
      const leaderAddr = stats.leaderId ? stats.conf.addrs[stats.leaderId] : undefined;
      if (!leaderAddr) throw noQuorum("no leader is known; cannot enroll now");
      const client = createClient(EnrollService, this.port.peers.transport(leaderAddr));
      return client.enroll(req, {
        timeoutMs: FORWARD_TIMEOUT_MS,
        headers: { [FORWARDED_SOURCE_HEADER]: source },
      });
    }

    const now = Date.now();
    const secretHash = Buffer.from(hashJoinSecret(req.secret), "hex");
    const check = this.fsm.verifyToken(secretHash, now);
    if (!check.ok) {
      await this.recordFailedEnrollment(source, check.reason, req.nodeId);
      throw invalidToken();
    }
    if (this.fsm.node(req.nodeId)) {
      throw new ConnectError(`node id ${req.nodeId} is already a member`, Code.AlreadyExists);
    }
    const asked = req.suffrage === EnrollSuffrage.NONVOTER ? "nonvoter" : "voter";
    const r = await this.propose(
      {
        kind: "enrollNode",
        tokenId: check.token.id,
        secretHash,
        node: {
          id: req.nodeId,
          name: req.nodeName,
          clusterAddr: req.clusterAddr,
          apiAddr: req.apiAddr,
        },
        suffrageAsked: asked,
        sourceAddr: source,
      },
      `node:${req.nodeId}`,
    );
    if (!r.ok) {
      if (r.tokenRefusal) {
        await this.recordFailedEnrollment(source, r.tokenRefusal, req.nodeId);
        throw invalidToken();
      }
      throw new ConnectError(r.message, fsmCode(r.code));
    }
    this.limiter.succeeded(source);
    try {
      await raft.addNonvoter(req.nodeId, req.clusterAddr, { timeoutMs: FORWARD_TIMEOUT_MS });
    } catch (err) {
      // The node is recorded; the reconciler adds it to Raft once it can.
      this.log.warn(
        { node: req.nodeId, err: (err as Error).message },
        "adding enrolled node to raft failed; will retry",
      );
    }
    this.kickReconcile();
    return this.enrollResponse();
  }

  private enrollResponse(): MessageInitShape<typeof EnrollResponseSchema> {
    const material = this.fsm.secrets.tlsMaterial();
    const cluster = this.fsm.cluster();
    if (!material || !cluster)
      throw new ConnectError("cluster is not initialised", Code.Unavailable);
    const conf = this.raft().stats().conf;
    return {
      trustedCaPems: [...material.trustedCaCertsPem],
      clusterCertPem: material.current.certPem,
      clusterKeyPem: material.current.keyPem.reveal(),
      clusterId: cluster.id,
      clusterName: cluster.name,
      acceptedFingerprints: [...material.acceptedFingerprints],
      members: this.fsm.nodes().map((n) => ({
        nodeId: n.id,
        nodeName: n.name,
        clusterAddr: n.clusterAddr,
        apiAddr: n.apiAddr,
        suffrage: conf.voters.includes(n.id) ? EnrollSuffrage.VOTER : EnrollSuffrage.NONVOTER,
      })),
    };
  }

  private async recordFailedEnrollment(
    source: string,
    reason: string,
    nodeId: string,
  ): Promise<void> {
    const first = this.limiter.failed(source);
    // Every failure counts toward the limit; only the first ones of a burst are written to
    // the audit trail, so a brute force cannot flood the replicated log.
    if (!first) return;
    try {
      await this.propose(
        {
          kind: "recordAudit",
          auditKind: "enroll.failed",
          details: { source, reason, claimedNodeId: nodeId.slice(0, 64) },
        },
        ACTOR_SYSTEM,
      );
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        "could not record a failed enrollment in the audit trail",
      );
    }
  }

  // ---- leader duties ----

  private kickReconcile(): void {
    if (this.reconciling || this.stopped || !this.raftNode) return;
    if (this.raftNode.stats().role !== "leader") return;
    this.reconciling = true;
    void this.reconcile()
      .catch((err) => this.log.debug({ err: (err as Error).message }, "reconcile pass failed"))
      .finally(() => {
        this.reconciling = false;
      });
  }

  /**
   * Brings Raft membership in line with the recorded nodes: adds enrolled nodes that a
   * leader change left out, promotes caught-up nonvoters that should be voters, and
   * records suffrage changes. Runs on the leader only, one pass at a time.
   */
  private async reconcile(): Promise<void> {
    const raft = this.raft();
    const conf = raft.stats().conf;
    for (const n of this.fsm.nodes()) {
      const inRaft = conf.voters.includes(n.id) || conf.learners.includes(n.id);
      if (!inRaft) {
        await raft.addNonvoter(n.id, n.clusterAddr, { timeoutMs: FORWARD_TIMEOUT_MS });
        continue;
      }
      const isVoter = conf.voters.includes(n.id);
      if (!isVoter && n.targetSuffrage === "voter" && !this.promoting.has(n.id)) {
        this.promoting.add(n.id);
        void this.promoteWhenCaughtUp(n).finally(() => this.promoting.delete(n.id));
      } else if (isVoter !== (n.suffrage === "voter")) {
        await this.recordSuffrage(n.id, isVoter ? "voter" : "nonvoter");
      }
    }
  }

  private async promoteWhenCaughtUp(n: NodeView): Promise<void> {
    try {
      await this.raft().promote(n.id, { timeoutMs: 60_000 });
      this.log.info({ node: n.id, name: n.name }, "promoted to voter");
      await this.recordSuffrage(n.id, "voter");
    } catch (err) {
      this.log.info(
        { node: n.id, err: (err as Error).message },
        "promotion not done yet; will retry",
      );
    }
  }

  private async recordSuffrage(nodeId: string, suffrage: "voter" | "nonvoter"): Promise<void> {
    const r = await this.propose({ kind: "updateNode", nodeId, suffrage }, ACTOR_SYSTEM);
    if (!r.ok) this.log.warn({ nodeId, message: r.message }, "recording suffrage failed");
  }

  // ---- TLS from the config store ----

  /** Rebuilds the cluster port's TLS state and the files on disk when the store's changed. */
  private onTlsMaybeChanged(): void {
    const material = this.fsm.secrets.tlsMaterial();
    const cluster = this.fsm.cluster();
    if (!material || !cluster) return;
    const key = [
      material.current.fingerprint,
      ...material.trustedCaCertsPem.map((p) => p.length),
      ...material.acceptedFingerprints,
    ].join("|");
    if (key === this.tlsKey) return;
    this.tlsKey = key;
    let next: ClusterTlsState;
    try {
      next = ClusterTlsState.fromPem({
        trustedCaPems: [...material.trustedCaCertsPem],
        certPem: material.current.certPem,
        keyPem: material.current.keyPem.reveal(),
        accepted: [...material.acceptedFingerprints],
        serverName: clusterServerName(cluster.id),
      });
    } catch (err) {
      this.log.error(
        { err: (err as Error).message },
        "the config store's TLS material is unusable; keeping the current one",
      );
      return;
    }
    const swap = this.port.swapTls(next);
    if (swap.closedSessions > 0)
      this.log.info({ closed: swap.closedSessions }, "closed sessions no longer accepted");
    this.tlsWrite = this.tlsWrite
      .then(() => writeTlsFiles(this.opts.paths.home, next))
      .catch((err) => this.log.error({ err: (err as Error).message }, "writing TLS files failed"));
  }

  /** Waits for pending TLS file writes (tests and shutdown). */
  flushTlsFiles(): Promise<void> {
    return this.tlsWrite;
  }

  // ---- removal ----

  private admitPeer(from: string): ConnectError | undefined {
    if (!this.fsm.initialized() || !this.raftNode) return undefined;
    if (this.fsm.node(from)) return undefined;
    const conf = this.raftNode.stats().conf;
    if (conf.voters.includes(from) || conf.learners.includes(from)) return undefined;
    return new ConnectError(
      `node ${from} is not a member of this cluster (it was removed)`,
      Code.FailedPrecondition,
    );
  }

  private onRefusedByPeer(peer: string, err: ConnectError): void {
    if (this.removedNotice || this.stopped) return;
    if (err.code === Code.FailedPrecondition && err.rawMessage.includes("not a member")) {
      this.markRemoved(`this node was removed from the cluster (peer ${peer} says so)`);
    } else if (err.code === Code.PermissionDenied) {
      this.markRemoved(
        `peer ${peer} no longer accepts this node's certificate: the node was removed, or a forced rotation left it behind`,
      );
    }
  }

  private markRemoved(why: string): void {
    if (this.removedNotice) return;
    this.removedNotice = `${why}. It must re-enroll: stop it, move ${this.opts.paths.home} aside, create a token on a member with \`gastrolog token create\`, and run \`gastrolog server --home ${this.opts.paths.home} --join-addr <member cluster address> --join-token <token>\``;
    this.log.error(this.removedNotice);
    // Stop Raft so that it does not retry forever; the admin API keeps answering status.
    void this.raftNode?.shutdown().catch(() => undefined);
  }

  /** Stops Raft, the cluster port and timers; finishes in-flight calls first. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    await this.raftNode?.shutdown();
    await this.port.close();
    await this.tlsWrite;
  }
}

/** The one message every token failure gets: it never says which part was wrong. */
function invalidToken(): ConnectError {
  return new ConnectError("invalid or expired token", Code.Unauthenticated);
}

function noQuorum(detail: string): ConnectError {
  return new ConnectError(`no quorum: ${detail}`, Code.Unavailable);
}

/** Maps a RaftNode error to the API's error; anything else passes through. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof RaftNodeError) {
    switch (err.code) {
      case "NoQuorum":
        return new ConnectError(err.message, Code.Unavailable);
      case "NotLeader":
        return err.leaderId
          ? new ConnectError(`not the leader; the leader is ${err.leaderId}`, Code.Unavailable)
          : noQuorum("no leader is known");
      case "LeadershipLost":
        return new ConnectError(
          `${err.message}; the write may or may not have been applied`,
          Code.Unavailable,
        );
      case "Timeout":
        return new ConnectError(`${err.message} (no quorum?)`, Code.DeadlineExceeded);
      case "Shutdown":
        return new ConnectError("the node is shutting down", Code.Unavailable);
      case "Removed":
        return new ConnectError(err.message, Code.FailedPrecondition);
      case "TransferInProgress":
        return new ConnectError(err.message, Code.Unavailable);
      case "ConfChangeConflict":
        return new ConnectError(err.message, Code.Aborted);
      case "InvalidArgument":
        return new ConnectError(err.message, Code.InvalidArgument);
      case "Aborted":
        return new ConnectError(err.message, Code.Canceled);
    }
  }
  return ConnectError.from(err);
}

/** Maps an FSM rejection code to a Connect code. */
export function fsmCode(code: string): Code {
  switch (code) {
    case "invalid_argument":
      return Code.InvalidArgument;
    case "failed_precondition":
      return Code.FailedPrecondition;
    case "not_found":
      return Code.NotFound;
    case "already_exists":
      return Code.AlreadyExists;
    case "resource_exhausted":
      return Code.ResourceExhausted;
    default:
      return Code.Unknown;
  }
}

const NODE_ID = /^[0-9a-f]{32}$/;
const NAME = /^[A-Za-z0-9._-]{1,63}$/;

function validAddr(a: string): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(a);
  if (!m) return false;
  const port = Number(m[2]);
  return port > 0 && port < 65536 && m[1] !== "0.0.0.0" && m[1] !== "[::]";
}

/** Checks an Enroll request's fields; returns why it is invalid, never echoing the secret. */
export function validateEnrollRequest(req: EnrollRequest): string | undefined {
  if (req.secret.byteLength !== JOIN_SECRET_BYTES) return "invalid or expired token";
  if (!NODE_ID.test(req.nodeId)) return "node id must be 32 lowercase hex characters";
  if (!NAME.test(req.nodeName)) return "node name must be 1-63 letters, digits, '.', '_' or '-'";
  if (!validAddr(req.clusterAddr)) return "cluster address must be a routable host:port";
  if (req.apiAddr !== "" && !/^.{1,300}$/.test(req.apiAddr)) return "api address is too long";
  if (
    req.suffrage !== EnrollSuffrage.VOTER &&
    req.suffrage !== EnrollSuffrage.NONVOTER &&
    req.suffrage !== EnrollSuffrage.UNSPECIFIED
  ) {
    return "unknown suffrage";
  }
  return undefined;
}
