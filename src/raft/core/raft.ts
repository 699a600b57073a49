import type {
  ConfChange,
  ConfState,
  Entry,
  EntryType,
  HardState,
  Message,
  MessageType,
  NodeId,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SoftState,
} from "../types.js";
import type { InjectedBug, ProgressStatus, RaftOptions, RaftStatus, RawNode } from "./api.js";
import { applyConfChange, EMPTY_CONF, memberRole, validateConfChange } from "./confchange.js";
import { assertSafeIndex, RaftError, RaftInvariantError } from "./errors.js";
import { RaftLog } from "./log.js";
import { Progress } from "./progress.js";
import { committedIndex, hasQuorum, voteResult } from "./quorum.js";
import { ReadOnly } from "./read-only.js";

export { bootstrapLogState, bootstrapState } from "./bootstrap.js";

/** Default byte limit of the entries in one append message. */
export const DEFAULT_MAX_SIZE_PER_MSG = 1024 * 1024;
/** Default number of append messages in flight per follower. */
export const DEFAULT_MAX_INFLIGHT_MSGS = 256;

const EMPTY_BYTES = new Uint8Array(0);
const NO_ENTRIES: readonly Entry[] = Object.freeze([]) as readonly Entry[];
/** The vote context of an election that follows a TimeoutNow: it bypasses the lease. */
const TRANSFER_CONTEXT = new Uint8Array([116, 114, 97, 110, 115, 102, 101, 114]); // "transfer"

function isTransferContext(c: Uint8Array): boolean {
  if (c.length !== TRANSFER_CONTEXT.length) return false;
  for (let i = 0; i < c.length; i++) if (c[i] !== TRANSFER_CONTEXT[i]) return false;
  return true;
}

type CampaignKind = "preElection" | "election" | "transfer";

interface MessageFields {
  term?: number;
  logTerm?: number;
  index?: number;
  entries?: readonly Entry[];
  commit?: number;
  reject?: boolean;
  rejectHint?: number;
  context?: Uint8Array;
  snapshot?: Snapshot;
}

/**
 * Creates a Raft node from what stable storage holds. See docs/raft.md for the
 * contract and for where this implementation departs from the paper.
 */
export function createRaft(options: RaftOptions): RawNode {
  return new Raft(options);
}

/**
 * The Raft state machine. One class because the roles share nearly all state; the
 * per-role behaviour is in `stepLeader`, `stepCandidate` and `stepFollower`.
 */
class Raft implements RawNode {
  private readonly id: NodeId;
  private readonly electionTimeout: number;
  private readonly heartbeatTimeout: number;
  private readonly random: () => number;
  private readonly maxSizePerMsg: number;
  private readonly maxInflight: number;
  private readonly checkQuorum: boolean;
  private readonly preVote: boolean;
  private readonly snapshotRetryTicks: number;
  private readonly bug: InjectedBug | undefined;

  private term: number;
  private vote: NodeId;
  private lead: NodeId = "";
  private role: Role = "follower";
  private readonly log: RaftLog;

  /**
   * Membership in effect: that of the latest conf entry in the log, committed or not
   * (thesis §4.1), else the snapshot's.
   */
  private conf: ConfState;
  /** Membership at the snapshot. */
  private snapConf: ConfState;
  /** The conf entries in the log after the snapshot, with the membership each yields. */
  private confLog: { index: number; term: number; conf: ConfState }[] = [];
  /** The latest snapshot with its data, to send to followers behind the log. */
  private snapshot: Snapshot | undefined;

  private readonly prs = new Map<NodeId, Progress>();
  private readonly votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId = "";
  /** Leader: index of the latest conf entry it may still be waiting to apply. */
  private pendingConfIndex = 0;
  private readonly readOnly = new ReadOnly();
  /** Leader: ReadIndex requests waiting for the first commit of its term. */
  private pendingReads: Uint8Array[] = [];

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private prevSoft: SoftState;
  private prevHard: HardState;
  /** Acknowledged as applied by advance(). */
  private applied: number;
  /** Handed out for application in a Ready (>= applied). */
  private applying: number;
  /** A snapshot received from a leader, not yet handed out. */
  private pendingSnapshot: Snapshot | undefined;
  private handedApplying = 0;

