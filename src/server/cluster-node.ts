import { readFile, rm } from "node:fs/promises";
import { checkServerIdentity } from "node:tls";
import { fromBinary, type MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  type HandlerContext,
  type Transport,
} from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import {
  type CommandInput,
  type ConfigFsm,
  createConfigFsm,
  encodeCommand,
  type FsmResult,
  type NodeView,
} from "../cluster/fsm/index.js";
import type { HeldPort } from "../cluster/port/held-port.js";
import { peerIdentityKey } from "../cluster/port/peer-identity.js";
import { type ClusterPortServer, createClusterPortServer } from "../cluster/port/server.js";
import { writeTlsFiles } from "../cluster/tls/tls-files.js";
import { ClusterTlsState } from "../cluster/tls/tls-state.js";
import { ConfigCommandSchema } from "../gen/gastrolog/v1/config_pb.js";
import {
  type EnrollRequest,
  type EnrollResponseSchema,
  EnrollService,
  EnrollSuffrage,
} from "../gen/gastrolog/v1/enroll_pb.js";
import { HealthService } from "../gen/gastrolog/v1/health_pb.js";
import { NodeService, type SyncTlsResponse } from "../gen/gastrolog/v1/node_pb.js";
import { RaftService } from "../gen/gastrolog/v1/raft_pb.js";
import type { Logger } from "../log.js";
import { clusterServerName } from "../pki/certificate.js";
import { fingerprint } from "../pki/fingerprint.js";
import { hashJoinSecret, JOIN_SECRET_BYTES, parseJoinToken } from "../pki/join-token.js";
import { encodePem, parsePemBlocks } from "../pki/pem.js";
import { createRaftNode, type RaftFsm, type RaftNode, type RaftNodeStats } from "../raft/node.js";
import { RaftNodeError } from "../raft/node-errors.js";
import { createRaftStorage, type RaftStorage } from "../raft/storage/index.js";
import { createGrpcRaftTransport, createRaftInbound } from "../raft/transport/grpc-transport.js";
import type { Entry, SnapshotMeta } from "../raft/types.js";
import { writeFileAtomic } from "../util/atomic-file.js";
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
  /** Raft storage already opened on `paths.raftDir` (a joining node opens it early). */
  storage?: RaftStorage;
  /**
   * The cluster port, already bound (a joining node binds it before it enrolls, so that
   * the leader's first connection waits there instead of being refused).
   */
  listener?: HeldPort;
  /**
   * A joining node's first write of `tls`'s files, in progress: the node's own TLS file
   * writes queue behind it, and the config store's copy of the same material (which the
   * node receives while catching up) writes nothing.
   */
  tlsFilesWritten?: Promise<void>;
  /**
   * The cluster port serves (hands over the held connections) only once this resolves; a
   * rejection fails the start. A joining node passes the write of its identity and TLS
   * files: the leader may promote it to voter from its first acknowledged append on, and
   * a voter whose home cannot restart (no node.json) would hold a vote no one can cast.
   */
  serveAfter?: Promise<void>;
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
 * How long the leader holds the acknowledgements of a rotation while members are still
 * missing before it commits the ones it has (see {@link ClusterNode.holdAck}). Only a
 * rotation held open by a slow or absent member waits for it; when every member answers,
 * the last ack ends the hold.
 */
const ACK_HOLD_MS = 1000;

