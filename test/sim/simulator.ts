import type { InjectedBug, RawNode } from "../../src/raft/core/api.js";
import { splitEarlyMessages } from "../../src/raft/core/early-send.js";
import { RaftError, RaftInvariantError } from "../../src/raft/core/errors.js";
import { bootstrapLogState, bootstrapState, createRaft } from "../../src/raft/core/raft.js";
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  PersistedState,
  Role,
} from "../../src/raft/types.js";
import { EMPTY_HARD_STATE } from "../../src/raft/types.js";
import { confAddr, encodePayload, entryIdent } from "./entry-ident.js";
import { type CheckedNode, type Checker, createChecker } from "./invariants.js";
import { createPrng, type Prng } from "./prng.js";
import { createSimFsm, type SimFsm } from "./sim-fsm.js";
import { createSimNetwork, type InFlight, type SimNetwork } from "./sim-network.js";
import { createSimStorage, type SimStorage } from "./sim-storage.js";
import { Act, createTrace, type Trace } from "./trace.js";
import { SimViolation } from "./violation.js";

/** Bugs the simulator can inject: two in the core, one in its own storage. */
export type SimBug = InjectedBug | "forget-vote" | "early-commit";

/** Every injectable bug, for the CLI and the tests. */
export const SIM_BUGS: readonly SimBug[] = ["vote-ignores-log", "commit-old-term", "forget-vote"];
/**
 * Bugs in the runtime's side of the contract rather than the core's. `early-commit` sends
 * a leader's messages before its write even when they carry a commit index that covers
 * entries this Ready appends. Only a single voter (with nonvoters) commits that way, so
 * this bug is hunted with `--nodes 1`.
 */
export const SIM_RUNTIME_BUGS: readonly SimBug[] = ["early-commit"];

/**
 * How the founding members start:
 * - `snapshot`: every founding member starts from `bootstrapState` (a snapshot at index 1
 *   holding the whole initial membership), the layout of homes bootstrapped before the
 *   log-based bootstrap;
 * - `log`: as the runtime bootstraps now, one voter starts from `bootstrapLogState` (a
 *   committed conf entry at index 1) and every other founding member starts with empty
 *   storage and joins through the leader: added as a nonvoter, then promoted once caught
 *   up (or at once, sometimes), while the faults go on.
 */
export type SimBootstrap = "log" | "snapshot";

/**
 * The layout a seed gets when none is given: `log` for odd seeds, `snapshot` for even
 * ones (with 3/5/7 voters by seed mod 3, six consecutive seeds cover every pair). Even
 * seeds replay the schedules they ran before the log layout existed.
 */
export function bootstrapForSeed(seed: number): SimBootstrap {
  return seed % 2 === 1 ? "log" : "snapshot";
}

/** Options for one schedule. Everything else is drawn from the seed. */
export interface SimOptions {
  /** The schedule's seed: the same seed (and options) replays the same run exactly. */
  readonly seed: number;
  /** Initial voters (3, 5 or 7 in the CLI; any >= 1 works). */
  readonly voters: number;
  /** Random steps before the end-of-run liveness phase. */
  readonly steps: number;
  /** How the founding members start (default {@link bootstrapForSeed}). */
  readonly bootstrap?: SimBootstrap;
  /** Deliberately break the core or the storage for this run. */
  readonly injectBug?: SimBug;
  /**
   * Check only outcomes (election safety, logs, state machines, reads, liveness), not
   * the two mechanism rules (one vote per term, the commit rule): shows whether an
   * injected bug leads to a visible safety failure, not just a broken rule.
   */
  readonly consequencesOnly?: boolean;
  /** How many recent actions a violation report carries (default 50). */
  readonly traceKeep?: number;
}

/** What broke, where, and the actions leading to it. */
export interface SimViolationReport {
  readonly invariant: string;
  readonly detail: string;
  /** The step it broke at (steps past `steps` are the liveness phase). */
  readonly step: number;
  readonly phase: "run" | "liveness";
  /** The last actions, oldest first. */
  readonly trace: readonly string[];
  /** Each node's state when it broke. */
  readonly nodes: readonly string[];
}

/** Counters describing a run, for summaries and for tuning the schedule mix. */
export interface SimStats {
  actions: number;
  delivered: number;
  ticks: number;
  crashes: number;
  partitions: number;
  proposals: number;
  confChanges: number;
  transfers: number;
  compactions: number;
  snapshotsInstalled: number;
  /** Nodes that started with empty storage and whose first write was the log from index 1. */
  logJoins: number;
  /** Nodes that started with empty storage and whose first write was a leader's snapshot. */
  snapJoins: number;
  /** Founding members to join (log layout: all but the bootstrap voter). */
  founders: number;
  /**
   * Of those, the ones whose join was over by the end of the random steps (role
   * committed, or a random change proposed to remove it); the liveness phase completes
   * the others.
   */
  foundersJoined: number;
  readsStarted: number;
  readsServed: number;
  maxTerm: number;
  commitIndex: number;
  /** Terms in which some node campaigned (sent vote requests). */
  elections: number;
  /** Terms in which more than one node campaigned. */
  contestedElections: number;
  livenessRounds: number;
}

/** The outcome of one schedule. */
export interface SimResult {
  readonly seed: number;
  readonly voters: number;
  readonly steps: number;
  readonly bootstrap: SimBootstrap;
  readonly ok: boolean;
  readonly violation?: SimViolationReport;
  /** Hash over every action taken: equal for two runs of the same seed. */
  readonly traceHash: number;
  readonly stats: SimStats;
}