  constructor(o: RaftOptions) {
    if (typeof o.id !== "string" || o.id === "") throw new RangeError("raft: id must be set");
    if (!Number.isInteger(o.heartbeatTick) || o.heartbeatTick < 1) {
      throw new RangeError("raft: heartbeatTick must be >= 1");
    }
    if (!Number.isInteger(o.electionTick) || o.electionTick <= o.heartbeatTick) {
      throw new RangeError("raft: electionTick must be > heartbeatTick");
    }
    this.id = o.id;
    this.electionTimeout = o.electionTick;
    this.heartbeatTimeout = o.heartbeatTick;
    this.random = o.random;
    this.maxSizePerMsg = o.maxSizePerMsg ?? DEFAULT_MAX_SIZE_PER_MSG;
    this.maxInflight = o.maxInflightMsgs ?? DEFAULT_MAX_INFLIGHT_MSGS;
    this.checkQuorum = o.checkQuorum ?? true;
    this.preVote = o.preVote ?? true;
    this.snapshotRetryTicks = o.snapshotRetryTicks ?? 3 * o.electionTick;
    this.bug = o.injectBug;

    const p = o.persisted;
    const hs = p.hardState;
    assertSafeIndex(hs.term, "persisted term");
    assertSafeIndex(hs.commit, "persisted commit");
    const snapIndex = p.snapshot?.index ?? 0;
    const snapTerm = p.snapshot?.term ?? 0;
    assertSafeIndex(snapIndex, "snapshot index");
    assertSafeIndex(snapTerm, "snapshot term");
    for (const e of p.entries) {
      assertSafeIndex(e.index, "entry index");
      assertSafeIndex(e.term, "entry term");
      if (e.term > hs.term) {
        throw new RaftInvariantError(`entry ${e.index} has term ${e.term} > hard state term`);
      }
    }
    this.term = hs.term;
    this.vote = hs.vote;
    this.log = new RaftLog(snapIndex, snapTerm, p.entries, hs.commit);
    this.snapConf = p.snapshot?.conf ?? EMPTY_CONF;
    this.conf = this.snapConf;
    if (p.snapshot) this.snapshot = { meta: p.snapshot, data: p.snapshotData ?? EMPTY_BYTES };

    const applied = Math.max(o.applied ?? snapIndex, snapIndex);
    if (applied > this.log.committed) {
      throw new RaftInvariantError(`applied ${applied} is past commit ${this.log.committed}`);
    }
    this.syncConf(p.entries);
    this.applied = applied;
    this.applying = applied;
    this.prevSoft = { leader: "", role: "follower" };
    this.prevHard = { term: hs.term, vote: hs.vote, commit: this.log.committed };
    this.becomeFollower(this.term, "");
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    if (this.role === "leader") this.tickHeartbeat();
    else this.tickElection();
  }

  /** Starts an election now (with a pre-vote round when enabled), as on election timeout. */
  campaign(): void {
    this.hup(this.preVote ? "preElection" : "election");
  }

  step(m: Message): void {
    if (m.to !== this.id || m.from === this.id) return;
    validateMessage(m);

    if (m.term > this.term) {
      if (m.type === "vote" || m.type === "preVote") {
        const force = isTransferContext(m.context);
        const inLease =
          this.checkQuorum && this.lead !== "" && this.electionElapsed < this.electionTimeout;
        // Lease (thesis §4.2.3): a node that heard from a leader within the minimum
        // election timeout ignores requests to replace it, unless the leader asked.
        if (!force && inLease) return;
      }
      if (m.type === "preVote") {
        // Never change term for a pre-vote: its term is the candidate's future term.
      } else if (m.type === "preVoteResp" && !m.reject) {
        // A granted pre-vote carries the term we will campaign at; not a reason to follow.
      } else if (m.type === "app" || m.type === "heartbeat" || m.type === "snap") {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, "");
      }
    } else if (m.term < this.term) {
      if (m.type === "app" || m.type === "heartbeat" || m.type === "snap") {
        // A leader at a lower term: either a delayed message, or we are a node whose
        // term ran ahead while partitioned and who, because of pre-vote or the lease,
        // or because it may not campaign (a learner), cannot force an election. The
        // paper's answer (§5.1: reply with the current term) makes that leader step
        // down so that a fresh election can include us. (etcd answers only with
        // pre-vote or check-quorum on; a learner at a higher term then wedges.)
        this.send("appResp", m.from, {});
      } else if (m.type === "preVote") {
        // Answer so a pre-candidate behind us learns our term.
        this.send("preVoteResp", m.from, { reject: true });
      }
      return;
    }