/** An AckRotation the leader holds until it can commit it with the others. */
interface HeldAck {
  readonly bytes: Uint8Array;
  readonly waiters: { resolve: (r: FsmResult) => void; reject: (err: unknown) => void }[];
}

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
  private expiryTimer: NodeJS.Timeout | undefined;
  private reconciling = false;
  private reconcileAgain = false;
  private readonly promoting = new Set<string>();
  /** Leader: nodes being added to Raft as nonvoters (see addToRaft). */
  private readonly adding = new Map<string, Promise<void>>();
  private removedNotice = "";
  private stopped = false;
  private tlsKey = "";
  private tlsWrite: Promise<void> = Promise.resolve();
  private acking = false;
  private tlsCheckScheduled = false;
  /**
   * The rotation this node's ack was recorded for. The leader answers once the ack is
   * committed, which can be before this node has applied it; until then the store still
   * lists this node as pending, and without this the ack would be sent again.
   */
  private acked = "";
  private inbound: ReturnType<typeof createRaftInbound> | undefined;
  private syncing = false;
  private readonly refusals = new Map<string, number>();
  /** When this node last changed the certificate it dials out with (performance.now()). */
  private identityChangedAt = Number.NEGATIVE_INFINITY;
  /** Leader: acks of the rotation to `fingerprint`, by member id, not yet proposed. */
  private heldAcks:
    | { fingerprint: string; acks: Map<string, HeldAck>; timer: NodeJS.Timeout | undefined }
    | undefined;
  /** Leader: the rotation whose acks were already held once for a missing member. */
  private ackHoldExpired = "";
  /** Leader: the FinishRotation in flight, so that it is proposed once. */
  private finishing: { fingerprint: string; done: Promise<void> } | undefined;

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
      ...(opts.listener ? { listener: opts.listener } : {}),
      // A session told to go away (its peer's certificate is no longer accepted, or the
      // node is stopping) gets a short grace for in-flight unary calls, not the library's
      // 30 s: a revoked peer's long-lived streams must end with the rotation.
      drainTimeoutMs: 1000,
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
    this.inbound = inbound;
    this.port.register(RaftService, inbound.impl);
    this.port.register(NodeService, {
      apply: async (req) => {
        const r = await this.applyLocal(req.command);
        return { index: BigInt(r.index), result: new TextEncoder().encode(JSON.stringify(r)) };
      },
      syncTls: () => {
        // The caller passed the gate, so its certificate is accepted: a refusal here is a
        // policy answer, not a refusal of the caller, and must not read as one
        // (`onRefusedByPeer` counts permission_denied toward "this node was removed").
        if (this.removedNotice) throw new ConnectError(this.removedNotice, Code.FailedPrecondition);
        const m = this.port.tls().material();
        const withhold = this.syncTlsRefusal() !== undefined;
        return {
          trustedCaPems: [...m.trustedCaPems],
          certPem: m.certPem,
          keyPem: withhold ? "" : m.keyPem,
          acceptedFingerprints: [...m.accepted],
          keyWithheld: withhold,
        };
      },
      admin: async (req) => {
        const raft = this.raft();
        if (!raft.leader().self) {
          throw new ConnectError("not the leader", Code.FailedPrecondition);
        }
        return { leaderId: await this.runLeaderOp(req.op, req.nodeId, Number(req.timeoutMs)) };
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
    if (opts.tlsFilesWritten) {
      const m = opts.tls.material();
      this.tlsKey = `${tlsMaterialKey(opts.tls.fingerprint, m.trustedCaPems, [...m.accepted])}|`;
      this.tlsWrite = opts.tlsFilesWritten.catch((err) =>
        this.log.error({ err: (err as Error).message }, "writing TLS files failed"),
      );
    }
    if (opts.serveAfter) await opts.serveAfter;
    await this.port.listen();

    const storage =
      opts.storage ?? (await createRaftStorage({ dir: opts.paths.raftDir, logger: this.log }));
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
      onBehind: (peer) => void this.syncTlsIfStalled(true, peer),
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
      if (ev.type === "tls" || ev.type === "restored" || ev.type === "cluster") {
        this.scheduleTlsCheck();
      }
      // An ack may have been the last one, or a member may have gone: let the leader
      // finish the rotation right away.
      if (ev.type === "tls" || ev.type === "nodes") {
        this.flushAcksIfComplete();
        this.kickReconcile();
      }
      if (ev.type === "tokens") {
        void this.joinTokenFileOp(() => this.dropStaleJoinTokenFile()).catch((err: unknown) =>
          this.log.warn({ err: (err as Error).message }, "checking the join-token file failed"),
        );
      }
    });
    this.raftNode.events.on("removed", () =>
      this.markRemoved("this node was removed from the cluster"),
    );
    this.raftNode.events.on("leader", () => {
      // Acks held by a leader that lost its post fail now, and their members retry with
      // the new one, instead of at the end of the hold.
      if (!this.raftNode?.leader().self) this.flushAcks(false);
      this.kickReconcile();
    });
    this.raftNode.events.on("membership", () => this.kickReconcile());
    this.reconcileTimer = setInterval(() => {
      this.kickReconcile();
      this.ackRotationIfNeeded();
      void this.syncTlsIfStalled();
    }, 500);
    this.reconcileTimer.unref();
    // The store may already hold TLS material (restart): adopt it.
    this.onTlsMaybeChanged();
    this.expiryTimer = setInterval(() => this.warnIfExpiring(), 6 * 3600_000);
    this.expiryTimer.unref();
    this.raftNode.events.once("applied", () => this.warnIfExpiring());
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
    return this.proposeBytes(this.encode(command, actor), rotationCommandOfInput(command));
  }

  /**
   * Where a call that must run on the leader goes: undefined when this node leads, else
   * the leader's id and a transport to its cluster port. Fails with "no quorum" when no
   * leader is known.
   */
  private leaderTransport(): { id: string; addr: string; transport: Transport } | undefined {
    const leader = this.raft().leader();
    if (leader.self) return undefined;
    if (!leader.addr) throw noQuorum("no leader is known");
    return { id: leader.id, addr: leader.addr, transport: this.port.peers.transport(leader.addr) };
  }

  /**
   * {@link propose} for an encoded command. `rotation` is what {@link rotationCommandOf}
   * would find in `bytes`, when the caller knows it (saves decoding every write again).
   */
  async proposeBytes(bytes: Uint8Array, rotation?: RotationCommand | null): Promise<FsmResult> {
    this.ensureMember();
    for (let attempt = 0; ; attempt++) {
      await this.beforeLeaderCall();
      const leader = this.leaderTransport();
      if (!leader) return this.applyLocal(bytes, rotation);
      const client = createClient(NodeService, leader.transport);
      try {
        const res = await client.apply({ command: bytes }, { timeoutMs: FORWARD_TIMEOUT_MS });
        return JSON.parse(new TextDecoder().decode(res.result)) as FsmResult;
      } catch (err) {
        const e = ConnectError.from(err);
        // The leader this node knows refused the connection: the command never reached it
        // (it has just died, say). Safe to send again, to the next leader once there is one.
        if (attempt === 0 && connectionRefused(e)) {
          await this.waitLeaderChange(leader.id, this.opts.timing.electionTimeoutMs * 2);
          continue;
        }
        if (e.code === Code.Unavailable || e.code === Code.DeadlineExceeded) {
          throw noQuorum(
            `the leader ${leader.id} at ${leader.addr} did not answer (${e.rawMessage})`,
          );
        }
        throw e;
      }
    }
  }

  private async applyLocal(
    bytes: Uint8Array,
    rotation?: RotationCommand | null,
  ): Promise<FsmResult> {
    this.ensureMember();
    // Only the leader holds acks; `rotation` undefined: the caller did not say, decode.
    const leads = this.raftNode?.leader().self === true;
    const command = !leads ? null : rotation === undefined ? rotationCommandOf(bytes) : rotation;
    if (command) {
      if (command.kind === "ack") return this.holdAck(command, bytes);
      // A finish (forced, or from another node) goes behind the acks held so far, so that
      // the members they come from are not left behind.
      this.flushAcks(false);
    }
    return this.applyNow(bytes);
  }

  private async applyNow(bytes: Uint8Array): Promise<FsmResult> {
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
    try {
      const leader = this.leaderTransport();
      if (!leader) {
        await this.raft().readIndex({ timeoutMs: FORWARD_TIMEOUT_MS });
        return;
      }
      const client = createClient(NodeService, leader.transport);
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
    const leader = this.leaderTransport();
    if (leader) {
      const client = createClient(EnrollService, leader.transport);
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
    // The node is added to Raft as a nonvoter now, but the reply does not wait for that
    // change to commit: it is in force on the leader once appended (the leader starts
    // replicating to the node then), and the node can serve that replication only with
    // the reply's TLS material. The two overlap instead of following one another. If the
    // change fails (a leader change), the node is recorded and the reconciler adds it.
    void this.addToRaft(req.nodeId, req.clusterAddr).catch((err: unknown) =>
      this.log.warn(
        { node: req.nodeId, err: (err as Error).message },
        "adding enrolled node to raft failed; will retry",
      ),
    );
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
      const r = await this.propose(
        {
          kind: "recordAudit",
          auditKind: "enroll.failed",
          // Detail keys are snake_case (the FSM refuses others); never the secret.
          details: { source, reason, claimed_node_id: nodeId.slice(0, 64) },
        },
        ACTOR_SYSTEM,
      );
      if (!r.ok) throw new Error(r.message);
    } catch (err) {
      this.log.warn(
        { err: (err as Error).message },
        "could not record a failed enrollment in the audit trail",
      );
    }
  }

  // ---- membership operations, run on the leader ----

  /**
   * Runs a membership operation on the leader: here when this node leads, else forwarded
   * over the cluster port. Removing the leader moves leadership first and then runs the
   * removal on the new leader. Resolves to the leader id after the operation.
   */
  async leaderOp(op: LeaderOp, nodeId: string, timeoutMs = 30_000): Promise<string> {
    this.ensureMember();
    for (let attempt = 0; ; attempt++) {
      const leaderId = this.raft().leader().id;
      try {
        await this.beforeLeaderCall();
        const leader = this.leaderTransport();
        if (!leader) return await this.runLeaderOp(op, nodeId, timeoutMs);
        const client = createClient(NodeService, leader.transport);
        const res = await client.admin(
          { op, nodeId, timeoutMs: BigInt(timeoutMs) },
          { timeoutMs: timeoutMs + 5000 },
        );
        return res.leaderId;
      } catch (err) {
        const e = toConnectError(err);
        // The leader moved, or the one this node knows did not answer (it may have just
        // died; these operations may be sent again): try again with the next leader.
        const retry =
          (e.code === Code.FailedPrecondition &&
            /not the leader|leadership moved/.test(e.rawMessage)) ||
          (e.code === Code.Unavailable && attempt < 2);
        if (!retry || attempt >= 5) throw e;
        await this.waitLeaderChange(leaderId, this.opts.timing.electionTimeoutMs * 3);
      }
    }
  }

  private waitLeaderChange(from: string, timeoutMs: number): Promise<void> {
    const raft = this.raft();
    const now = raft.leader().id;
    if (now !== from && now !== "") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        raft.events.off("leader", done);
        resolve();
      };
      const t = setTimeout(done, timeoutMs);
      raft.events.on("leader", done);
    });
  }

  /** The leader's side of {@link leaderOp}. */
  private async runLeaderOp(op: string, nodeId: string, timeoutMs: number): Promise<string> {
    const raft = this.raft();
    const opts = { timeoutMs: timeoutMs > 0 ? timeoutMs : 30_000 };
    try {
      switch (op) {
        // An operator's promote or demote records the node's target first: the reconciler
        // steers Raft towards it, and would otherwise undo the change (a node that joined
        // as a voter was promoted straight back after a demote).
        case "promote":
          await this.setTargetSuffrage(nodeId, "voter");
          await raft.promote(nodeId, opts);
          await this.recordSuffrage(nodeId, "voter");
          break;
        case "demote": {
          const conf = raft.stats().conf;
          if (conf.voters.length === 1 && conf.voters[0] === nodeId) {
            throw new ConnectError("cannot demote the last voter", Code.FailedPrecondition);
          }
          await this.setTargetSuffrage(nodeId, "nonvoter");
          await raft.demote(nodeId, opts);
          await this.recordSuffrage(nodeId, "nonvoter");
          break;
        }
        case "remove-raft":
          if (nodeId === this.id) {
            const to = await raft.transferLeadership(undefined, opts);
            this.log.info({ to }, "moved leadership away before removing this node");
            throw new ConnectError(
              "leadership moved; retry on the new leader",
              Code.FailedPrecondition,
            );
          }
          if (raft.stats().conf.addrs[nodeId] !== undefined) await raft.removeServer(nodeId, opts);
          break;
        case "transfer":
          return await raft.transferLeadership(nodeId || undefined, opts);
        default:
          throw new ConnectError(`unknown operation ${op}`, Code.InvalidArgument);
      }
    } catch (err) {
      throw toConnectError(err);
    }
    return raft.stats().leaderId;
  }

  // ---- leader duties ----

  private kickReconcile(): void {
    if (this.stopped || !this.raftNode) return;
    if (this.reconciling) {
      // A change arrived mid-pass: run once more right after, not at the next timer tick.
      this.reconcileAgain = true;
      return;
    }
    if (!this.raftNode.leader().self) return;
    this.reconciling = true;
    this.reconcileAgain = false;
    void this.reconcile()
      .catch((err) => this.log.debug({ err: (err as Error).message }, "reconcile pass failed"))
      .finally(() => {
        this.reconciling = false;
        if (this.reconcileAgain) this.kickReconcile();
      });
  }

  /**
   * Brings Raft membership in line with the recorded nodes: adds enrolled nodes that a
   * leader change left out, promotes caught-up nonvoters that should be voters, and
   * records suffrage changes. Runs on the leader only, one pass at a time.
   */
  private async reconcile(): Promise<void> {
    const raft = this.raft();
    const rotation = this.fsm.tls()?.rotation;
    if (rotation && rotation.pending.length === 0) {
      // Every member presents the new certificate: stop accepting the old one.
      await this.proposeFinish(rotation.newFingerprint);
    }
    const conf = raft.stats().conf;
    const recorded = new Set(this.fsm.nodes().map((n) => n.id));
    for (const id of [...conf.voters, ...conf.learners]) {
      // A member the store no longer records was removed; finish taking it out of Raft.
      if (id !== this.id && this.fsm.initialized() && !recorded.has(id)) {
        await raft.removeServer(id, { timeoutMs: FORWARD_TIMEOUT_MS });
      }
    }
    for (const n of this.fsm.nodes()) {
      const inRaft = conf.voters.includes(n.id) || conf.learners.includes(n.id);
      if (!inRaft) {
        await this.addToRaft(n.id, n.clusterAddr);
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

  /**
   * Adds a recorded node to Raft as a nonvoter, once: the Enroll handler and the
   * reconciler (woken by the same enrollment) both ask, and share one change. A node that
   * is already a member when its turn comes counts as added.
   */
  private addToRaft(id: string, addr: string): Promise<void> {
    const pending = this.adding.get(id);
    if (pending) return pending;
    const raft = this.raft();
    const inRaft = (): boolean => {
      const conf = raft.stats().conf;
      return conf.voters.includes(id) || conf.learners.includes(id);
    };
    if (inRaft()) return Promise.resolve();
    const p = raft
      .addNonvoter(id, addr, { timeoutMs: FORWARD_TIMEOUT_MS })
      .then(
        () => undefined,
        (err: unknown) => {
          if (!inRaft()) throw err;
        },
      )
      .finally(() => this.adding.delete(id));
    this.adding.set(id, p);
    return p;
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

  private async setTargetSuffrage(nodeId: string, suffrage: "voter" | "nonvoter"): Promise<void> {
    const r = await this.propose(
      { kind: "updateNode", nodeId, suffrage, setTarget: true },
      "local-admin",
    );
    if (!r.ok) throw new ConnectError(r.message, fsmCode(r.code));
  }

  private async recordSuffrage(nodeId: string, suffrage: "voter" | "nonvoter"): Promise<void> {
    const r = await this.propose({ kind: "updateNode", nodeId, suffrage }, ACTOR_SYSTEM);
    if (!r.ok) this.log.warn({ nodeId, message: r.message }, "recording suffrage failed");
  }

  // ---- rotation acknowledgements and the finish, on the leader ----

  /**
   * The leader's side of AckRotation (a member's own, forwarded, or this node's). Each
   * ack committed on its own would cost one Raft round per member, one after the other,
   * and the finish one more. Instead the leader holds the acks of the rotation in flight
   * until every pending member has sent one, then proposes them and the FinishRotation
   * together, in one batch: one round. Nothing is decided here: the acks and the finish go
   * through the config store like any command, and it refuses a finish unless every
   * current member's ack was applied before it. A member that is slow or down delays the
   * others' acks by at most {@link ACK_HOLD_MS} (once per rotation), so that status then
   * names just the members still missing.
   */
  private holdAck(ack: { nodeId: string; fingerprint: string }, bytes: Uint8Array) {
    const rotation = this.fsm.tls()?.rotation;
    if (
      !rotation ||
      rotation.newFingerprint !== ack.fingerprint ||
      !rotation.pending.includes(ack.nodeId)
    ) {
      return this.applyNow(bytes);
    }
    if (this.heldAcks && this.heldAcks.fingerprint !== ack.fingerprint) this.flushAcks(false);
    if (!this.heldAcks) {
      this.heldAcks = { fingerprint: ack.fingerprint, acks: new Map(), timer: undefined };
    }
    const held = this.heldAcks;
    return new Promise<FsmResult>((resolve, reject) => {
      const entry = held.acks.get(ack.nodeId) ?? { bytes, waiters: [] };
      entry.waiters.push({ resolve, reject });
      held.acks.set(ack.nodeId, entry);
      if (this.flushAcksIfComplete() || this.heldAcks !== held) return;
      if (this.ackHoldExpired === ack.fingerprint) {
        // This rotation already waited once for a member that is slow or down.
        this.flushAcks(false);
      } else if (!held.timer) {
        held.timer = setTimeout(() => {
          this.ackHoldExpired = ack.fingerprint;
          this.flushAcks(false);
        }, ACK_HOLD_MS);
        held.timer.unref();
      }
    });
  }

  /**
   * Proposes the held acks and the finish once they cover every pending member; true when
   * it did.
   */
  private flushAcksIfComplete(): boolean {
    const held = this.heldAcks;
    if (!held) return false;
    const rotation = this.fsm.tls()?.rotation;
    if (!rotation || rotation.newFingerprint !== held.fingerprint) {
      // The rotation finished or was replaced: let the store judge what is held.
      this.flushAcks(false);
      return false;
    }
    if (!rotation.pending.every((id) => held.acks.has(id))) return false;
    this.log.info(
      { fingerprint: held.fingerprint, acks: held.acks.size },
      "every member presents the new certificate; committing the acks and the finish together",
    );
    this.flushAcks(true);
    return true;
  }

  /**
   * Proposes every held ack, and with `finish` the FinishRotation right behind them. All
   * are proposed in the same turn, so Raft appends, persists and commits them together,
   * and applies the acks before the finish.
   */
  private flushAcks(finish: boolean): void {
    const held = this.heldAcks;
    if (!held) return;
    this.heldAcks = undefined;
    if (held.timer) clearTimeout(held.timer);
    for (const { bytes, waiters } of held.acks.values()) {
      this.applyNow(bytes).then(
        (r) => {
          for (const w of waiters) w.resolve(r);
        },
        (err) => {
          for (const w of waiters) w.reject(err);
        },
      );
    }
    if (finish) void this.proposeFinish(held.fingerprint);
  }

  /** Proposes FinishRotation once per rotation; resolves when it was applied or refused. */
  private proposeFinish(fingerprint: string): Promise<void> {
    if (this.finishing?.fingerprint === fingerprint) return this.finishing.done;
    const done = this.applyNow(this.encode({ kind: "finishRotation", fingerprint }, ACTOR_SYSTEM))
      .then((r) => {
        if (r.ok) this.log.info({ fingerprint }, "certificate rotation finished");
        else this.log.debug({ fingerprint, message: r.message }, "rotation not finished yet");
      })
      .catch((err) =>
        this.log.debug({ err: (err as Error).message }, "proposing the rotation finish failed"),
      )
      .finally(() => {
        if (this.finishing?.fingerprint === fingerprint) this.finishing = undefined;
      });
    this.finishing = { fingerprint, done };
    return done;
  }

  // ---- TLS from the config store ----

  /**
   * Resolves once a TLS change the store has applied is in force on the cluster port.
   * The swap runs just after the entry is applied; a call forwarded in between would go
   * out with the previous credentials, which the leader may no longer accept (the finish
   * of a rotation, followed at once by the next step of `ca rotate`).
   */
  private tlsSettled(): Promise<void> {
    if (!this.tlsCheckScheduled) return Promise.resolve();
    return new Promise((resolve) => setImmediate(resolve));
  }

  /**
   * Before a call that must reach the leader: the TLS state in force (tlsSettled), and a
   * leader known, or up to two election timeouts (the top of the randomised range) given
   * for one to emerge. A node that has just started, or just lost its leader, has none
   * for a moment; failing at once with "no quorum" would be wrong (a single-voter cluster
   * elects itself within that time). A cluster that really lost its quorum still fails
   * fast (see proposeBytes for the one other wait).
   */
  private async beforeLeaderCall(): Promise<void> {
    await this.tlsSettled();
    const raft = this.raft();
    if (raft.leader().id === "") {
      await this.waitLeaderChange("", this.opts.timing.electionTimeoutMs * 2);
    }
  }

  /**
   * Runs {@link onTlsMaybeChanged} once the entries being applied now are done, in the
   * next check phase. Raft sends a Ready's messages before it applies its entries, but
   * they reach the wire only after the apply's synchronous work: rebuilding the TLS state
   * inline would hold back, on the leader, the commit that tells every follower about a
   * rotation step. Several entries applied together (acks and a finish) also lead to one
   * rebuild instead of one per entry.
   */
  private scheduleTlsCheck(): void {
    if (this.tlsCheckScheduled) return;
    this.tlsCheckScheduled = true;
    setImmediate(() => {
      this.tlsCheckScheduled = false;
      if (!this.stopped) this.onTlsMaybeChanged();
    });
  }

  /** Rebuilds the cluster port's TLS state and the files on disk when the store's changed. */
  private onTlsMaybeChanged(): void {
    const material = this.fsm.secrets.tlsMaterial();
    const cluster = this.fsm.cluster();
    if (!material || !cluster) return;
    const previous = material.previous;
    const key = `${tlsMaterialKey(
      material.current.fingerprint,
      material.trustedCaCertsPem,
      material.acceptedFingerprints,
    )}|${previous?.fingerprint ?? ""}`;
    if (key === this.tlsKey) {
      // Already in force, e.g. caught up from a peer before this entry arrived: the ack
      // is due now, not at the next periodic pass.
      this.ackRotationIfNeeded();
      return;
    }
    let next: ClusterTlsState;
    try {
      next = ClusterTlsState.fromPem({
        trustedCaPems: [...material.trustedCaCertsPem],
        certPem: material.current.certPem,
        keyPem: material.current.keyPem.reveal(),
        accepted: [...material.acceptedFingerprints],
        serverName: clusterServerName(cluster.id),
      });
      // While the rotation is in flight, dial out with the previous certificate: every
      // member accepts it until the finish, also one that has not applied the begin yet
      // and would refuse the new one (and so never learn of it).
      if (previous) next = next.withClientIdentity(previous.certPem, previous.keyPem.reveal());
    } catch (err) {
      this.log.error(
        { err: (err as Error).message },
        "the config store's TLS material is unusable; keeping the current one",
      );
      return;
    }
    this.adoptTls(next, key);
    this.ackRotationIfNeeded();
    if (previous) {
      // The finish will have this node dial with the certificate it serves now: build that
      // connection context while the ack travels, not when the finish arrives.
      const state = next;
      setTimeout(() => {
        if (this.port.tls() === state) state.prepareFinishClientContext();
      }, 1).unref();
    }
  }

  /** Installs a TLS state on the cluster port (hot reload) and rewrites the files. */
  private adoptTls(next: ClusterTlsState, key: string): void {
    this.tlsKey = key;
    if (next.clientFingerprint !== this.port.tls().clientFingerprint) {
      this.identityChangedAt = performance.now();
    }
    try {
      const swap = this.port.swapTls(next);
      if (swap.closedSessions > 0) {
        this.log.info({ closed: swap.closedSessions }, "closed sessions no longer accepted");
      }
    } catch (err) {
      this.completeFailedSwap(next, err);
    }
    this.tlsWrite = this.tlsWrite
      // The files must not get ahead of the durable log: a restart rebuilds the TLS state
      // from the entries it replays, and from state older than the files it would present
      // a certificate the others may no longer accept (and take their refusals for its
      // removal).
      .then(() => this.raftNode?.persistCommit())
      .then(() => writeTlsFiles(this.opts.paths.home, next))
      .catch((err) => this.log.error({ err: (err as Error).message }, "writing TLS files failed"));
  }

  /**
   * The cluster port threw part-way through a swap. It has then set the new state (new
   * connections get it, and the gate judges every request by it) but may not have told
   * every stale session to go away nor rebuilt its peer clients. The second would leave
   * this node dialling out with credentials the others may refuse, and after a finish it
   * would take their refusals for its own removal. Seen in practice: a session destroyed
   * but not yet closed has no socket, and the port's session sweep reads it (the fix
   * belongs in the port: skip such sessions). Rebuild the peer clients here.
   */
  private completeFailedSwap(next: ClusterTlsState, err: unknown): void {
    this.log.error(
      { err: (err as Error).message },
      "swapping the cluster TLS state failed part-way; rebuilding the peer clients",
    );
    // Only once the port holds the new state: a swap that failed before that changed
    // nothing, and the peer clients must not run ahead of the server side.
    if (this.port.tls() === next) this.port.peers.swap(next);
  }

  /**
   * Tells the leader that this node presents the new certificate of the rotation in
   * flight (AckRotation). Idempotent; retried by the periodic pass until recorded.
   */
  private ackRotationIfNeeded(caughtUp?: string): void {
    if (this.acking || this.removedNotice) return;
    const rotation = this.fsm.tls()?.rotation;
    let fingerprint: string;
    if (rotation) {
      if (rotation.ackedBy.includes(this.id) || !rotation.pending.includes(this.id)) return;
      fingerprint = rotation.newFingerprint;
    } else if (caughtUp) {
      // Caught up from a peer before this node's store applied the begin: the leader's
      // store judges the ack against the rotation in flight there.
      fingerprint = caughtUp;
    } else {
      return;
    }
    if (this.port.tls().fingerprint !== fingerprint || this.acked === fingerprint) return;
    this.acking = true;
    void this.propose({ kind: "ackRotation", nodeId: this.id, fingerprint }, `node:${this.id}`)
      .then((r) => {
        if (r.ok) {
          this.acked = fingerprint;
          this.log.info({ fingerprint }, "acknowledged certificate rotation");
        }
      })
      .catch((err) =>
        this.log.debug(
          { err: (err as Error).message },
          "rotation ack not recorded yet; will retry",
        ),
      )
      .finally(() => {
        this.acking = false;
      });
  }

  /**
   * Catches up TLS material from a peer when this node has not heard from a leader for a
   * while: a member that was down or cut off during a rotation presents and accepts only
   * the old certificate, so peers presenting the new one cannot reach it, and it would
   * never receive the log entries that tell it about the new one.
   */
  private async syncTlsIfStalled(behind = false, from?: string): Promise<void> {
    const raft = this.raftNode;
    if (!raft || this.removedNotice || this.stopped || this.syncing) return;
    const stats = raft.stats();
    if (stats.role === "leader" && !behind) return;
    const leaderContact = stats.leaderId ? stats.peers[stats.leaderId]?.lastContactMs : null;
    // `behind`: a peer presented a certificate this node does not accept yet. This node
    // may still hear the leader (which dials out with the previous certificate) while its
    // own replies cannot get out, so it would never look stalled.
    const stalled =
      behind ||
      !stats.leaderId ||
      leaderContact === null ||
      leaderContact === undefined ||
      leaderContact > this.opts.timing.electionTimeoutMs * 2;
    if (!stalled) return;
    this.syncing = true;
    try {
      // The peer whose certificate this node could not verify has newer material: ask it
      // first.
      const peers = Object.entries(this.knownPeers(stats.conf.addrs)).sort(
        ([a], [b]) => Number(b === from) - Number(a === from),
      );
      for (const [id, addr] of peers) {
        if (id === this.id) continue;
        const session = catchUpSession(this.port.tls(), addr);
        try {
          const client = createClient(NodeService, session.transport);
          const res = await client.syncTls({}, { timeoutMs: 2000 });
          if (res.keyWithheld) {
            if (this.acceptPublicTls(id, res)) return;
            continue;
          }
          const key = tlsMaterialKey(
            fingerprintOfPem(res.certPem),
            res.trustedCaPems,
            res.acceptedFingerprints,
          );
          const mine = this.port.tls();
          // Still mid-rotation: keep dialling out with the certificate this node has (the
          // previous one), as every member does until the finish.
          const keepMine = res.acceptedFingerprints.includes(mine.fingerprint);
          const fullKey = `${key}|${keepMine ? mine.fingerprint : ""}`;
          // That peer is no further than this node: another may be.
          if (fullKey === this.tlsKey) continue;
          let next = ClusterTlsState.fromPem({
            trustedCaPems: res.trustedCaPems,
            certPem: res.certPem,
            keyPem: res.keyPem,
            accepted: res.acceptedFingerprints,
            serverName: mine.serverName,
          });
          if (keepMine && next.fingerprint !== mine.fingerprint) {
            const m = mine.material();
            next = next.withClientIdentity(m.certPem, m.keyPem);
          }
          this.log.info(
            { from: id, fingerprint: next.fingerprint },
            "caught up TLS material from a peer",
          );
          this.adoptTls(next, fullKey);
          // Mid-rotation (the peer still accepts this node's certificate): acknowledge
          // now, not once Raft has brought this node's store the begin.
          this.ackRotationIfNeeded(keepMine ? next.fingerprint : undefined);
          return;
        } catch (err) {
          const e = ConnectError.from(err);
          if (e.code === Code.PermissionDenied) this.onRefusedByPeer(id, e);
        } finally {
          session.close();
        }
      }
    } finally {
      this.syncing = false;
    }
  }

  /**
   * A peer withheld the key of the rotation in flight (a node was removed since this
   * node's certificate came into use). Accepting what that peer presents and accepts is
   * enough to catch up: until the finish every member still accepts this node's
   * certificate, so once this node accepts theirs its replies reach the leader again, and
   * Raft brings it the begin, with the new key, like any other entry. Returns false when
   * there is nothing new to accept (ask another peer).
   */
  private acceptPublicTls(from: string, res: SyncTlsResponse): boolean {
    const mine = this.port.tls();
    // A node dialling out with a previous certificate has applied a begin already.
    if (mine.clientFingerprint !== mine.fingerprint) return false;
    const accepted = [...new Set([...mine.accepted, ...res.acceptedFingerprints])];
    const cas = new Map<string, string>();
    const addCas = (pem: string) => {
      for (const block of parsePemBlocks(pem)) {
        if (block.label === "CERTIFICATE") {
          cas.set(fingerprint(block.der), encodePem(block.label, block.der));
        }
      }
    };
    addCas(mine.trustedCaPem);
    const own = cas.size;
    for (const pem of res.trustedCaPems) addCas(pem);
    if (accepted.length === mine.accepted.size && cas.size === own) return false;
    const m = mine.material();
    const next = ClusterTlsState.fromPem({ ...m, trustedCaPems: [...cas.values()], accepted });
    this.log.info(
      { from, accepted: accepted.length },
      "a peer withheld the new key (a node was removed); accepting its certificate so that Raft can bring this node the rotation",
    );
    this.adoptTls(next, `${tlsMaterialKey(next.fingerprint, [...cas.values()], accepted)}|public`);
    return true;
  }

  /**
   * Why SyncTls must not hand out the key now, if it must not (it then answers with the
   * public part only, see acceptPublicTls). All members share one certificate, so the
   * server cannot tell who calls; anyone holding the old one may.
   * That is fine for a plain rotation (every holder is a member), but not when a node was
   * removed since the old certificate came into use: the evicted node holds it too, and
   * must not learn the new key. A member that missed the begin then gets the key through
   * Raft instead. The audit ring is bounded, so when it no longer reaches back to when the old
   * certificate was installed, the answer is a conservative no.
   */
  private syncTlsRefusal(): string | undefined {
    const tls = this.fsm.tls();
    if (!tls?.rotation || !tls.previous) return undefined;
    const since = tls.previous.installedAtUnixMs;
    const audit = this.fsm.audit();
    const ringCovers = audit.length > 0 && (audit[0]!.seq === 1 || audit[0]!.atUnixMs <= since);
    const removal = audit.some((a) => a.kind === "node.removed" && a.atUnixMs >= since);
    if (removal || !ringCovers) {
      return "this rotation revokes a removed node, so its key is not handed out; a member gets it through Raft";
    }
    return undefined;
  }

  /**
   * Removes <home>/join-token once the token in it no longer verifies (it was rotated or
   * revoked, perhaps from another node): a file that looks like a working secret but is
   * not would only mislead. The node whose admin API rotated it writes the new one.
   */
  private joinTokenFileOps: Promise<void> = Promise.resolve();

  /**
   * Runs `op` on `<home>/join-token` after every earlier one. Dropping a stale file reads,
   * checks and removes it across several awaits; a rewrite by `token rotate` landing in
   * between would otherwise be removed as stale.
   */
  private joinTokenFileOp(op: () => Promise<void>): Promise<void> {
    const next = this.joinTokenFileOps.then(op);
    this.joinTokenFileOps = next.catch(() => undefined);
    return next;
  }

  /** Rewrites `<home>/join-token` (0600, atomic), in order with the stale-file check. */
  writeJoinTokenFile(token: string): Promise<void> {
    return this.joinTokenFileOp(() =>
      writeFileAtomic(this.opts.paths.joinToken, `${token}\n`, { mode: 0o600 }),
    );
  }

  private async dropStaleJoinTokenFile(): Promise<void> {
    const path = this.opts.paths.joinToken;
    let text: string;
    try {
      text = (await readFile(path, "utf8")).trim();
    } catch {
      return;
    }
    let hash: Buffer;
    try {
      hash = Buffer.from(hashJoinSecret(parseJoinToken(text).secret), "hex");
    } catch {
      return;
    }
    if (this.fsm.verifyToken(hash, Date.now()).ok) return;
    await rm(path, { force: true });
    this.log.warn(
      { path },
      "the reusable join token was rotated or revoked; removed the stale join-token file",
    );
  }

  /** Logs a warning for a cluster certificate or CA with fewer than 30 days left. */
  private warnIfExpiring(now = Date.now()): void {
    const tls = this.fsm.tls();
    if (!tls) return;
    const days = (ms: number) => Math.floor((ms - now) / 86_400_000);
    const cert = days(tls.current.notAfterUnixMs);
    if (cert < 30) {
      this.log.warn(
        { daysLeft: cert, fingerprint: tls.current.fingerprint },
        `the cluster certificate expires in ${cert} days; run \`gastrolog cert rotate\``,
      );
    }
    for (const ca of tls.trustedCas) {
      const d = days(ca.notAfterUnixMs);
      if (d < 30) {
        this.log.warn(
          { daysLeft: d, fingerprint: ca.fingerprint },
          `a trusted CA expires in ${d} days; run \`gastrolog ca rotate\``,
        );
      }
    }
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

  /**
   * A peer refused us outright. One refusal proves little: mid-rotation a peer that has
   * not applied the begin yet refuses the new certificate, and a lagging peer may not know
   * a new member. Only when a majority of the other voters refuse within a short window is
   * this node out: removed, or left behind by a forced rotation.
   */
  private onRefusedByPeer(peer: string, err: ConnectError): void {
    if (this.removedNotice || this.stopped || !this.raftNode) return;
    const removed = err.code === Code.FailedPrecondition && err.rawMessage.includes("not a member");
    if (!removed && err.code !== Code.PermissionDenied) return;
    const tls = this.port.tls();
    if (!removed && tls.clientFingerprint !== tls.fingerprint) {
      // Still dialling out with the previous certificate of a rotation that has finished
      // on that peer: switch to the current one at once. It is always safe (until the
      // finish every member accepts both), and a follower talks only to the leader, so
      // waiting for a majority of refusals could wait forever.
      this.refusals.clear();
      this.log.info("a peer refuses the previous certificate; dialling out with the current one");
      this.adoptTls(ClusterTlsState.fromPem(tls.material()), `${this.tlsKey}|current-client`);
      return;
    }
    const now = performance.now();
    // Calls made with the identity this node dialled out with before its last change can
    // still come back refused for a moment: they say nothing about the current one.
    if (now - this.identityChangedAt < this.opts.timing.electionTimeoutMs) return;
    this.refusals.set(peer, now);
    const voters = this.raftNode.stats().conf.voters;
    const others = (voters.length > 0 ? voters : Object.keys(this.opts.seedPeers ?? {})).filter(
      (v) => v !== this.id,
    );
    const recent = others.filter((v) => now - (this.refusals.get(v) ?? -Infinity) < 10_000).length;
    if (others.length === 0 || recent < Math.floor(others.length / 2) + 1) return;
    this.markRemoved(
      removed
        ? "this node was removed from the cluster"
        : "the other members no longer accept this node's certificate: it was removed, or a forced rotation left it behind",
    );
  }

  /**
   * The peers to ask when stalled: Raft's configuration, or, for a joined node whose log
   * holds none yet, the members it enrolled with. Without them such a node, removed before
   * the leader could reach it, would never find out.
   */
  private knownPeers(conf: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
    return Object.keys(conf).length > 0 ? conf : (this.opts.seedPeers ?? {});
  }

  private markRemoved(why: string): void {
    if (this.removedNotice) return;
    this.removedNotice = `${why}. It must re-enroll: stop it, move ${this.opts.paths.home} aside, remove its old entry on a member if it is still listed (\`gastrolog cluster remove ${this.id}\`), create a token there with \`gastrolog token create\`, and run \`gastrolog server --home ${this.opts.paths.home} --join-addr <member cluster address> --join-token <token>\` with the same --listen and --cluster-addr as before`;
    this.log.error(this.removedNotice);
    // Stop Raft so that it does not retry forever; the admin API keeps answering status.
    void this.raftNode?.shutdown().catch(() => undefined);
  }

  /** Stops Raft, the cluster port and timers; finishes in-flight calls first. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.flushAcks(false);
    await this.raftNode?.shutdown();
    this.inbound?.attach(undefined);
    await this.port.close();
    await this.tlsWrite;
  }
}

/**
 * A one-off connection for TLS catch-up. It verifies that the server's leaf chains to a
 * CA this node trusts and carries the cluster name, but not that it is in this node's
 * accepted set: a node that missed a rotation does not know the new leaf yet, which is
 * why it is catching up. This is no weaker than the CA itself (whoever holds the CA key
 * can mint a leaf), and the server's gate still judges this node's own certificate.
 */
function catchUpSession(
  state: ClusterTlsState,
  addr: string,
): { transport: Transport; close(): void } {
  const { checkServerIdentity: _strict, ...options } = state.clientOptions();
  const manager = new Http2SessionManager(
    `https://${addr}`,
    { idleConnectionTimeoutMs: 5000 },
    {
      ...options,
      checkServerIdentity: checkServerIdentity,
    },
  );
  return {
    transport: createGrpcTransport({ baseUrl: `https://${addr}`, sessionManager: manager }),
    close: () => manager.abort(),
  };
}

/** Membership operations that must run on the leader. */
export type LeaderOp = "promote" | "demote" | "remove-raft" | "transfer";

/** Identifies a TLS state: what this node presents, what it trusts and what it accepts. */
function tlsMaterialKey(
  certFingerprint: string,
  caPems: readonly string[],
  accepted: readonly string[],
): string {
  return `${certFingerprint}|${caPems
    .map((p) => fingerprintOfPem(p))
    .sort()
    .join(",")}|${[...accepted].sort().join(",")}`;
}

/**
 * Fingerprints of every certificate in a PEM bundle, comma-joined. Hashes the DER of each
 * block without parsing it as X.509: this runs on every TLS-related change of the store
 * (each rotation ack included), and ClusterTlsState.fromPem does the real checks.
 */
function fingerprintOfPem(pem: string): string {
  return parsePemBlocks(pem)
    .filter((b) => b.label === "CERTIFICATE")
    .map((b) => fingerprint(b.der))
    .join(",");
}

/** A rotation's AckRotation (its member and fingerprint) or FinishRotation. */
export type RotationCommand =
  | { kind: "ack"; nodeId: string; fingerprint: string }
  | { kind: "finish" };

/**
 * An encoded AckRotation or FinishRotation; null for any other command, or bytes that do
 * not decode. For commands forwarded by other members, which arrive encoded.
 */
export function rotationCommandOf(bytes: Uint8Array): RotationCommand | null {
  try {
    const k = fromBinary(ConfigCommandSchema, bytes).kind;
    if (k.case === "ackRotation") {
      return { kind: "ack", nodeId: k.value.nodeId, fingerprint: k.value.fingerprint };
    }
    return k.case === "finishRotation" ? { kind: "finish" } : null;
  } catch {
    return null;
  }
}

/** {@link rotationCommandOf} of a command before it is encoded. */
export function rotationCommandOfInput(c: CommandInput): RotationCommand | null {
  if (c.kind === "ackRotation")
    return { kind: "ack", nodeId: c.nodeId, fingerprint: c.fingerprint };
  return c.kind === "finishRotation" ? { kind: "finish" } : null;
}

/** The one message every token failure gets: it never says which part was wrong. */
function invalidToken(): ConnectError {
  return new ConnectError("invalid or expired token", Code.Unauthenticated);
}

/** The connection to the peer was refused: nothing of the call reached it. */
function connectionRefused(e: ConnectError): boolean {
  const cause = e.cause as { code?: unknown } | undefined;
  return cause?.code === "ECONNREFUSED" || /\bECONNREFUSED\b/.test(e.rawMessage);
}

function noQuorum(detail: string): ConnectError {
  return new ConnectError(`no quorum: ${detail}`, Code.Unavailable);
}

/** Maps a RaftNode error to the API's error; anything else passes through. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof RaftNodeError) {
    switch (err.code) {
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