/** Indexes into a profile's action weights. */
const A = {
  deliver: 0,
  drop: 1,
  duplicate: 2,
  tick: 3,
  ready: 4,
  propose: 5,
  read: 6,
  partition: 7,
  heal: 8,
  crash: 9,
  restart: 10,
  conf: 11,
  transfer: 12,
  compact: 13,
  bounce: 14,
} as const;
const ACTIONS = 15;

/** The kinds of schedule; a seed draws one, then draws its parameters. */
type Family = "calm" | "balanced" | "storm";

/** The per-schedule mix, drawn from the seed so that runs differ in character too. */
interface Profile {
  readonly family: Family;
  readonly cumulative: Float64Array;
  readonly reorder: number;
  readonly immediateReady: number;
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly maxSizePerMsg: number;
  readonly maxInflightMsgs: number;
  readonly payloadMax: number;
  readonly learners: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
}

/**
 * Draws a schedule's character. Calm schedules have no network or machine faults (only
 * membership changes, transfers and compaction); balanced ones have some; storms crash
 * leaders, bounce nodes and cut links often, with short election timeouts and one entry
 * per append, which is where elections, log repair and the commit rule get stressed.
 */
function drawProfile(rng: Prng): Profile {
  const x = rng.float();
  const family: Family = x < 0.2 ? "calm" : x < 0.65 ? "balanced" : "storm";
  const storm = family === "storm";
  const faulty = family !== "calm";
  const w = new Float64Array(ACTIONS);
  w[A.deliver] = 50 + rng.int(25);
  w[A.tick] = 15 + rng.int(15);
  w[A.ready] = 3;
  w[A.propose] = 3 + rng.int(8);
  w[A.read] = rng.float() * 3;
  w[A.conf] = rng.float() * 1.2;
  w[A.transfer] = rng.float() * 0.8;
  w[A.compact] = rng.float() * 1.2;
  if (faulty) {
    w[A.drop] = (storm ? 2 : 0) + rng.float() * 4;
    w[A.duplicate] = rng.float() * 2;
    w[A.partition] = (storm ? 0.5 : 0.1) + rng.float() * (storm ? 1 : 0.7);
    w[A.crash] = (storm ? 1 : 0.1) + rng.float() * (storm ? 2 : 0.7);
    w[A.bounce] = storm ? 1 + rng.float() * 3 : rng.float() * 0.3;
  }
  w[A.heal] = 0.3 + w[A.partition]! * (1 + rng.float() * 2);
  w[A.restart] = 0.3 + w[A.crash]! * (1 + rng.float() * 2);
  let total = 0;
  const cumulative = new Float64Array(ACTIONS);
  for (let i = 0; i < ACTIONS; i++) {
    total += w[i]!;
    cumulative[i] = total;
  }
  for (let i = 0; i < ACTIONS; i++) cumulative[i] = cumulative[i]! / total;
  const electionTick = storm ? 3 + rng.int(4) : 6 + rng.int(7);
  return {
    family,
    cumulative,
    reorder: storm ? 0.3 + rng.float() * 0.4 : rng.float() * 0.5,
    immediateReady: 0.6 + rng.float() * 0.4,
    electionTick,
    heartbeatTick: storm ? 1 : 1 + rng.int(Math.min(3, electionTick - 1)),
    maxSizePerMsg: storm && rng.chance(0.6) ? 64 : rng.pick([64, 256, 1024, 1 << 20]),
    maxInflightMsgs: rng.pick([1, 2, 4, 256]),
    payloadMax: 4 + rng.int(60),
    learners: rng.int(3),
    // Mostly the defaults the runtime uses; sometimes without, which etcd also tests.
    preVote: rng.chance(storm ? 0.5 : 0.75),
    checkQuorum: rng.chance(storm ? 0.5 : 0.75),
  };
}

/** One simulated server: its stable storage survives crashes, the rest does not. */
interface SimNode extends CheckedNode {
  readonly id: string;
  readonly slot: number;
  readonly storage: SimStorage;
  core: RawNode | undefined;
  fsm: SimFsm;
  incarnation: number;
  /** Clock rate relative to the fastest node (models drift). */
  readonly tickRate: number;
  role: Role;
  /** The term this node last announced leadership in (0 if none this incarnation). */
  leaderTerm: number;
  /** The hard state the core last reported (reset to the persisted one on restart). */
  hs: HardState;
  /** Never restarted again (removed from the cluster, shut down at the end). */
  stopped: boolean;
  /**
   * Proposals this incarnation accepted, by index, until it applies that index. The API
   * promises that an applied entry carrying the returned term is that proposal; a
   * crash voids the promise (the caller waiting on it dies with the process).
   */
  promised: Map<number, Accepted>;
}

/** A proposal a leader accepted: it must commit if that leader keeps its leadership. */
interface Accepted {
  readonly slot: number;
  readonly inc: number;
  readonly term: number;
  readonly index: number;
  readonly ident: number;
}

const LEADER_ONLY: ReadonlySet<Message["type"]> = new Set([
  "app",
  "heartbeat",
  "snap",
  "timeoutNow",
]);

/**
 * Runs one seeded schedule: random faults and requests for `steps` steps, with the
 * invariants checked after each, then the liveness phase (heal, restart, no more
 * faults) and the end-of-run checks. Never throws for a violation: it is in the result.
 */