    if (m.type === "vote" || m.type === "preVote") {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(m);
        return;
      case "candidate":
      case "preCandidate":
        this.stepCandidate(m);
        return;
      case "follower":
        this.stepFollower(m);
        return;
    }
  }

  propose(data: Uint8Array): { index: number; term: number } {
    this.checkCanPropose();
    const e = this.appendOne("normal", data, undefined);
    this.bcastAppend();
    return { index: e.index, term: e.term };
  }

  proposeConfChange(change: ConfChange): { index: number; term: number } {
    this.checkCanPropose();
    if (this.pendingConfIndex > this.log.committed) {
      throw new RaftError(
        "ConfChangePending",
        `a membership change (or this leader's first entry) at ${this.pendingConfIndex} is not yet committed`,
      );
    }
    validateConfChange(this.conf, change);
    const copy: ConfChange = { type: change.type, nodeId: change.nodeId, addr: change.addr ?? "" };
    const e = this.appendOne("conf", EMPTY_BYTES, copy);
    this.pendingConfIndex = e.index;
    this.bcastAppend();
    return { index: e.index, term: e.term };
  }

  transferLeader(to: NodeId): void {
    if (this.role !== "leader") throw new RaftError("NotLeader", "not the leader", this.lead);
    if (to === this.id) throw new RaftError("InvalidTransfer", "already the leader");
    if (this.removedLeader()) {
      throw new RaftError(
        "ProposalDropped",
        "this leader is no longer a voter; it is stepping down",
      );
    }
    const r = memberRole(this.conf, to);
    if (r === undefined) throw new RaftError("UnknownNode", `${to} is not a member`);
    if (r === "learner") throw new RaftError("InvalidTransfer", `${to} is a nonvoter`);
    if (this.leadTransferee !== "") {
      if (this.leadTransferee === to) return;
      this.abortLeaderTransfer();
    }
    // The transfer must finish within one election timeout; tickHeartbeat aborts it then.
    this.electionElapsed = 0;
    this.leadTransferee = to;
    const pr = this.prs.get(to)!;
    if (pr.match === this.log.lastIndex()) this.send("timeoutNow", to, {});
    else this.sendAppend(to, pr, true);
  }

  readIndex(context: Uint8Array): void {
    if (this.role !== "leader") throw new RaftError("NotLeader", "not the leader", this.lead);
    // Thesis §6.4 step 1: until it commits an entry of its own term, a new leader does
    // not know the commit index; queue the read until then.
    if (!this.committedEntryInCurrentTerm()) {
      this.pendingReads.push(context);
      return;
    }
    this.serveRead(context);
  }

  reportUnreachable(id: NodeId): void {
    if (this.role !== "leader") return;
    const pr = this.prs.get(id);
    if (pr && pr.state === "replicate") pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, ok: boolean): void {
    if (this.role !== "leader") return;
    const pr = this.prs.get(id);
    if (pr?.state !== "snapshot") return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the next heartbeat answer before probing, as after any probe.
    pr.probeSent = true;
  }

  compact(index: number, data: Uint8Array): Snapshot {
    if (!Number.isSafeInteger(index) || index > this.applied) {
      throw new RaftError("InvalidCompaction", `compact(${index}) is past applied ${this.applied}`);
    }
    if (index < this.log.snapshotIndex) {
      throw new RaftError(
        "InvalidCompaction",
        `compact(${index}) is before the snapshot at ${this.log.snapshotIndex}`,
      );
    }
    if (index === this.log.snapshotIndex && this.snapshot) return this.snapshot;
    const term = this.log.term(index)!;
    let conf = this.snapConf;
    for (const c of this.confLog) if (c.index <= index) conf = c.conf;
    const snap: Snapshot = { meta: { index, term, conf }, data };
    this.log.compact(index);
    this.snapshot = snap;
    this.snapConf = conf;
    this.confLog = this.confLog.filter((c) => c.index > index);
    return snap;
  }

  // ---------------------------------------------------------------- outputs

  hasReady(): boolean {
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.pendingSnapshot !== undefined ||
      this.log.unstable <= this.log.lastIndex() ||
      this.log.committed > this.applying ||
      this.role !== this.prevSoft.role ||
      this.lead !== this.prevSoft.leader ||
      this.term !== this.prevHard.term ||
      this.vote !== this.prevHard.vote ||
      this.log.committed !== this.prevHard.commit
    );
  }

  ready(): Ready {
    let softState: SoftState | undefined;
    if (this.role !== this.prevSoft.role || this.lead !== this.prevSoft.leader) {
      softState = { leader: this.lead, role: this.role };
      this.prevSoft = softState;
    }
    let hardState: HardState | undefined;
    const termOrVote = this.term !== this.prevHard.term || this.vote !== this.prevHard.vote;
    if (termOrVote || this.log.committed !== this.prevHard.commit) {
      hardState = { term: this.term, vote: this.vote, commit: this.log.committed };
      this.prevHard = hardState;
    }
    const entries = this.log.unstableEntries();
    this.log.markHanded();
    const snapshot = this.pendingSnapshot;
    this.pendingSnapshot = undefined;
    let committedEntries: readonly Entry[] = NO_ENTRIES;
    if (this.log.committed > this.applying) {
      committedEntries = this.log.slice(this.applying + 1, this.log.committed + 1);
      this.applying = this.log.committed;
    }
    this.handedApplying = this.applying;
    const messages = this.msgs;
    this.msgs = [];
    const readStates = this.readStates;
    this.readStates = [];
    return {
      softState,
      hardState,
      entries,
      snapshot,
      messages,
      committedEntries,
      readStates,
      mustSync: termOrVote || entries.length > 0 || snapshot !== undefined,
    };
  }

  advance(): void {
    if (this.handedApplying > this.applied) this.applied = this.handedApplying;
  }

  status(): RaftStatus {
    const progress: Record<NodeId, ProgressStatus> = {};
    if (this.role === "leader") {
      for (const [id, pr] of this.prs) {
        progress[id] = {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          recentActive: pr.recentActive,
          inflight: pr.inflights.count,
          isLearner: pr.isLearner,
        };
      }
    }
    let pendingConfChange = false;
    const lastConf = this.confLog[this.confLog.length - 1];
    if (lastConf && lastConf.index > this.log.committed) pendingConfChange = true;
    return {
      id: this.id,
      term: this.term,
      vote: this.vote,
      commit: this.log.committed,
      applied: this.applied,
      lastIndex: this.log.lastIndex(),
      firstIndex: this.log.firstIndex(),
      role: this.role,
      leader: this.lead,
      conf: this.conf,
      pendingConfChange,
      leadTransferee: this.leadTransferee,
      progress,
    };
  }

  // ---------------------------------------------------------------- roles

  private reset(term: number): void {
    if (term !== this.term) {
      assertSafeIndex(term, "term");
      this.term = term;
      this.vote = "";
    }
    this.lead = "";
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout =
      this.electionTimeout + Math.floor(this.random() * this.electionTimeout);
    this.leadTransferee = "";
    this.votes.clear();
    this.prs.clear();
    this.pendingConfIndex = 0;
    this.readOnly.reset();
    this.pendingReads = [];
  }

  private becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.role = "follower";
  }

  private becomePreCandidate(): void {
    // Pre-vote (thesis §9.6) changes neither term nor vote: a node that cannot win
    // does not disturb the cluster.
    this.votes.clear();
    this.prs.clear();
    this.lead = "";
    this.role = "preCandidate";
  }

  private becomeCandidate(): void {
    if (this.role === "leader") throw new RaftInvariantError("leader cannot become candidate");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  private becomeLeader(): void {
    if (this.role === "follower") throw new RaftInvariantError("follower cannot become leader");
    this.reset(this.term);
    this.lead = this.id;
    this.role = "leader";
    const last = this.log.lastIndex();
    for (const id of this.conf.voters) this.addProgress(id, false, last);
    for (const id of this.conf.learners) this.addProgress(id, true, last);
    const self = this.prs.get(this.id);
    if (self) {
      self.match = last;
      self.recentActive = true;
      self.becomeReplicate();
    }
    // A new leader may not propose a membership change until it has applied
    // everything up to its first entry: it does not know whether one is pending
    // in its uncommitted tail (this is also the fix for the single-server change
    // bug with leader changes, thesis §4.1 errata).
    this.pendingConfIndex = last;
    // §8 / thesis §6.4: commit a no-op of the new term so that earlier entries commit
    // and the leader learns the commit index.
    // The "commit-old-term" fault also drops the no-op, since the no-op is what hides
    // the Figure 8 hazard that the fault reintroduces.
    if (this.bug !== "commit-old-term") this.appendOne("noop", EMPTY_BYTES, undefined);
  }

  private addProgress(id: NodeId, learner: boolean, last: number): Progress {
    const pr = new Progress(last + 1, this.maxInflight, learner);
    this.prs.set(id, pr);
    return pr;
  }

  /**
   * May this node campaign? Yes if it is a voter in its latest configuration; also if
   * that configuration removes or demotes it but is not yet committed, and it is a
   * voter in the committed one (thesis §4.2.2): until the change commits, the cluster
   * may need this node to lead so that the change can commit at all. It counts votes
   * with the latest configuration, which does not include its own.
   */
  private promotable(): boolean {
    if (this.conf.voters.includes(this.id)) return true;
    const n = this.confLog.length;
    if (n === 0 || this.confLog[n - 1]!.index <= this.log.committed) return false;
    let committed = this.snapConf;
    for (const c of this.confLog) {
      if (c.index > this.log.committed) break;
      committed = c.conf;
    }
    return committed.voters.includes(this.id);
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(this.preVote ? "preElection" : "election");
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) {
        const self = this.prs.get(this.id);
        if (self) self.recentActive = true;
        if (!hasQuorum(this.conf.voters, (id) => this.prs.get(id)?.recentActive === true)) {
          // Check-quorum (thesis §6.2): a leader cut off from a majority steps down so
          // that clients go elsewhere and its lease-based refusals stop.
          this.becomeFollower(this.term, "");
          return;
        }
        for (const [id, pr] of this.prs) if (id !== this.id) pr.recentActive = false;
      }
      if (this.leadTransferee !== "") this.abortLeaderTransfer();
    }
    for (const pr of this.prs.values()) {
      if (pr.state === "snapshot" && ++pr.snapshotTicks > this.snapshotRetryTicks) {
        // The snapshot or its answer was lost and nobody reported it: probe again.
        pr.pendingSnapshot = 0;
        pr.becomeProbe();
      }
    }
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(this.readOnly.lastContext());
    }
  }

  private hup(kind: CampaignKind): void {
    if (this.role === "leader") return;
    if (!this.promotable()) return;
    this.campaignNow(kind);
  }

  private campaignNow(kind: CampaignKind): void {
    let type: MessageType;
    let term: number;
    if (kind === "preElection") {
      this.becomePreCandidate();
      type = "preVote";
      term = this.term + 1;
    } else {
      this.becomeCandidate();
      type = "vote";
      term = this.term;
    }
    this.votes.set(this.id, true);
    if (voteResult(this.conf.voters, this.votes) === "won") {
      // A single-voter cluster wins on its own vote.
      if (kind === "preElection") this.campaignNow("election");
      else this.becomeLeader();
      return;
    }
    const context = kind === "transfer" ? TRANSFER_CONTEXT : EMPTY_BYTES;
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send(type, id, { term, index, logTerm, context });
    }
  }

  private handleVoteRequest(m: Message): void {
    const resp: MessageType = m.type === "vote" ? "voteResp" : "preVoteResp";
    // We may vote for whom we already voted for; for anyone if we have neither voted
    // nor know a leader this term; and pre-vote for a future term freely.
    const canVote =
      this.vote === m.from ||
      (this.vote === "" && this.lead === "") ||
      (m.type === "preVote" && m.term > this.term);
    const upToDate = this.bug === "vote-ignores-log" || this.log.isUpToDate(m.index, m.logTerm);
    if (canVote && upToDate) {
      // The grant carries the requested term, so a pre-candidate counts it.
      this.send(resp, m.from, { term: m.term });
      if (m.type === "vote") {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(resp, m.from, { reject: true });
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "app":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppend(m);
        return;
      case "heartbeat":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case "snap":
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case "timeoutNow":
        // Leadership transfer: campaign at once, without pre-vote (thesis §3.10).
        this.hup("transfer");
        return;
      default:
        return;
    }
  }

  private stepCandidate(m: Message): void {
    const myResp: MessageType = this.role === "preCandidate" ? "preVoteResp" : "voteResp";
    switch (m.type) {
      case "app":
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case "heartbeat":
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case "snap":
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      default:
        break;
    }
    if (m.type !== myResp) return;
    if (!this.votes.has(m.from)) this.votes.set(m.from, !m.reject);
    const r = voteResult(this.conf.voters, this.votes);
    if (r === "won") {
      if (this.role === "preCandidate") {
        this.campaignNow("election");
      } else {
        this.becomeLeader();
        this.bcastAppend();
      }
    } else if (r === "lost") {
      this.becomeFollower(this.term, "");
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    if (!pr) return;
    if (m.type === "appResp") {
      pr.recentActive = true;
      if (m.reject) this.handleAppReject(m, pr);
      else this.handleAppAccept(m, pr);
    } else if (m.type === "heartbeatResp") {
      pr.recentActive = true;
      pr.probeSent = false;
      // A full window whose messages were lost would never drain: free one slot so
      // that the next append exposes the gap.
      if (pr.state === "replicate" && pr.inflights.full()) pr.inflights.freeFirstOne();
      if (pr.match < this.log.lastIndex() || pr.state === "probe")
        this.sendAppend(m.from, pr, true);
      if (m.context.length > 0) this.handleReadAck(m);
    }
    // Everything else at our own term (stale votes, app from a usurper that cannot
    // exist) is ignored.
  }

  private handleAppReject(m: Message, pr: Progress): void {
    // Fast backtracking: the follower's hint (index, term) names the last entry that
    // could match; skipping to the last entry of ours with a term <= that term jumps
    // over a whole divergent term per round trip (etcd's findConflictByTerm).
    let nextProbe = m.rejectHint;
    if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm).index;
    if (pr.maybeDecrTo(m.index, nextProbe)) {
      if (pr.state === "replicate") pr.becomeProbe();
      this.sendAppend(m.from, pr, true);
    }
  }

  private handleAppAccept(m: Message, pr: Progress): void {
    const wasPaused = pr.isPaused();
    if (!(pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === "probe"))) return;
    if (pr.state === "probe") {
      pr.becomeReplicate();
    } else if (pr.state === "snapshot" && pr.match + 1 >= this.log.firstIndex()) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === "replicate") {
      pr.inflights.freeLE(m.index);
    }
    if (this.maybeCommit()) {
      this.onCommitAdvanced();
      this.bcastAppend();
    } else if (wasPaused) {
      this.sendAppend(m.from, pr, true);
    }
    while (this.sendAppend(m.from, pr, false)) {
      // fill the window
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      // Thesis §3.10: the target is caught up; tell it to campaign now.
      this.send("timeoutNow", m.from, {});
    }
  }

  private handleReadAck(m: Message): void {
    const req = this.readOnly.recvAck(m.from, m.context);
    if (!req) return;
    if (!hasQuorum(this.conf.voters, (id) => id === this.id || req.acks.has(id))) return;
    for (const r of this.readOnly.advance(m.context)) {
      this.readStates.push({ index: r.index, context: r.context });
    }
  }

  // ---------------------------------------------------------------- follower side

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      // Everything up to our commit is known to match; say so.
      this.send("appResp", m.from, { index: this.log.committed });
      return;
    }
    const last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      if (m.entries.length > 0) this.syncConf(m.entries);
      this.send("appResp", m.from, { index: last });
      return;
    }
    // Conflict hint: the largest index <= the probe whose term is <= the leader's term
    // there. Every entry after it is certainly different from the leader's.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    this.send("appResp", m.from, {
      index: m.index,
      reject: true,
      rejectHint: hint.index,
      logTerm: hint.term,
    });
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(m.commit);
    this.send("heartbeatResp", m.from, { context: m.context });
  }

  private handleSnapshot(m: Message): void {
    const s = m.snapshot!;
    if (this.restore(s)) {
      this.send("appResp", m.from, { index: this.log.lastIndex() });
    } else {
      this.send("appResp", m.from, { index: this.log.committed });
    }
  }

  /**
   * Installs a leader's snapshot. A snapshot at or below our commit is stale and
   * ignored. One whose last (index, term) is already in our log is not installed
   * either, but proves that prefix committed, so commit moves up to it; that is the
   * only safe advance, since the log after it may still be replaced.
   */
  private restore(s: Snapshot): boolean {
    const { index, term } = s.meta;
    if (index <= this.log.committed) return false;
    if (this.log.matchTerm(index, term)) {
      this.log.commitTo(index);
      return false;
    }
    this.log.restore(index, term);
    this.snapshot = s;
    this.snapConf = s.meta.conf;
    this.confLog = [];
    this.conf = s.meta.conf;
    this.pendingSnapshot = s;
    this.applying = index;
    return true;
  }

  // ---------------------------------------------------------------- leader side

  private checkCanPropose(): void {
    if (this.role !== "leader") throw new RaftError("NotLeader", "not the leader", this.lead);
    if (this.leadTransferee !== "") {
      throw new RaftError(
        "LeadershipTransferInProgress",
        `leadership is being transferred to ${this.leadTransferee}`,
        this.leadTransferee,
      );
    }
    if (this.removedLeader()) {
      throw new RaftError(
        "ProposalDropped",
        "this leader is no longer a voter; it is stepping down",
      );
    }
  }

  private appendOne(type: EntryType, data: Uint8Array, change: ConfChange | undefined): Entry {
    const index = this.log.lastIndex() + 1;
    assertSafeIndex(index, "index");
    const e: Entry =
      change === undefined
        ? { index, term: this.term, type, data }
        : { index, term: this.term, type, data, change };
    this.log.append([e]);
    if (type === "conf") this.syncConf([e]);
    const self = this.prs.get(this.id);
    if (self) self.maybeUpdate(index);
    // A single voter commits on its own.
    if (this.maybeCommit()) this.onCommitAdvanced();
    return e;
  }

  /** §5.3/§5.4.2: commit the majority-matched index, but only if it is of our term. */
  private maybeCommit(): boolean {
    const mci = committedIndex(this.conf.voters, (id) => this.prs.get(id)?.match ?? 0);
    if (mci <= this.log.committed) return false;
    if (this.bug !== "commit-old-term" && this.log.term(mci) !== this.term) return false;
    this.log.commitTo(mci);
    return true;
  }

  private onCommitAdvanced(): void {
    if (this.removedLeader()) {
      const c = this.confLog[this.confLog.length - 1];
      if (c === undefined || c.index <= this.log.committed) {
        this.stepDownAfterRemoval();
        return;
      }
    }
    if (this.pendingReads.length > 0 && this.committedEntryInCurrentTerm()) {
      const reads = this.pendingReads;
      this.pendingReads = [];
      for (const ctx of reads) this.serveRead(ctx);
    }
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private serveRead(context: Uint8Array): void {
    const voters = this.conf.voters;
    if (voters.length === 1 && voters[0] === this.id) {
      this.readStates.push({ index: this.log.committed, context });
      return;
    }
    // Thesis §6.4 step 3: confirm leadership with a heartbeat round that carries
    // this request's context.
    if (this.readOnly.add(this.log.committed, context)) this.bcastHeartbeat(context);
  }

  private bcastAppend(): void {
    for (const [id, pr] of this.prs) {
      if (id !== this.id) this.sendAppend(id, pr, true);
    }
  }

  private bcastHeartbeat(context: Uint8Array | undefined): void {
    const ctx = context ?? EMPTY_BYTES;
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      this.send("heartbeat", id, { commit: Math.min(pr.match, this.log.committed), context: ctx });
    }
  }

  /**
   * Sends the follower what it lacks from `pr.next`, or the snapshot when that is no
   * longer in the log. Returns false when nothing was sent (paused, or nothing new and
   * `sendIfEmpty` is false).
   */
  private sendAppend(to: NodeId, pr: Progress, sendIfEmpty: boolean): boolean {
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) {
      this.sendSnapshot(to, pr);
      return true;
    }
    const last = this.log.lastIndex();
    const ents =
      pr.next <= last ? this.log.slice(pr.next, last + 1, this.maxSizePerMsg) : NO_ENTRIES;
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send("app", to, {
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.log.committed,
    });
    pr.sentEntries(ents.length, prevIndex + ents.length);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): void {
    const snap: Snapshot = this.snapshot ?? {
      meta: { index: this.log.snapshotIndex, term: this.log.snapshotTerm, conf: this.snapConf },
      data: EMPTY_BYTES,
    };
    this.send("snap", to, { snapshot: snap });
    pr.becomeSnapshot(snap.meta.index);
  }

  private abortLeaderTransfer(): void {
    this.leadTransferee = "";
  }

  // ---------------------------------------------------------------- membership

  /**
   * Brings `conf` in line with the log after `appended` went in: conf entries that a
   * truncation removed are forgotten (their (index, term) no longer matches), new ones
   * take effect at once, and the node reacts to the new membership.
   */
  private syncConf(appended: readonly Entry[]): void {
    const before = this.conf;
    let n = this.confLog.length;
    while (n > 0 && this.log.term(this.confLog[n - 1]!.index) !== this.confLog[n - 1]!.term) n--;
    this.confLog.length = n;
    let conf = n > 0 ? this.confLog[n - 1]!.conf : this.snapConf;
    const lastRecorded = n > 0 ? this.confLog[n - 1]!.index : this.log.snapshotIndex;
    for (const e of appended) {
      if (e.type !== "conf" || !e.change || e.index <= lastRecorded) continue;
      if (this.log.term(e.index) !== e.term) continue;
      conf = applyConfChange(conf, e.change);
      this.confLog.push({ index: e.index, term: e.term, conf });
    }
    this.conf = conf;
    if (conf !== before) this.onConfChanged();
  }

  private onConfChanged(): void {
    if (this.role === "leader") {
      // A member added now is usually a brand-new node with an empty log. While this
      // log still starts at index 1 (nothing compacted), the first append carries it
      // from the start: an empty log accepts it at once, instead of first refusing a
      // probe at the end of the log (one round trip and one fsync on the new node). A
      // node that already holds a prefix keeps what matches, as with any append.
      const last = this.log.lastIndex();
      const from = this.log.snapshotIndex === 0 ? 0 : last;
      for (const id of this.conf.voters) {
        const pr = this.prs.get(id);
        if (pr) pr.isLearner = false;
        else this.addProgress(id, false, from);
      }
      for (const id of this.conf.learners) {
        const pr = this.prs.get(id);
        if (pr) pr.isLearner = true;
        else this.addProgress(id, true, from);
      }
      for (const id of [...this.prs.keys()]) {
        // The leader keeps its own progress while it finishes its own removal.
        if (id !== this.id && memberRole(this.conf, id) === undefined) this.prs.delete(id);
      }
      if (this.leadTransferee !== "" && memberRole(this.conf, this.leadTransferee) !== "voter") {
        this.abortLeaderTransfer();
      }
    } else if (this.role !== "follower" && !this.promotable()) {
      this.becomeFollower(this.term, "");
    }
  }

  /**
   * The leader's own removal or demotion is committed (thesis §4.2.2). Since it was
   * appended the leader has not counted itself and has taken no proposals; the
   * remaining voters that committed the change use it, so they can elect a leader
   * without this node. It hands leadership to a voter that holds its whole log, if
   * any, and steps down.
   */
  private stepDownAfterRemoval(): void {
    this.bcastAppend();
    const last = this.log.lastIndex();
    for (const id of this.conf.voters) {
      if (this.prs.get(id)?.match === last) {
        this.send("timeoutNow", id, {});
        break;
      }
    }
    this.becomeFollower(this.term, "");
  }

  private removedLeader(): boolean {
    return this.role === "leader" && !this.conf.voters.includes(this.id);
  }

  // ---------------------------------------------------------------- messages

  private send(type: MessageType, to: NodeId, f: MessageFields): void {
    this.msgs.push({
      type,
      from: this.id,
      to,
      term: f.term ?? this.term,
      logTerm: f.logTerm ?? 0,
      index: f.index ?? 0,
      entries: f.entries ?? NO_ENTRIES,
      commit: f.commit ?? 0,
      reject: f.reject ?? false,
      rejectHint: f.rejectHint ?? 0,
      context: f.context ?? EMPTY_BYTES,
      snapshot: f.snapshot,
    });
  }
}

function badNumber(n: number): boolean {
  return !(n >= 0 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n));
}

/** Rejects a message whose numbers are out of range or whose entries are not contiguous. */
function validateMessage(m: Message): void {
  if (
    badNumber(m.term) ||
    badNumber(m.logTerm) ||
    badNumber(m.index) ||
    badNumber(m.commit) ||
    badNumber(m.rejectHint)
  ) {
    throw new RaftError(
      "InvalidMessage",
      `${m.type} from ${m.from}: a term or index is out of range`,
    );
  }
  if (m.type === "app") {
    const es = m.entries;
    for (let i = 0; i < es.length; i++) {
      const e = es[i]!;
      if (e.index !== m.index + 1 + i || badNumber(e.term) || e.term > m.term) {
        throw new RaftError("InvalidMessage", `app from ${m.from}: entries are not contiguous`);
      }
    }
  } else if (m.type === "snap") {
    const s = m.snapshot;
    if (!s || badNumber(s.meta.index) || badNumber(s.meta.term) || s.meta.term > m.term) {
      throw new RaftError("InvalidMessage", `snap from ${m.from}: missing or bad snapshot`);
    }
  }
}
