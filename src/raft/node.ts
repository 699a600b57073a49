import { randomInt } from "node:crypto";
import { EventEmitter } from "node:events";
import { type Logger, silentLogger } from "../log.js";
import type { RaftOptions, RawNode } from "./core/api.js";
import { bootstrapLogState } from "./core/bootstrap.js";
import { splitEarlyMessages } from "./core/early-send.js";
import { RaftError } from "./core/errors.js";
import { createRaft } from "./core/raft.js";
import { RaftNodeError } from "./node-errors.js";
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  PersistedState,
  Ready,
  Role,
  Snapshot,
  SnapshotMeta,
} from "./types.js";
import { EMPTY_HARD_STATE, message } from "./types.js";

/**
 * The state machine a RaftNode drives, in the shape of hashicorp/raft's FSM interface.
 * `apply` must be deterministic: the same entries in the same order give the same state
 * and the same responses on every node.
 */
export interface RaftFsm {
  /** Applies one committed `normal` entry and returns the response for its proposer. */
  apply(entry: Entry): unknown;
  /** Serialises the whole state. */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's, taken at `meta.index`. */
  restore(data: Uint8Array, meta: SnapshotMeta): void;
}

/**
 * Durable log, hard state and snapshots, as the runtime needs them. `RaftStorage` from
 * src/raft/storage satisfies it.
 */
export interface RaftNodeStorage {
  /** What is on disk now. */
  load(): PersistedState;
  /** The data of the snapshot load() reports, verified; undefined if none. */
  loadSnapshot(): Promise<Snapshot | undefined>;
  /**
   * Durably (fsync) writes, in one transaction: a snapshot's metadata, entries (replacing
   * any suffix from entries[0].index on), and the hard state.
   */
  save(update: {
    hardState?: HardState;
    entries?: readonly Entry[];
    snapshot?: SnapshotMeta;
  }): Promise<void>;
  /** Drops log entries at or below `index` (they are covered by a snapshot). */
  compact(index: number): Promise<void>;
  close(): Promise<void>;
  /** Snapshot files: data is made durable here before its meta is saved to the log. */
  readonly snapshots: { save(meta: SnapshotMeta, data: Uint8Array): Promise<unknown> };
}

/** What a transport calls back into. */
export interface RaftTransportSink {
  /** A message arrived from a peer. */
  receive(m: Message): void;
  /** A message to `id` could not be delivered. */
  unreachable(id: NodeId): void;
  /** A snapshot to `id` was (ok) or was not delivered. */
  snapshotStatus(id: NodeId, ok: boolean): void;
}

/** Moves messages between nodes (see src/raft/transport). */
export interface RaftNodeTransport {
  /** Sends messages, best effort, in order per peer. */
  send(messages: readonly Message[]): void;
  /** The current members' addresses; the transport drops streams to others. */
  setPeers(addrs: Readonly<Record<NodeId, string>>): void;
  /** `id` says it is up: retry a link to it that is backing off now (optional). */
  peerUp?(id: NodeId): void;
  close(): Promise<void>;
}

/** Options for {@link createRaftNode}. */
export interface RaftNodeOptions {
  id: NodeId;
  fsm: RaftFsm;
  storage: RaftNodeStorage;
  transport: (sink: RaftTransportSink) => RaftNodeTransport;
  /** On an empty store: start as the sole voter of a new cluster at this address. */
  bootstrap?: { addr: string };
  /**
   * Addresses of existing members, for a joining node whose configuration is still empty:
   * it must be able to answer the leader before the leader's snapshot tells it who is who.
   */
  seedPeers?: Readonly<Record<NodeId, string>>;
  logger?: Logger;
  /** Heartbeat interval in ms (default 100). One tick is this long. */
  heartbeatMs?: number;
  /** Election timeout in ms, randomized up to 2x (default 1000). */
  electionTimeoutMs?: number;
  /** Take a snapshot after this many applied entries since the last (default 4096). */
  snapshotThreshold?: number;
  /** Keep this many entries behind a snapshot for slow followers (default 1024). */
  trailingLogs?: number;
  /** Default timeout of apply and membership calls in ms (default 10000). */
  applyTimeoutMs?: number;
  /** Passed to the core (tests only). */
  core?: Partial<
    Pick<RaftOptions, "maxSizePerMsg" | "maxInflightMsgs" | "preVote" | "checkQuorum">
  >;
}