export function runSchedule(options: SimOptions): SimResult {
  const layout = options.bootstrap ?? bootstrapForSeed(options.seed);
  const logLayout = layout === "log";
  const rng = createPrng(options.seed);
  const profile = drawProfile(rng);
  // Log layout only (so that snapshot-layout seeds keep their random stream): how often a
  // step runs the founders' join procedure while some founder has not joined yet.
  const joinRate = logLayout ? 0.03 + rng.float() * 0.12 : 0;
  const trace = createTrace(options.traceKeep ?? 50);
  const forgetVote = options.injectBug === "forget-vote";
  const earlyCommit = options.injectBug === "early-commit";
  const coreBug: InjectedBug | undefined =
    options.injectBug === "forget-vote" || options.injectBug === "early-commit"
      ? undefined
      : options.injectBug;
  const stats: SimStats = {
    actions: 0,
    delivered: 0,
    ticks: 0,
    crashes: 0,
    partitions: 0,
    proposals: 0,
    confChanges: 0,
    transfers: 0,
    compactions: 0,
    snapshotsInstalled: 0,
    logJoins: 0,
    snapJoins: 0,
    founders: 0,
    foundersJoined: 0,
    readsStarted: 0,
    readsServed: 0,
    maxTerm: 0,
    commitIndex: 0,
    elections: 0,
    contestedElections: 0,
    livenessRounds: 0,
  };

  const maxNodes = options.voters + profile.learners + 6;
  const nodes: SimNode[] = [];
  const byId = new Map<string, SimNode>();
  const accepted: Accepted[] = [];
  let step = 0;
  let phase: "run" | "liveness" = "run";
  let nextNodeId = 1;
  let proposalSeq = 0;
  let confSeq = 0;
  let readSeq = 0;

  const voterIds: string[] = [];
  const learnerIds: string[] = [];
  for (let i = 0; i < options.voters; i++) voterIds.push(`n${nextNodeId++}`);
  for (let i = 0; i < profile.learners; i++) learnerIds.push(`n${nextNodeId++}`);
  const bootConf: ConfState = {
    voters: [...voterIds].sort(),
    learners: [...learnerIds].sort(),
    addrs: Object.fromEntries([...voterIds, ...learnerIds].map((id) => [id, `boot-${id}`])),
  };

  // Snapshot layout: every founding member starts from the same bootstrap snapshot that
  // holds the membership. Log layout: the first voter starts from a committed conf entry
  // adding itself, the other founders start empty and join (see join()). Nodes added
  // later start empty in both and get the log, or a snapshot, from a leader.
  const boot = logLayout
    ? bootstrapLogState(voterIds[0]!, `boot-${voterIds[0]}`)
    : bootstrapState(bootConf);
  const checker: Checker = createChecker({
    mechanismChecks: options.consequencesOnly !== true,
    baseIndex: boot.snapshot?.index ?? 0,
    baseTerm: boot.snapshot?.term ?? 0,
    // Log layout: the membership is the committed conf entry, registered below.
    voters: logLayout ? [] : bootConf.voters,
    learners: logLayout ? [] : bootConf.learners,
  });
  /** Founders still to join (log layout), in order, with the role each is to reach. */
  const joins: { id: string; voter: boolean }[] = [];
  /**
   * Nodes a random change proposed to remove. Ids are never re-added (the checker relies
   * on it), so the join procedure gives up on such a founder at once: the removal may be
   * committed before any persisted state (which is all the checker sees) says so.
   */
  const removalProposed = new Set<string>();
  checker.setLiveLeaders(function* () {
    for (const n of nodes) if (n.core && n.role === "leader") yield { node: n, term: n.leaderTerm };
  });

  const net: SimNetwork = createSimNetwork({
    maxNodes,
    capacity: 400,
    onOverflow: (f) => {
      trace.add(step, Act.overflow, nodes[f.to]!.id, 0, f.m);
      snapFailed(f);
    },
  });

  // Terms in which more than one node campaigned: the elections worth having.
  const candidateOf = new Map<number, string>();
  const contested = new Set<number>();
  const noteCandidate = (id: string, term: number) => {
    const c = candidateOf.get(term);
    if (c === undefined) candidateOf.set(term, id);
    else if (c !== id) contested.add(term);
  };

  const startCore = (n: SimNode) => {
    const persisted = n.storage.load();
    const r = rng.fork();
    n.core = createRaft({
      id: n.id,
      electionTick: profile.electionTick,
      heartbeatTick: profile.heartbeatTick,
      random: r.float,
      persisted,
      maxSizePerMsg: profile.maxSizePerMsg,
      maxInflightMsgs: profile.maxInflightMsgs,
      preVote: profile.preVote,
      checkQuorum: profile.checkQuorum,
      ...(coreBug ? { injectBug: coreBug } : {}),
    });
    n.fsm = createSimFsm();
    if (n.storage.snapshot) n.fsm.restore(n.storage.snapshot);
    n.incarnation++;
    n.role = "follower";
    n.leaderTerm = 0;
    n.hs = persisted.hardState;
    n.promised.clear();
  };

  const addNode = (id: string, initial: PersistedState | undefined): SimNode => {
    const storage = createSimStorage({
      ...(initial ? { initial } : {}),
      forgetVote,
      committedPrefix: (i) => checker.committedPrefix(i),
    });
    const n: SimNode = {
      id,
      slot: nodes.length,
      storage,
      core: undefined,
      fsm: createSimFsm(),
      incarnation: 0,
      tickRate: 0.4 + rng.float() * 0.6,
      role: "follower",
      leaderTerm: 0,
      hs: EMPTY_HARD_STATE,
      stopped: false,
      promised: new Map(),
    };
    nodes.push(n);
    byId.set(id, n);
    startCore(n);
    return n;
  };

  /** A snapshot message that never arrived: tell its sender, as a transport would. */
  const snapFailed = (f: InFlight) => {
    if (f.m.type !== "snap") return;
    const s = nodes[f.from]!;
    if (s.core && s.incarnation === f.inc) {
      s.core.reportSnapshot(f.m.to, false);
      afterInput(s);
    }
  };

  const send = (n: SimNode, m: Message) => {
    if (m.from !== n.id) {
      throw new SimViolation("message-sender", `${n.id} sent a message from "${m.from}"`);
    }
    if (LEADER_ONLY.has(m.type)) checker.onLeaderMessage(n.id, m.term);
    else if (m.type === "vote") noteCandidate(n.id, m.term);
    else if (m.type === "voteResp" && !m.reject) checker.onVoteGranted(n.id, m.to, m.term);
    const to = byId.get(m.to);
    if (to === undefined) return;
    net.send({ m, from: n.slot, to: to.slot, inc: n.incarnation });
  };

  /**
   * Handles one Ready the way the runtime does: send what may go before the write
   * (splitEarlyMessages: a leader's appends overlap its own fsync), persist (snapshot,
   * entries, hard state), send the rest, apply, advance. `crashAt` models a crash
   * part-way: 0 after the early messages left but before persisting, 1 after persisting,
   * 2 after sending; 3 is no crash.
   */
  const handleReady = (n: SimNode, crashAt = 3) => {
    const core = n.core!;
    const rd = core.ready();
    const st = n.storage;
    const { early, late } = rd.mustSync
      ? // early-commit: hiding the appended entries hides the commit rule.
        splitEarlyMessages(earlyCommit ? { ...rd, entries: [] } : rd, st.hardState)
      : { early: [], late: rd.messages };
    for (const m of early) send(n, m);
    if (crashAt === 0) return;
    const wasEmpty = st.lastIndex() === 0;
    if (rd.snapshot) {
      if (rd.snapshot.meta.index <= n.fsm.applied) {
        throw new SimViolation(
          "stale-snapshot-installed",
          `${n.id} was told to install a snapshot at ${rd.snapshot.meta.index} having applied ${n.fsm.applied}`,
        );
      }
      checker.onSnapshot(n, rd.snapshot);
      st.applySnapshot(rd.snapshot);
      stats.snapshotsInstalled++;
    }
    if (rd.entries.length > 0) st.append(rd.entries, (e, p) => checker.onAppend(n, e, p));
    if (wasEmpty && st.lastIndex() > 0) {
      if (rd.snapshot) stats.snapJoins++;
      else stats.logJoins++;
    }
    if (rd.hardState) {
      const hs = rd.hardState;
      if (n.role === "leader" && n.leaderTerm === hs.term && hs.commit > n.hs.commit) {
        checker.onLeaderCommit(n, hs.term, hs.commit);
      }
      checker.onHardState(n, n.hs, hs);
      st.setHardState(rd.hardState);
      n.hs = rd.hardState;
      if (n.hs.term > stats.maxTerm) stats.maxTerm = n.hs.term;
    }
    if (rd.softState) n.role = rd.softState.role;
    if (n.role === "leader" && n.leaderTerm !== n.hs.term) {
      n.leaderTerm = n.hs.term;
      checker.onLeader(n, n.hs.term);
    } else if (n.role !== "leader") n.leaderTerm = 0;
    if (crashAt === 1) return;
    for (const m of late) send(n, m);
    if (crashAt === 2) return;
    if (rd.snapshot) n.fsm.restore(rd.snapshot);
    for (const e of rd.committedEntries) {
      n.fsm.apply(e);
      checker.onApply(n, e, n.fsm.hash, n.hs.term);
      if (n.promised.size > 0) checkPromise(n, e);
    }
    for (const rs of rd.readStates) {
      checker.onReadState(n, rs);
      stats.readsServed++;
    }
    core.advance();
  };

  /** Records what propose() promised, to hold the proposer to it when it applies. */
  const promise = (n: SimNode, p: Accepted) => {
    accepted.push(p);
    n.promised.set(p.index, p);
  };

  const checkPromise = (n: SimNode, e: Entry) => {
    const p = n.promised.get(e.index);
    if (p === undefined) return;
    n.promised.delete(e.index);
    if (e.term === p.term && entryIdent(e) !== p.ident) {
      throw new SimViolation(
        "proposal-identity",
        `${n.id} applied index ${e.index} term ${e.term}, promised to proposal ${p.ident}, holding ${entryIdent(e)}`,
      );
    }
  };

  /** Drains every pending Ready of `n` (bounded: an endless stream is a bug). */
  const drain = (n: SimNode) => {
    let k = 0;
    while (n.core?.hasReady()) {
      if (++k > 1000) throw new SimViolation("ready-loop", `${n.id} never runs out of Ready`);
      handleReady(n);
    }
  };

  /** After an input, usually handle the Ready at once; sometimes let work pile up. */
  const afterInput = (n: SimNode) => {
    if (phase === "liveness" || rng.chance(profile.immediateReady)) drain(n);
  };

  const live = (n: SimNode | undefined): n is SimNode & { core: RawNode } =>
    n !== undefined && n.core !== undefined;

  const randomLive = (): (SimNode & { core: RawNode }) | undefined => {
    const start = rng.int(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[(start + i) % nodes.length];
      if (live(n)) return n;
    }
    return undefined;
  };

  /** A node that believes it leads (usually), else any live node. */
  const target = (): (SimNode & { core: RawNode }) | undefined => {
    if (rng.chance(0.9)) {
      const start = rng.int(nodes.length);
      for (let i = 0; i < nodes.length; i++) {
        const n = nodes[(start + i) % nodes.length];
        if (live(n) && n.role === "leader") return n;
      }
    }
    return randomLive();
  };

  const deliver = (pos: number) => {
    const f = net.take(pos);
    const to = nodes[f.to]!;
    if (!live(to) || net.blocked(f.from, f.to)) {
      trace.add(step, Act.drop, to.id, 1, f.m);
      snapFailed(f);
      // A transport notices a dead peer or a broken link and tells the leader, which
      // then probes instead of streaming into the void.
      const s = nodes[f.from]!;
      if (f.m.type === "app" && s.core && s.incarnation === f.inc && rng.chance(0.5)) {
        s.core.reportUnreachable(to.id);
        afterInput(s);
      }
      return;
    }
    trace.add(step, Act.deliver, to.id, 0, f.m);
    stats.delivered++;
    to.core.step(f.m);
    afterInput(to);
    if (f.m.type === "snap") {
      const s = nodes[f.from]!;
      if (s.core && s.incarnation === f.inc) {
        s.core.reportSnapshot(to.id, true);
        afterInput(s);
      }
    }
  };

  const tick = (n: SimNode & { core: RawNode }) => {
    trace.add(step, Act.tick, n.id, 0);
    stats.ticks++;
    n.core.tick();
    afterInput(n);
  };

  /** Runs a request that the core may refuse with a RaftError (which changes nothing). */
  const tryCore = <T>(f: () => T): T | undefined => {
    // Refusals are routine here (most requests reach non-leaders mid-election), and a
    // stack trace per refusal was the simulator's largest single cost.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return f();
    } catch (e) {
      if (e instanceof RaftError) return undefined;
      throw e;
    } finally {
      Error.stackTraceLimit = limit;
    }
  };

  const propose = () => {
    const n = target();
    if (!n) return;
    const id = ++proposalSeq;
    const size = 4 + rng.int(profile.payloadMax - 3);
    const r = tryCore(() => n.core.propose(encodePayload(id, size)));
    trace.add(step, Act.propose, n.id, id, undefined, r ? `-> i${r.index} t${r.term}` : "refused");
    if (r) {
      stats.proposals++;
      promise(n, { slot: n.slot, inc: n.incarnation, term: r.term, index: r.index, ident: id });
    }
    afterInput(n);
  };

  const read = () => {
    const n = target();
    if (!n) return;
    const id = ++readSeq;
    const ctx = new Uint8Array([id & 0xff, (id >>> 8) & 0xff, (id >>> 16) & 0xff, id >>> 24]);
    // Registered before the call: a single-voter leader may answer inside readIndex().
    checker.onReadStart(n, id, step);
    const ok = tryCore(() => {
      n.core.readIndex(ctx);
      return true;
    });
    trace.add(step, Act.read, n.id, id, undefined, ok ? "" : "refused");
    if (ok) stats.readsStarted++;
    afterInput(n);
  };

  /**
   * A node that voted for someone else in its current term (else any live node): a
   * crash right after voting is where a vote that was not made durable would show.
   */
  const recentVoter = (): (SimNode & { core: RawNode }) | undefined => {
    const start = rng.int(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[(start + i) % nodes.length];
      if (live(n) && n.hs.vote !== "" && n.hs.vote !== n.id && n.role !== "leader") return n;
    }
    return randomLive();
  };

  const partition = () => {
    stats.partitions++;
    const k = nodes.length;
    const kind = rng.int(3);
    if (kind === 0) {
      // Isolate one node both ways.
      const x = rng.int(k);
      for (let i = 0; i < k; i++) {
        if (i === x) continue;
        net.block(x, i);
        net.block(i, x);
      }
      trace.add(step, Act.partition, nodes[x]!.id, 0, undefined, "isolate");
    } else if (kind === 1) {
      // Split into two random sides.
      const side = nodes.map(() => rng.chance(0.5));
      for (let i = 0; i < k; i++) {
        for (let j = 0; j < k; j++) if (side[i] !== side[j]) net.block(i, j);
      }
      const a = nodes.filter((_, i) => side[i]).map((n) => n.id);
      trace.add(step, Act.partition, "", 0, undefined, `split [${a.join(",")}] | rest`);
    } else {
      // Asymmetric: one node can only send, or only receive.
      const x = rng.int(k);
      const outbound = rng.chance(0.5);
      for (let i = 0; i < k; i++) {
        if (i === x) continue;
        if (outbound) net.block(x, i);
        else net.block(i, x);
      }
      trace.add(step, Act.partition, nodes[x]!.id, 0, undefined, outbound ? "mute" : "deaf");
    }
  };

  const crash = (): SimNode | undefined => {
    // Leaders crash more often than their share: that is where elections, log repair
    // and the commit rule get exercised.
    const x = rng.float();
    const n = x < 0.4 ? target() : x < 0.6 ? recentVoter() : randomLive();
    if (!n) return undefined;
    let note = "";
    if (n.core.hasReady() && rng.chance(0.6)) {
      const at = rng.int(3);
      note = ["before persist (early sends out)", "after persist", "after send"][at]!;
      handleReady(n, at);
    }
    trace.add(step, Act.crash, n.id, 0, undefined, note);
    stats.crashes++;
    const down: SimNode = n;
    down.core = undefined;
    down.role = "follower";
    down.leaderTerm = 0;
    return down;
  };

  /** A quick reboot: crash (maybe mid-Ready) and come straight back from disk. */
  const bounce = () => {
    const n = crash();
    if (n === undefined) return;
    trace.add(step, Act.restart, n.id, 0);
    startCore(n);
    afterInput(n);
  };

  const restart = () => {
    const start = rng.int(nodes.length);
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[(start + i) % nodes.length]!;
      if (n.core === undefined && !n.stopped) {
        trace.add(step, Act.restart, n.id, 0);
        startCore(n);
        afterInput(n);
        return;
      }
    }
  };

  const minVoters = Math.max(1, options.voters - 2);
  const maxVoters = options.voters + 2;

  /**
   * Proposes `change` (number `id`) on leader `n`, traces it with `label` in front, and
   * on acceptance counts it and promises its entry. Returns whether it was accepted.
   */
  const proposeChange = (
    n: SimNode & { core: RawNode },
    change: ConfChange,
    id: number,
    label: string,
  ): boolean => {
    const r = tryCore(() => n.core.proposeConfChange(change));
    trace.add(
      step,
      Act.confChange,
      n.id,
      id,
      undefined,
      `${label}${change.type} ${change.nodeId}${r ? ` -> i${r.index} t${r.term}` : " refused"}`,
    );
    if (!r) return false;
    stats.confChanges++;
    promise(n, { slot: n.slot, inc: n.incarnation, term: r.term, index: r.index, ident: -id });
    return true;
  };

  const confChange = () => {
    const n = target();
    if (n?.role !== "leader") return;
    const conf = n.core.status().conf;
    const members = [...conf.voters, ...conf.learners];
    const id = ++confSeq;
    const addr = confAddr(id);
    let change: ConfChange;
    let fresh = false;
    if (nodes.length < maxNodes && (members.length === 0 || rng.chance(0.35))) {
      const voter = conf.voters.length < maxVoters && rng.chance(0.3);
      change = { type: voter ? "addVoter" : "addLearner", nodeId: `n${nextNodeId}`, addr };
      fresh = true;
    } else {
      const who = rng.pick(members);
      const isVoter = conf.voters.includes(who);
      const canShrink = !isVoter || conf.voters.length > minVoters;
      const remove = canShrink && rng.chance(0.4);
      if (remove) change = { type: "removeNode", nodeId: who, addr };
      else if (isVoter && canShrink) change = { type: "addLearner", nodeId: who, addr };
      else if (!isVoter && conf.voters.length < maxVoters)
        change = { type: "addVoter", nodeId: who, addr };
      else return;
    }
    if (proposeChange(n, change, id, "")) {
      if (change.type === "removeNode") removalProposed.add(change.nodeId);
      // A joining node starts empty and waits for the leader to reach it.
      if (fresh) addNode(`n${nextNodeId++}`, undefined);
    }
    afterInput(n);
  };

  /** Drops the founders whose join is over (role committed, or a removal proposed). */
  const settleJoins = () => {
    const done = checker.committedMembers();
    while (joins.length > 0) {
      const j = joins[0]!;
      const joined = done.voters.has(j.id) || (!j.voter && done.learners.has(j.id));
      if (!joined && !removalProposed.has(j.id)) return;
      joins.shift();
    }
  };

  /**
   * The runtime's join procedure for the founders of a log-layout run, one at a time: the
   * leader adds the (empty) node as a nonvoter; a founder meant to vote is promoted once
   * the leader's progress for it reaches the commit index, as the runtime's promote()
   * waits, or sometimes at once (addVoter on a nonvoter does not wait). A founder is done
   * when its role is committed, or once a random change proposed to remove it.
   */
  const join = () => {
    const n = target();
    if (n?.role === "leader") joinVia(n, true);
  };

  /** One step of the join procedure through leader `n`; `hurry` may promote early. */
  const joinVia = (n: SimNode & { core: RawNode }, hurry: boolean) => {
    settleJoins();
    const j = joins[0];
    if (j === undefined) return;
    const s = n.core.status();
    // The runtime runs one membership change at a time.
    if (s.pendingConfChange) return;
    let change: ConfChange;
    if (s.conf.learners.includes(j.id)) {
      if (!j.voter) return;
      const pr = s.progress[j.id];
      const caughtUp = pr !== undefined && pr.match >= s.commit;
      if (!caughtUp && !(hurry && rng.chance(0.1))) return;
      change = { type: "addVoter", nodeId: j.id, addr: confAddr(++confSeq) };
    } else if (s.conf.voters.includes(j.id)) {
      return;
    } else {
      change = { type: "addLearner", nodeId: j.id, addr: confAddr(++confSeq) };
    }
    proposeChange(n, change, confSeq, "join: ");
    afterInput(n);
  };

  const transfer = () => {
    const n = target();
    if (n?.role !== "leader") return;
    const conf = n.core.status().conf;
    // Mostly voters; sometimes a learner, itself or a stranger, which must be refused.
    const pool = rng.chance(0.8) ? conf.voters : [...conf.learners, n.id, "nobody"];
    if (pool.length === 0) return;
    const to = rng.pick(pool);
    const ok = tryCore(() => {
      n.core.transferLeader(to);
      return true;
    });
    trace.add(step, Act.transfer, n.id, 0, undefined, `to ${to}${ok ? "" : " refused"}`);
    if (ok) stats.transfers++;
    afterInput(n);
  };

  const compact = () => {
    const n = randomLive();
    if (!n || n.fsm.applied <= n.storage.snapIndex) return;
    const index = n.fsm.applied;
    const snap = tryCore(() => n.core.compact(index, n.fsm.serialize()));
    trace.add(step, Act.compact, n.id, index, undefined, snap ? "" : "refused");
    if (!snap) return;
    if (snap.meta.index !== index) {
      throw new SimViolation(
        "compact",
        `${n.id} compact(${index}) made a snapshot at ${snap.meta.index}`,
      );
    }
    checker.onSnapshot(n, snap);
    n.storage.compact(snap);
    stats.compactions++;
  };

  // Schedules alternate between storms (faults as the profile says) and calm spells
  // (no new faults), so that leaders get elected and commit between the storms.
  let calm = false;

  const tickSomeone = () => {
    for (let tries = 0; tries < 8; tries++) {
      const n = nodes[rng.int(nodes.length)]!;
      if (live(n) && rng.chance(n.tickRate)) {
        tick(n);
        return;
      }
    }
  };

  const randomStep = () => {
    if (rng.chance(1 / 150)) calm = !calm;
    if (logLayout && joins.length > 0 && rng.chance(joinRate)) return join();
    const x = rng.float();
    const c = profile.cumulative;
    let a = 0;
    while (a < ACTIONS - 1 && x >= c[a]!) a++;
    if (
      calm &&
      (a === A.drop || a === A.duplicate || a === A.partition || a === A.crash || a === A.bounce)
    ) {
      a = A.deliver;
    }
    switch (a) {
      case A.deliver:
        // An idle wire lets time pass instead, so that every step does something.
        if (net.size > 0) deliver(rng.chance(profile.reorder) ? rng.int(net.size) : 0);
        else tickSomeone();
        return;
      case A.drop:
        if (net.size > 0) {
          const f = net.take(rng.int(net.size));
          trace.add(step, Act.drop, nodes[f.to]!.id, 0, f.m);
          snapFailed(f);
        }
        return;
      case A.duplicate:
        if (net.size > 0) {
          const f = net.peek(rng.int(net.size));
          trace.add(step, Act.duplicate, nodes[f.to]!.id, 0, f.m);
          net.send(f);
        }
        return;
      case A.tick:
        return tickSomeone();
      case A.ready: {
        const start = rng.int(nodes.length);
        for (let i = 0; i < nodes.length; i++) {
          const n = nodes[(start + i) % nodes.length]!;
          if (n.core?.hasReady()) {
            trace.add(step, Act.ready, n.id, 0);
            handleReady(n);
            return;
          }
        }
        return;
      }
      case A.propose:
        return propose();
      case A.read:
        return read();
      case A.partition:
        return partition();
      case A.heal:
        if (net.partitioned) {
          trace.add(step, Act.heal, "", 0);
          net.heal();
        }
        return;
      case A.crash:
        return crash();
      case A.restart:
        return restart();
      case A.conf:
        return confChange();
      case A.transfer:
        return transfer();
      case A.compact:
        return compact();
      default:
        return bounce();
    }
  };

  /**
   * The end-of-run phase: heal, restart every member, stop crashing, deliver in order.
   * A leader must emerge within a bound, then a fresh write must reach every member.
   */
  const liveness = () => {
    phase = "liveness";
    net.heal();
    trace.add(step, Act.heal, "", 0, undefined, "liveness phase");
    for (const n of nodes) {
      if (checker.isRemoved(n.id)) {
        // A removed server is shut down, as the runtime does once it learns of it.
        n.core = undefined;
        n.stopped = true;
      } else if (n.core === undefined) {
        trace.add(step, Act.restart, n.id, 0);
        startCore(n);
      }
    }
    for (const n of nodes) drain(n);
    const bound = 30 * profile.electionTick;
    let leader: (SimNode & { core: RawNode }) | undefined;
    let leaderRound = -1;
    let final: { index: number; term: number; slot: number } | undefined;
    for (let round = 0; ; round++) {
      stats.livenessRounds = round;
      step++;
      for (const n of nodes) if (live(n)) tick(n);
      let budget = 200_000;
      while (net.size > 0) {
        if (--budget === 0) throw new SimViolation("liveness", "messages never quiesce");
        deliver(0);
      }
      // Servers whose removal committed meanwhile are shut down too.
      for (const n of nodes) {
        if (n.core !== undefined && checker.isRemoved(n.id)) {
          n.core = undefined;
          n.stopped = true;
        }
      }
      if (leader === undefined || leader.role !== "leader" || leader.core === undefined) {
        leader = undefined;
        final = undefined;
        // The leader must be at the highest term among members (strangers that were
        // never added may sit at any term; they do not count).
        const { voters, learners } = checker.committedMembers();
        let maxTerm = 0;
        for (const n of nodes) {
          if (live(n) && (voters.has(n.id) || learners.has(n.id)) && n.hs.term > maxTerm) {
            maxTerm = n.hs.term;
          }
        }
        for (const n of nodes) {
          if (live(n) && n.role === "leader" && n.hs.term >= maxTerm) leader = n;
        }
        if (leader === undefined) {
          if (round >= bound) {
            throw new SimViolation(
              "liveness",
              `no leader ${bound} ticks after healing (max term ${maxTerm})`,
            );
          }
          continue;
        }
        leaderRound = round;
      }
      // Log layout: founders that have not joined yet do now, one change per round.
      if (joins.length > 0) joinVia(leader, false);
      if (final === undefined) {
        const l = leader;
        const id = ++proposalSeq;
        const r = tryCore(() => l.core.propose(encodePayload(id, 8)));
        trace.add(step, Act.propose, l.id, id, undefined, r ? `final -> i${r.index}` : "refused");
        if (r) {
          promise(l, {
            slot: l.slot,
            inc: l.incarnation,
            term: r.term,
            index: r.index,
            ident: id,
          });
          final = { ...r, slot: l.slot };
        }
        drain(l);
      }
      if (final !== undefined) {
        const { voters, learners } = checker.committedMembers();
        settleJoins();
        let done = joins.length === 0;
        for (const n of nodes) {
          if (!voters.has(n.id) && !learners.has(n.id)) continue;
          if (!live(n) || n.fsm.applied < final.index) done = false;
        }
        if (done) return;
      }
      if (round - leaderRound >= bound) {
        throw new SimViolation(
          "liveness",
          joins.length > 0
            ? `leader ${leader.id} (term ${leader.hs.term}) elected, but founder ${joins[0]!.id} did not join within ${bound} ticks`
            : `leader ${leader.id} (term ${leader.hs.term}) elected, but a write did not reach every member within ${bound} ticks`,
        );
      }
    }
  };

  /** Proposals accepted by a leader that kept its leadership must be committed. */
  const checkAccepted = () => {
    for (const p of accepted) {
      const ident = checker.committedIdent(p.index);
      const n = nodes[p.slot]!;
      const kept =
        live(n) && n.incarnation === p.inc && n.role === "leader" && n.leaderTerm === p.term;
      if (kept && ident !== p.ident) {
        throw new SimViolation(
          "accepted-proposal-lost",
          `${n.id} is still leader of term ${p.term} but its proposal ${p.ident} at ${p.index} is not committed`,
        );
      }
    }
  };

  /** One line per node for a violation report: what each one thought when it broke. */
  const describeNodes = (): string[] =>
    nodes.map((n) => {
      const st = n.storage;
      const disk = `disk: term ${st.hardState.term} vote "${st.hardState.vote}" commit ${st.hardState.commit} log ${st.snapIndex + 1}..${st.lastIndex()}`;
      if (!n.core) return `${n.id} ${n.stopped ? "stopped" : "down"} · ${disk}`;
      try {
        const s = n.core.status();
        return (
          `${n.id} ${s.role} term ${s.term} vote "${s.vote}" leader "${s.leader}" commit ${s.commit} ` +
          `applied ${s.applied} log ${s.firstIndex}..${s.lastIndex} voters [${s.conf.voters}] ` +
          `learners [${s.conf.learners}]${s.leadTransferee ? ` transferring to ${s.leadTransferee}` : ""}` +
          `${s.pendingConfChange ? " conf pending" : ""} · ${disk}` +
          Object.entries(s.progress)
            .map(
              ([id, p]) =>
                `\n      ${id}: ${p.state} match ${p.match} next ${p.next} inflight ${p.inflight}${p.recentActive ? " active" : ""}${p.isLearner ? " learner" : ""}`,
            )
            .join("")
        );
      } catch (e) {
        return `${n.id} status() threw: ${String(e)}`;
      }
    });

  let violation: SimViolationReport | undefined;
  try {
    if (logLayout) {
      const first = addNode(voterIds[0]!, boot);
      // The bootstrap entry is committed before any step: the checker starts from it.
      for (const e of boot.entries) checker.onAppend(first, e, first.storage.prefix(e.index)!);
      checker.onHardState(first, undefined, boot.hardState);
      for (const id of voterIds.slice(1)) {
        addNode(id, undefined);
        joins.push({ id, voter: true });
      }
      for (const id of learnerIds) {
        addNode(id, undefined);
        joins.push({ id, voter: false });
      }
      stats.founders = joins.length;
    } else {
      for (const id of [...voterIds, ...learnerIds]) addNode(id, boot);
    }
    for (; step < options.steps; step++) randomStep();
    settleJoins();
    stats.foundersJoined = stats.founders - joins.length;
    liveness();
    checkAccepted();
  } catch (e) {
    violation = toReport(e, step, phase, trace, describeNodes());
  }
  stats.actions = trace.count;
  stats.commitIndex = checker.commitIndex;
  stats.elections = candidateOf.size;
  stats.contestedElections = contested.size;
  return {
    seed: options.seed,
    voters: options.voters,
    steps: options.steps,
    bootstrap: layout,
    ok: violation === undefined,
    ...(violation ? { violation } : {}),
    traceHash: trace.hash,
    stats,
  };
}

function toReport(
  e: unknown,
  step: number,
  phase: "run" | "liveness",
  trace: Trace,
  nodes: string[],
): SimViolationReport {
  let invariant: string;
  let detail: string;
  if (e instanceof SimViolation) {
    invariant = e.invariant;
    detail = e.detail;
  } else if (e instanceof RaftInvariantError) {
    invariant = "core-invariant";
    detail = e.message;
  } else if (e instanceof Error) {
    invariant = e instanceof RaftError ? "core-error" : "core-crash";
    detail = `${e.message}\n${e.stack ?? ""}`;
  } else {
    invariant = "core-crash";
    detail = String(e);
  }
  return { invariant, detail, step, phase, trace: trace.lines(), nodes };
}