/** Per-peer replication figures in {@link RaftNodeStats}. */
export interface PeerStats {
  readonly suffrage: "voter" | "nonvoter";
  readonly addr: string;
  /** Highest log index known to be replicated there (leader only, else 0). */
  readonly matchIndex: number;
  /** Milliseconds since a message from that peer was received; null if never. */
  readonly lastContactMs: number | null;
}

/** A snapshot of a node's Raft state for status output. */
export interface RaftNodeStats {
  readonly id: NodeId;
  readonly role: Role | "removed" | "shutdown";
  readonly leaderId: NodeId;
  readonly term: number;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly conf: ConfState;
  readonly peers: Readonly<Record<NodeId, PeerStats>>;
}

/** Call options: a timeout and/or an AbortSignal. */
export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Events a RaftNode emits. */
export interface RaftNodeEvents {
  leader: [leaderId: NodeId, term: number];
  membership: [conf: ConfState];
  removed: [];
  applied: [index: number];
}

/** A running Raft node: the application-facing API, modelled on hashicorp/raft. */
export interface RaftNode {
  readonly id: NodeId;
  readonly events: EventEmitter<RaftNodeEvents>;
  /** Proposes a command; resolves once applied here, with the FSM's response. */
  apply(data: Uint8Array, opts?: CallOptions): Promise<{ index: number; response: unknown }>;
  /** Resolves once everything committed before the call is applied here (leader only). */
  barrier(opts?: CallOptions): Promise<number>;
  /**
   * Confirms leadership with a quorum (ReadIndex) and waits until this node has applied
   * up to the read point. Local reads after it resolves are linearizable.
   */
  readIndex(opts?: CallOptions): Promise<number>;
  addVoter(id: NodeId, addr: string, opts?: MembershipOptions): Promise<number>;
  addNonvoter(id: NodeId, addr: string, opts?: MembershipOptions): Promise<number>;
  /** Waits for `id` to catch up with the leader's commit, then makes it a voter. */
  promote(id: NodeId, opts?: MembershipOptions): Promise<number>;
  demote(id: NodeId, opts?: MembershipOptions): Promise<number>;
  removeServer(id: NodeId, opts?: MembershipOptions): Promise<number>;
  /** Moves leadership to `to` (or the most up-to-date voter) and waits for it. */
  transferLeadership(to?: NodeId, opts?: CallOptions): Promise<NodeId>;
  /** Takes a snapshot now; resolves to its index. */
  snapshot(): Promise<number>;
  /** Makes the commit index durable now (it is otherwise written lazily). */
  persistCommit(): Promise<void>;
  stats(): RaftNodeStats;
  /** Who leads, cheaply (no per-peer figures): for routing each write. */
  leader(): { id: NodeId; addr: string; self: boolean };
  /**
   * Tells `to` (the leader, for a node that has just joined) that this node is up, with a
   * message at term 0 that its core never sees: a link from `to` that is backing off
   * after failing to reach this node's port reconnects at once, instead of at the end
   * of its backoff. Best effort; needs `to`'s address among the peers.
   */
  announce(to: NodeId): void;
  /** Stops ticking, finishes the current turn, fails pending calls and closes storage. */
  shutdown(): Promise<void>;
}

/** Options of membership calls. */
export interface MembershipOptions extends CallOptions {
  /** Apply only if the latest configuration was committed at this index (compare-and-set). */
  prevIndex?: number;
}

interface PendingApply {
  term: number;
  resolve(v: { index: number; response: unknown }): void;
  reject(e: unknown): void;
}

interface PendingRead {
  resolve(index: number): void;
  reject(e: unknown): void;
}

const encoder = new TextEncoder();

/**
 * Starts a Raft node: loads durable state, restores the FSM from the latest snapshot, and
 * runs the drive loop. The loop is the only caller of the core's step/ready/advance; every
 * other input (ticks, messages, proposals) is queued and handled at the start of a turn,
 * so nothing runs in the middle of a state change, and one fsync covers every entry that
 * arrived during a turn.
 */
export async function createRaftNode(options: RaftNodeOptions): Promise<RaftNode> {
  const node = new RaftNodeImpl(options);
  await node.start();
  return node;
}

class RaftNodeImpl implements RaftNode {
  readonly id: NodeId;
  readonly events = new EventEmitter<RaftNodeEvents>();
  private readonly opts: RaftNodeOptions;
  private readonly log: Logger;
  private readonly heartbeatMs: number;
  private readonly electionTimeoutMs: number;
  private core!: RawNode;
  private transport!: RaftNodeTransport;
  private ticker: NodeJS.Timeout | undefined;

  private inbox: (() => void)[] = [];
  private scheduled = false;
  private running = false;
  private turnDone: (() => void)[] = [];
  /** Called after every turn (whether or not it produced a Ready). */
  private readonly turnWatchers = new Set<() => void>();

  private role: Role = "follower";
  private leaderId: NodeId = "";
  private term = 0;
  private applied = 0;
  private snapshotIndex = 0;
  private confIndex = 0;
  private conf: ConfState = { voters: [], learners: [], addrs: {} };
  private state: "running" | "removed" | "shutdown" = "running";
  /** This node has been in a configuration (it cannot be removed from one before). */
  private wasMember = false;
  private deferredHardState: HardState | undefined;
  /** Callers of persistCommit(), served at the end of the next turn. */
  private commitSyncWaiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  /** The hard state on disk (its term and vote decide which messages may go early). */
  private durableHardState: HardState = EMPTY_HARD_STATE;
  private fatal: unknown;

  private readonly pending = new Map<number, PendingApply>();
  private readonly reads = new Map<string, PendingRead>();
  private readSeq = 0;
  /** Reads whose read point is known, waiting for `applied` to reach it. */
  private readonly readWaiters: { index: number; resolve(i: number): void }[] = [];
  private readonly lastContact = new Map<NodeId, number>();
  private membershipChain: Promise<unknown> = Promise.resolve();

  constructor(options: RaftNodeOptions) {
    this.opts = options;
    this.id = options.id;
    this.log = options.logger ?? silentLogger();
    this.heartbeatMs = options.heartbeatMs ?? 100;
    this.electionTimeoutMs = options.electionTimeoutMs ?? 1000;
  }

  async start(): Promise<void> {
    const { storage, fsm } = this.opts;
    let persisted = storage.load();
    const empty =
      persisted.entries.length === 0 && !persisted.snapshot && persisted.hardState.term === 0;
    if (empty && this.opts.bootstrap) {
      // A new single-voter cluster: one committed conf entry at index 1 that makes this
      // node the voter, in one lmdb transaction (no snapshot file). Joiners then receive
      // the log from index 1 in ordinary appends (see bootstrapLogState).
      const init = bootstrapLogState(this.id, this.opts.bootstrap.addr);
      await storage.save({ hardState: init.hardState, entries: init.entries });
      persisted = storage.load();
    }
    let snapshotData: Uint8Array | undefined;
    if (persisted.snapshot) {
      const snap = await storage.loadSnapshot();
      if (!snap || snap.meta.index !== persisted.snapshot.index) {
        throw new RaftNodeError(
          "InvalidArgument",
          `raft log is compacted to index ${persisted.snapshot.index} but no snapshot file at that index was found`,
        );
      }
      fsm.restore(snap.data, snap.meta);
      snapshotData = snap.data;
      this.snapshotIndex = snap.meta.index;
      this.applied = snap.meta.index;
      this.confIndex = snap.meta.index;
      this.conf = snap.meta.conf;
    }
    this.durableHardState = persisted.hardState;
    const electionTick = Math.max(2, Math.round(this.electionTimeoutMs / this.heartbeatMs));
    this.core = createRaft({
      id: this.id,
      electionTick,
      heartbeatTick: 1,
      random: () => randomInt(0, 2 ** 32) / 2 ** 32,
      persisted: { ...persisted, snapshotData },
      applied: this.applied,
      ...this.opts.core,
    });
    const status = this.core.status();
    this.term = status.term;
    this.conf = status.conf;
    // Only a brand-new joiner (nothing stored) has never been in a configuration.
    this.wasMember =
      persisted.entries.length > 0 ||
      persisted.snapshot !== undefined ||
      this.conf.voters.includes(this.id) ||
      this.conf.learners.includes(this.id);
    this.transport = this.opts.transport({
      receive: (m) => {
        if (m.term === 0) {
          // A hello from a node that has just joined (see announce()); Raft at term 0
          // carries nothing for the core, which would ignore it anyway.
          this.transport.peerUp?.(m.from);
          return;
        }
        this.lastContact.set(m.from, performance.now());
        this.enqueue(() => this.core.step(m));
      },
      unreachable: (id) => this.enqueue(() => this.core.reportUnreachable(id)),
      snapshotStatus: (id, ok) => this.enqueue(() => this.core.reportSnapshot(id, ok)),
    });
    this.transport.setPeers(this.peerAddrs());
    this.ticker = setInterval(() => this.enqueue(() => this.core.tick()), this.heartbeatMs);
    this.ticker.unref();
    this.schedule();
  }

  // ---- the drive loop ----

  private enqueue(fn: () => void): void {
    if (this.state === "shutdown") return;
    this.inbox.push(fn);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.running || this.state === "shutdown") return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.turn();
    });
  }

  private drainInbox(): void {
    const inputs = this.inbox;
    this.inbox = [];
    for (const fn of inputs) fn();
  }

  private async turn(): Promise<void> {
    if (this.running || this.state === "shutdown") return;
    this.running = true;
    try {
      this.drainInbox();
      while (this.core.hasReady()) {
        const rd = this.core.ready();
        await this.handleReady(rd);
        this.core.advance();
        this.afterAdvance();
        this.drainInbox();
      }
      if (this.commitSyncWaiters.length > 0) await this.syncDeferredCommit();
    } catch (err) {
      this.die(err);
    } finally {
      this.running = false;
      for (const watch of [...this.turnWatchers]) watch();
      for (const done of this.turnDone.splice(0)) done();
      if (this.inbox.length > 0) this.schedule();
    }
  }

  /** Writes a commit index that was only deferred (see handleReady), inside a turn. */
  private async syncDeferredCommit(): Promise<void> {
    const waiters = this.commitSyncWaiters.splice(0);
    try {
      const hs = this.deferredHardState;
      if (hs) {
        await this.opts.storage.save({ hardState: hs });
        this.durableHardState = hs;
        this.deferredHardState = undefined;
      }
    } catch (err) {
      for (const w of waiters) w.reject(err);
      throw err;
    }
    for (const w of waiters) w.resolve();
  }

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState) this.onSoftState(rd.softState.role, rd.softState.leader);
    if (rd.hardState) this.term = rd.hardState.term;
    if (rd.snapshot) {
      // A snapshot from the leader: keep the file first, so that the log can be dropped.
      await this.opts.storage.snapshots.save(rd.snapshot.meta, rd.snapshot.data);
    }
    // A member added by this Ready gets its link before the messages to it are sent: the
    // leader's first append to a new nonvoter goes out now, instead of being dropped for
    // want of a link and waiting for the next heartbeat. Links are only added here;
    // removals wait for afterAdvance, after the messages that tell a peer of its removal.
    if (rd.entries.some((e) => e.type === "conf")) {
      this.transport.setPeers({ ...this.peerAddrs(), ...this.core.status().conf.addrs });
    }
    // A leader's appends and heartbeats may leave before its own fsync, so that its disk
    // write overlaps the followers' (thesis §10.2.1; the rule is in early-send.ts).
    let late = rd.messages;
    if (rd.mustSync) {
      const split = splitEarlyMessages(rd, this.durableHardState);
      if (split.early.length > 0) this.transport.send(split.early);
      late = split.late;
    }
    if (rd.mustSync) {
      await this.opts.storage.save({
        // A commit-only change deferred earlier rides along with this write.
        hardState: rd.hardState ?? this.deferredHardState,
        entries: rd.entries,
        snapshot: rd.snapshot?.meta,
      });
      if (rd.hardState) this.durableHardState = rd.hardState;
      this.deferredHardState = undefined;
    } else if (rd.hardState) {
      // Only the commit index moved. It need not be durable (a restarted node learns it
      // again from the leader), so no fsync is waited for: it is written with the next
      // write that must be durable, or at shutdown.
      this.deferredHardState = rd.hardState;
    }
    // Everything the other messages may depend on is durable now.
    if (late.length > 0) this.transport.send(late);
    if (rd.snapshot) {
      this.opts.fsm.restore(rd.snapshot.data, rd.snapshot.meta);
      this.applied = rd.snapshot.meta.index;
      this.snapshotIndex = rd.snapshot.meta.index;
      this.confIndex = rd.snapshot.meta.index;
      this.conf = rd.snapshot.meta.conf;
      this.events.emit("membership", this.conf);
    }
    for (const e of rd.committedEntries) this.applyEntry(e);
    for (const rs of rd.readStates) {
      const key = Buffer.from(rs.context).toString("hex");
      const waiter = this.reads.get(key);
      if (!waiter) continue;
      this.reads.delete(key);
      this.readWaiters.push({ index: rs.index, resolve: waiter.resolve });
    }
  }

  private applyEntry(e: Entry): void {
    let response: unknown;
    // An empty normal entry is a barrier: it orders, it does not reach the FSM.
    if (e.type === "normal" && e.data.byteLength > 0) {
      response = this.opts.fsm.apply(e);
    } else if (e.type === "conf") {
      this.confIndex = e.index;
    }
    this.applied = e.index;
    const p = this.pending.get(e.index);
    if (p) {
      this.pending.delete(e.index);
      if (p.term === e.term) p.resolve({ index: e.index, response });
      else
        p.reject(
          new RaftNodeError("LeadershipLost", "leadership changed before the entry committed"),
        );
    }
  }

  private afterAdvance(): void {
    const status = this.core.status();
    if (!sameConf(status.conf, this.conf)) {
      this.conf = status.conf;
      this.transport.setPeers(this.peerAddrs());
      this.events.emit("membership", this.conf);
      const member = this.conf.voters.includes(this.id) || this.conf.learners.includes(this.id);
      if (member) this.wasMember = true;
      if (
        !member &&
        // A joining node reads the membership from the log it receives, and the first
        // batch of it may end before the entry that adds this node: it is not removed
        // from a configuration it was never in.
        this.wasMember &&
        this.applied >= this.confIndex &&
        this.confIndex > 0 &&
        this.state === "running"
      ) {
        this.state = "removed";
        this.log.warn("this node was removed from the cluster");
        this.failAll(new RaftNodeError("Removed", "this node was removed from the cluster"));
        this.events.emit("removed");
      }
    }
    for (let i = this.readWaiters.length - 1; i >= 0; i--) {
      const w = this.readWaiters[i]!;
      if (w.index <= this.applied) {
        this.readWaiters.splice(i, 1);
        w.resolve(w.index);
      }
    }
    if (this.applied > 0) this.events.emit("applied", this.applied);
    this.maybeSnapshot();
  }

  private onSoftState(role: Role, leader: NodeId): void {
    const wasLeader = this.role === "leader";
    this.role = role;
    if (wasLeader && role !== "leader") {
      // With no successor known, the usual cause is check-quorum: the leader could not
      // reach a quorum of voters and stepped down. Say so.
      const why =
        leader === ""
          ? "no quorum: this node lost leadership"
          : `this node lost leadership to ${leader}`;
      this.failPending(
        new RaftNodeError("LeadershipLost", why, {
          id: leader,
          addr: this.conf.addrs[leader] ?? "",
        }),
      );
    }
    if (leader !== this.leaderId) {
      this.leaderId = leader;
      if (leader !== "") {
        this.log.info({ leader, term: this.term }, "leader changed");
        this.events.emit("leader", leader, this.term);
      }
    }
  }

  private snapshotting = false;

  private maybeSnapshot(): void {
    const threshold = this.opts.snapshotThreshold ?? 4096;
    if (this.snapshotting || this.applied - this.snapshotIndex < threshold) return;
    void this.takeSnapshot().catch((err) => this.log.error({ err }, "snapshot failed"));
  }

  private async takeSnapshot(): Promise<number> {
    if (this.snapshotting || this.applied <= this.snapshotIndex) return this.snapshotIndex;
    this.snapshotting = true;
    try {
      // Runs between turns' state changes: applied is stable while this synchronous part runs.
      const index = this.applied;
      const data = this.opts.fsm.snapshot();
      const snap = this.core.compact(index, data);
      await this.opts.storage.snapshots.save(snap.meta, data);
      await this.opts.storage.save({ snapshot: snap.meta });
      // Keep a trailing window on disk: a damaged newest snapshot can then fall back to
      // the previous one plus these entries.
      const keepFrom = index - (this.opts.trailingLogs ?? 1024);
      if (keepFrom > 0) await this.opts.storage.compact(keepFrom);
      this.snapshotIndex = index;
      this.log.debug({ index }, "snapshot taken");
      return index;
    } finally {
      this.snapshotting = false;
    }
  }

  private die(err: unknown): void {
    this.fatal = err;
    this.log.fatal({ err }, "raft node stopped on an unexpected error");
    void this.shutdown();
  }

  // ---- helpers ----

  private peerAddrs(): Record<NodeId, string> {
    const known =
      Object.keys(this.conf.addrs).length > 0 ? this.conf.addrs : (this.opts.seedPeers ?? {});
    const out: Record<NodeId, string> = {};
    for (const [id, addr] of Object.entries(known)) if (id !== this.id) out[id] = addr;
    return out;
  }

  private leaderHint(): { id: NodeId; addr: string } {
    return { id: this.leaderId, addr: this.conf.addrs[this.leaderId] ?? "" };
  }

  private ensureRunning(): void {
    if (this.state === "shutdown") throw new RaftNodeError("Shutdown", "raft node is shut down");
    if (this.state === "removed")
      throw new RaftNodeError("Removed", "this node was removed from the cluster");
  }

  /**
   * Fails fast instead of queuing a write that cannot commit. A leader that cannot reach a
   * quorum is not refused here on a wall-clock guess (an overloaded event loop makes
   * healthy peers look silent); check-quorum, which counts in ticks, steps it down within
   * an election timeout, and its pending writes then fail with "no quorum".
   */
  private ensureWritableLeader(): void {
    this.ensureRunning();
    if (this.role !== "leader") {
      const hint = this.leaderHint();
      throw new RaftNodeError(
        "NotLeader",
        hint.id ? `not the leader; the leader is ${hint.id}` : "no quorum: no leader is known",
        hint,
      );
    }
  }

  private mapCoreError(err: unknown): unknown {
    if (err instanceof RaftError) {
      switch (err.code) {
        case "NotLeader":
          return new RaftNodeError("NotLeader", err.message, this.leaderHint());
        case "LeadershipTransferInProgress":
          return new RaftNodeError("TransferInProgress", err.message);
        case "ConfChangePending":
          return new RaftNodeError("ConfChangeConflict", err.message);
        default:
          return new RaftNodeError("InvalidArgument", err.message);
      }
    }
    return err;
  }

  /** Runs `fn` inside the drive loop and resolves with its result. */
  private inLoop<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.enqueue(() => {
        try {
          resolve(fn());
        } catch (err) {
          reject(this.mapCoreError(err));
        }
      });
    });
  }

  private withDeadline<T>(
    p: Promise<T>,
    opts: CallOptions | undefined,
    what: string,
    cleanup?: () => void,
  ): Promise<T> {
    const timeoutMs = opts?.timeoutMs ?? this.opts.applyTimeoutMs ?? 10_000;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        done();
        cleanup?.();
        reject(new RaftNodeError("Aborted", `${what} aborted`));
      };
      const timer = setTimeout(() => {
        done();
        cleanup?.();
        reject(new RaftNodeError("Timeout", `${what} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      const done = () => {
        clearTimeout(timer);
        opts?.signal?.removeEventListener("abort", onAbort);
      };
      if (opts?.signal?.aborted) return onAbort();
      opts?.signal?.addEventListener("abort", onAbort, { once: true });
      p.then(
        (v) => {
          done();
          resolve(v);
        },
        (e) => {
          done();
          reject(e);
        },
      );
    });
  }

  private failPending(err: RaftNodeError): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const r of this.reads.values()) r.reject(err);
    this.reads.clear();
  }

  private failAll(err: RaftNodeError): void {
    this.failPending(err);
    this.readWaiters.splice(0);
  }

  // ---- public API ----

  apply(data: Uint8Array, opts?: CallOptions): Promise<{ index: number; response: unknown }> {
    try {
      this.ensureWritableLeader();
    } catch (err) {
      return Promise.reject(err);
    }
    let index = 0;
    const p = new Promise<{ index: number; response: unknown }>((resolve, reject) => {
      this.enqueue(() => {
        try {
          const r = this.core.propose(data);
          index = r.index;
          this.pending.set(r.index, { term: r.term, resolve, reject });
        } catch (err) {
          reject(this.mapCoreError(err));
        }
      });
    });
    return this.withDeadline(p, opts, "apply", () => this.pending.delete(index));
  }

  async barrier(opts?: CallOptions): Promise<number> {
    const r = await this.apply(new Uint8Array(0), opts);
    return r.index;
  }

  readIndex(opts?: CallOptions): Promise<number> {
    try {
      this.ensureWritableLeader();
    } catch (err) {
      return Promise.reject(err);
    }
    const key = `${this.id}:${++this.readSeq}`;
    const ctx = encoder.encode(key);
    const hex = Buffer.from(ctx).toString("hex");
    const p = new Promise<number>((resolve, reject) => {
      this.enqueue(() => {
        try {
          this.reads.set(hex, { resolve, reject });
          this.core.readIndex(ctx);
        } catch (err) {
          this.reads.delete(hex);
          reject(this.mapCoreError(err));
        }
      });
    });
    return this.withDeadline(p, opts, "read index", () => this.reads.delete(hex));
  }

  private changeMembership(
    change: ConfChange,
    opts: MembershipOptions | undefined,
    before?: () => Promise<"skip" | undefined>,
  ): Promise<number> {
    // Membership changes are serialised: a change waits for the previous one instead of
    // failing because one is pending.
    const run = async (): Promise<number> => {
      this.ensureWritableLeader();
      // "skip": the change is already in force (made by a change queued before this one).
      if (before && (await before()) === "skip") return this.confIndex;
      if (opts?.prevIndex !== undefined && opts.prevIndex !== this.confIndex) {
        throw new RaftNodeError(
          "ConfChangeConflict",
          `configuration changed: latest is at index ${this.confIndex}, not ${opts.prevIndex}`,
        );
      }
      const p = new Promise<{ index: number; response: unknown }>((resolve, reject) => {
        this.enqueue(() => {
          try {
            const r = this.core.proposeConfChange(change);
            this.pending.set(r.index, { term: r.term, resolve, reject });
          } catch (err) {
            reject(this.mapCoreError(err));
          }
        });
      });
      const r = await this.withDeadline(
        p,
        opts,
        `membership change (${change.type} ${change.nodeId})`,
      );
      return r.index;
    };
    const next = this.membershipChain.then(run, run);
    this.membershipChain = next.catch(() => undefined);
    return next;
  }

  addVoter(id: NodeId, addr: string, opts?: MembershipOptions): Promise<number> {
    return this.changeMembership({ type: "addVoter", nodeId: id, addr }, opts);
  }

  addNonvoter(id: NodeId, addr: string, opts?: MembershipOptions): Promise<number> {
    return this.changeMembership({ type: "addLearner", nodeId: id, addr }, opts);
  }

  async promote(id: NodeId, opts?: MembershipOptions): Promise<number> {
    const addr = this.conf.addrs[id] ?? "";
    // Wait for the nonvoter to catch up before taking the membership lock, not while
    // holding it: a nonvoter that cannot be reached must not hold up other changes for the
    // whole timeout, its own removal included. Inside the lock the check is repeated
    // without waiting; it fails only if the node fell behind again in between.
    await this.waitCaughtUp(id, opts);
    return this.changeMembership({ type: "addVoter", nodeId: id, addr }, opts, async () => {
      if (!this.conf.learners.includes(id)) {
        // Already a voter (a promotion queued before this one, or retried): done.
        if (this.conf.voters.includes(id)) return "skip";
        throw new RaftNodeError("InvalidArgument", `node ${id} is not a member`);
      }
      if (!this.caughtUp(id)) {
        throw new RaftNodeError("ConfChangeConflict", `node ${id} fell behind again; retry`);
      }
      return undefined;
    });
  }

  /** True when the leader's progress for `id` has reached its commit index. */
  private caughtUp(id: NodeId): boolean {
    const s = this.core.status();
    const pr = s.progress[id];
    return pr !== undefined && pr.match >= s.commit;
  }

  /**
   * Waits until the leader's progress for `id` has reached its commit index, or `id` is no
   * longer a nonvoter (promoted or removed meanwhile: the caller looks again).
   */
  private waitCaughtUp(id: NodeId, opts?: CallOptions): Promise<void> {
    this.ensureWritableLeader();
    const caughtUp = () => this.caughtUp(id) || !this.conf.learners.includes(id);
    if (caughtUp()) return Promise.resolve();
    let check = (): void => {};
    const p = new Promise<void>((resolve) => {
      check = () => {
        if (caughtUp() || this.state !== "running") {
          this.turnWatchers.delete(check);
          resolve();
        }
      };
      // Progress moves on acks, which need not produce a Ready: checked after every turn
      // of the drive loop, so the promotion goes out in the turn after the ack arrived.
      this.turnWatchers.add(check);
    });
    return this.withDeadline(p, opts, `waiting for ${id} to catch up`, () =>
      this.turnWatchers.delete(check),
    );
  }

  demote(id: NodeId, opts?: MembershipOptions): Promise<number> {
    const addr = this.conf.addrs[id] ?? "";
    if (this.conf.voters.length === 1 && this.conf.voters[0] === id) {
      return Promise.reject(new RaftNodeError("InvalidArgument", "cannot demote the last voter"));
    }
    // Idempotent: a demotion retried on a new leader (the old one demoted itself and
    // stepped down before it could answer) finds it done.
    return this.changeMembership({ type: "addLearner", nodeId: id, addr }, opts, async () =>
      this.conf.learners.includes(id) ? "skip" : undefined,
    );
  }

  removeServer(id: NodeId, opts?: MembershipOptions): Promise<number> {
    const addr = this.conf.addrs[id] ?? "";
    // Removing is idempotent: two callers that both saw the node a member (an operator's
    // removal and the leader's reconciler) queue two removals, and the second finds it
    // done. A node that was never a member is still an error.
    const wasMember = this.conf.addrs[id] !== undefined;
    return this.changeMembership({ type: "removeNode", nodeId: id, addr }, opts, async () =>
      wasMember && this.conf.addrs[id] === undefined ? "skip" : undefined,
    );
  }

  async transferLeadership(to?: NodeId, opts?: CallOptions): Promise<NodeId> {
    this.ensureWritableLeader();
    let target = to;
    if (!target) {
      const s = this.core.status();
      let best = -1;
      for (const v of s.conf.voters) {
        if (v === this.id) continue;
        const m = s.progress[v]?.match ?? 0;
        if (m > best) {
          best = m;
          target = v;
        }
      }
      if (!target)
        throw new RaftNodeError("InvalidArgument", "no other voter to transfer leadership to");
    }
    const want = target;
    const changed = new Promise<NodeId>((resolve) => {
      const on = (leader: NodeId) => {
        if (leader === want) {
          this.events.off("leader", on);
          resolve(leader);
        }
      };
      this.events.on("leader", on);
    });
    await this.inLoop(() => this.core.transferLeader(want));
    return this.withDeadline(
      changed,
      { timeoutMs: opts?.timeoutMs ?? this.electionTimeoutMs * 3, signal: opts?.signal },
      "leadership transfer",
    );
  }

  async snapshot(): Promise<number> {
    this.ensureRunning();
    // Run between turns so that `applied` does not move while the FSM is serialised.
    await this.betweenTurns();
    return this.takeSnapshot();
  }

  private betweenTurns(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.turnDone.push(resolve));
  }

  /**
   * Makes the commit index durable now, which is otherwise written with the next write
   * that must be durable. For a caller about to record, outside Raft, something that
   * follows from entries applied so far (the TLS files): a restart then replays at least
   * up to those entries, and does not come back with state older than what it recorded.
   */
  persistCommit(): Promise<void> {
    if (this.state === "shutdown") return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.commitSyncWaiters.push({ resolve, reject });
      // Any input schedules a turn; the sync runs at its end.
      this.enqueue(() => {});
    });
  }

  announce(to: NodeId): void {
    if (this.state !== "running" || to === this.id) return;
    this.transport.send([message({ type: "heartbeatResp", from: this.id, to, term: 0 })]);
  }

  leader(): { id: NodeId; addr: string; self: boolean } {
    return {
      id: this.leaderId,
      addr: this.conf.addrs[this.leaderId] ?? "",
      self: this.role === "leader",
    };
  }

  stats(): RaftNodeStats {
    const s = this.core.status();
    const now = performance.now();
    const peers: Record<NodeId, PeerStats> = {};
    for (const [id, addr] of Object.entries(s.conf.addrs)) {
      const t = this.lastContact.get(id);
      peers[id] = {
        suffrage: s.conf.voters.includes(id) ? "voter" : "nonvoter",
        addr,
        matchIndex: s.progress[id]?.match ?? 0,
        lastContactMs: id === this.id ? 0 : t === undefined ? null : Math.round(now - t),
      };
    }
    return {
      id: this.id,
      role: this.state === "running" ? s.role : this.state,
      leaderId: s.leader,
      term: s.term,
      commitIndex: s.commit,
      appliedIndex: this.applied,
      lastIndex: s.lastIndex,
      snapshotIndex: this.snapshotIndex,
      conf: s.conf,
      peers,
    };
  }

  async shutdown(): Promise<void> {
    if (this.state === "shutdown") return;
    const wasRunning = this.running;
    this.state = "shutdown";
    if (this.ticker) clearInterval(this.ticker);
    for (const watch of [...this.turnWatchers]) watch();
    if (wasRunning) await new Promise<void>((resolve) => this.turnDone.push(resolve));
    this.failAll(new RaftNodeError("Shutdown", "raft node is shutting down"));
    if (this.deferredHardState) {
      await this.opts.storage.save({ hardState: this.deferredHardState }).catch(() => undefined);
    }
    for (const w of this.commitSyncWaiters.splice(0)) w.resolve();
    await this.transport.close();
    await this.opts.storage.close();
    if (this.fatal) this.log.error("raft node shut down after a fatal error");
  }
}

function sameConf(a: ConfState, b: ConfState): boolean {
  return (
    a.voters.join(",") === b.voters.join(",") &&
    a.learners.join(",") === b.learners.join(",") &&
    JSON.stringify(a.addrs) === JSON.stringify(b.addrs)
  );
}

export { RaftNodeError };
