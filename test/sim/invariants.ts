import type { ConfChange, Entry, HardState, ReadState, Snapshot } from "../../src/raft/types.js";
import { entryIdent, mixHash } from "./entry-ident.js";
import { decodeFsmState } from "./sim-fsm.js";
import type { SimStorage } from "./sim-storage.js";
import { SimViolation } from "./violation.js";

/** The per-node facts the checker needs; the simulator owns and updates the node. */
export interface CheckedNode {
  readonly id: string;
  readonly storage: SimStorage;
  /** Incremented on every restart, so reads and commits are tracked per incarnation. */
  readonly incarnation: number;
}

/** A ReadIndex request the checker is waiting on. */
interface PendingRead {
  readonly node: string;
  readonly incarnation: number;
  /** Highest index applied anywhere when the read began: every acknowledged write. */
  readonly required: number;
  readonly step: number;
}

/**
 * Incremental safety checker. Every hook runs in O(new work), so the simulator can call
 * them on every step. Global knowledge it accumulates:
 *
 * - the committed log (term, identity, prefix hash and FSM state hash per index), built
 *   from each node's persisted commit and applied entries and never allowed to change;
 * - the prefix hash of every (index, term) any node ever persisted (log matching);
 * - who led each term (election safety);
 * - the committed membership (so the end-of-run phase knows who is still a member).
 *
 * Each broken invariant throws a {@link SimViolation} named as in the issue.
 */
export interface Checker {
  /** Highest index known committed (base of the bootstrap if nothing more). */
  readonly commitIndex: number;
  /** Highest index any node has applied: every write acknowledged so far is at or below. */
  readonly maxApplied: number;
  /** Prefix hash of the committed log through `index`, if committed. */
  committedPrefix(index: number): number | undefined;
  /** Term of the committed entry at `index`, if committed. */
  committedTerm(index: number): number | undefined;
  /** Identity of the committed entry at `index`, if committed and known. */
  committedIdent(index: number): number | undefined;
  /** Voters and learners of the committed membership. */
  committedMembers(): { voters: Set<string>; learners: Set<string> };
  /** True once a committed change removed `id` (ids are never re-added). */
  isRemoved(id: string): boolean;
  /** A node persisted entry `e` whose log prefix now hashes to `prefix`. */
  onAppend(node: CheckedNode, e: Entry, prefix: number): void;
  /** A node persisted hard state `hs`; `crashed` says it restarted since its last one. */
  onHardState(node: CheckedNode, prev: HardState | undefined, hs: HardState): void;
  /** A node announced itself leader of `term` (soft state), after persisting that Ready. */
  onLeader(node: CheckedNode, term: number): void;
  /**
   * A node that led `term` since its previous hard state moved its commit to `commit`.
   * Raft §5.4.2: a leader commits by counting replicas only for entries of its own term.
   */
  onLeaderCommit(node: CheckedNode, term: number, commit: number): void;
  /**
   * `voter` granted its vote to `candidate` in `term`. Raft §5.2: a server votes for at
   * most one candidate per term, across restarts (which is why the vote is persisted).
   */
  onVoteGranted(voter: string, candidate: string, term: number): void;
  /** A node sent a message that only a leader of `term` sends. */
  onLeaderMessage(from: string, term: number): void;
  /** A node persisted or installed a snapshot. */
  onSnapshot(node: CheckedNode, snap: Snapshot): void;
  /** A node at `term` applied `e`, its FSM hash now being `fsmHash`. */
  onApply(node: CheckedNode, e: Entry, fsmHash: number, term: number): void;
  /** A read began on `node`; `ctx` is its unique id. */
  onReadStart(node: CheckedNode, ctx: number, step: number): void;
  /** A ReadState came out of `node`. */
  onReadState(node: CheckedNode, rs: ReadState): void;
  /** Current leaders (by last soft state) to hold to leader completeness as commit grows. */
  setLiveLeaders(get: () => Iterable<{ node: CheckedNode; term: number }>): void;
}

/** Options for {@link createChecker}. */
export interface CheckerOptions {
  /**
   * Also check the rules that make safety hold (one vote per term, the commit rule),
   * not only the outcomes. Default true.
   */
  readonly mechanismChecks?: boolean;
  /** Index the bootstrap state starts committed at (its snapshot index, or 0). */
  readonly baseIndex: number;
  /** Term at the base index. */
  readonly baseTerm: number;
  /** The bootstrap membership. */
  readonly voters: readonly string[];
  readonly learners: readonly string[];
}

/** Terms above this would break the numeric (index, term) key; the sim never gets close. */
const TERM_KEY = 1048576;

/** Creates a checker for one schedule. */
export function createChecker(options: CheckerOptions): Checker {
  const base = options.baseIndex;
  // Committed log, position k holds index base + k. Position 0 is the bootstrap base.
  const cTerm: number[] = [options.baseTerm];
  const cIdent: number[] = [0];
  const cPrefix: number[] = [0];
  const cFsm: number[] = [0];
  const voters = new Set(options.voters);
  const learners = new Set(options.learners);
  const prefixByKey = new Map<number, number>();
  const leaderOfTerm = new Map<number, string>();
  const votes = new Map<string, string>();
  const mechanism = options.mechanismChecks !== false;
  const reads = new Map<number, PendingRead>();
  let maxApplied = base;
  let liveLeaders: () => Iterable<{ node: CheckedNode; term: number }> = () => [];

  const commitIndex = () => base + cTerm.length - 1;

  const removed = new Set<string>();

  const applyConf = (c: ConfChange) => {
    voters.delete(c.nodeId);
    learners.delete(c.nodeId);
    if (c.type === "removeNode") removed.add(c.nodeId);
    if (c.type === "addVoter") voters.add(c.nodeId);
    else if (c.type === "addLearner") learners.add(c.nodeId);
  };

  /** Appends committed entry `e` with prefix hash `prefix` at commitIndex() + 1. */
  const extend = (e: Entry, ident: number, prefix: number) => {
    cTerm.push(e.term);
    cIdent.push(ident);
    cPrefix.push(prefix);
    cFsm.push(mixHash(cFsm[cFsm.length - 1]!, e.index, e.term, ident));
    if (e.type === "conf" && e.change) applyConf(e.change);
  };

  // What is known about *when* entries were committed: a node at term τ that knows
  // index c is committed proves that c was committed in some term <= τ. Leader
  // Completeness (Raft §5.4) only binds leaders of later terms, so for a leader of term T
  // the checker may demand the committed log through max{c : observed at τ < T}.
  // commitSeenAt[τ] is the highest commit observed at term τ.
  const commitSeenAt: number[] = [];

  /** Highest index known committed in a term before `term`. */
  const committedBefore = (term: number): number => {
    let best = base;
    const n = Math.min(term, commitSeenAt.length);
    for (let t = 0; t < n; t++) {
      const c = commitSeenAt[t];
      if (c !== undefined && c > best) best = c;
    }
    return best;
  };

  /** Checks that `node` (leader of `term`) holds the committed log through `through`. */
  const holdsCommitted = (node: CheckedNode, term: number, through: number, when: string) => {
    const st = node.storage;
    if (through <= st.snapIndex) return;
    if (st.lastIndex() < through || st.prefix(through) !== cPrefix[through - base]) {
      throw new SimViolation(
        "leader-completeness",
        `${node.id}, leader of term ${term}, lacks the log through ${through} committed before term ${term} (${when}; its last index ${st.lastIndex()})`,
      );
    }
  };

  /** Records that index `c` was known committed at term `term`, and checks leaders. */
  const observeCommit = (c: number, term: number) => {
    const prev = commitSeenAt[term];
    if (prev !== undefined && prev >= c) return;
    commitSeenAt[term] = c;
    for (const l of liveLeaders()) {
      if (l.term > term) holdsCommitted(l.node, l.term, c, "commit learned later");
    }
  };

  const checkLeader = (id: string, term: number, how: string) => {
    const prev = leaderOfTerm.get(term);
    if (prev === undefined) leaderOfTerm.set(term, id);
    else if (prev !== id) {
      throw new SimViolation(
        "election-safety",
        `two leaders in term ${term}: ${prev} and ${id} (${how})`,
      );
    }
  };

  const checker: Checker = {
    get commitIndex() {
      return commitIndex();
    },
    get maxApplied() {
      return maxApplied;
    },
    committedPrefix(index) {
      return index < base ? undefined : cPrefix[index - base];
    },
    committedTerm(index) {
      return index < base ? undefined : cTerm[index - base];
    },
    committedIdent(index) {
      return index <= base ? undefined : cIdent[index - base];
    },
    committedMembers() {
      return { voters: new Set(voters), learners: new Set(learners) };
    },
    isRemoved(id) {
      return removed.has(id);
    },

    onAppend(node, e, prefix) {
      if (e.term >= TERM_KEY) throw new SimViolation("sim-limit", `term ${e.term} too large`);
      // Log matching (Raft §5.3): same index and term means the same prefix.
      const key = e.index * TERM_KEY + e.term;
      const seen = prefixByKey.get(key);
      if (seen === undefined) prefixByKey.set(key, prefix);
      else if (seen !== prefix) {
        throw new SimViolation(
          "log-matching",
          `${node.id} has entry ${e.index} of term ${e.term} with a log prefix that differs from another node's`,
        );
      }
      // The committed prefix never changes: a node may not rewrite below its own commit.
      if (e.index <= node.storage.hardState.commit) {
        const cp = checker.committedPrefix(e.index);
        if (cp !== undefined && cp !== prefix) {
          throw new SimViolation(
            "committed-prefix-changed",
            `${node.id} overwrote entry ${e.index} at or below its commit ${node.storage.hardState.commit}`,
          );
        }
      }
    },

    onHardState(node, prev, hs) {
      if (prev !== undefined && hs.commit < prev.commit) {
        throw new SimViolation(
          "commit-monotonic",
          `${node.id} commit moved back from ${prev.commit} to ${hs.commit} without a crash`,
        );
      }
      if (prev !== undefined && hs.term < prev.term) {
        throw new SimViolation(
          "term-monotonic",
          `${node.id} term moved back from ${prev.term} to ${hs.term}`,
        );
      }
      const c = hs.commit;
      const st = node.storage;
      if (c <= st.snapIndex) return;
      const p = st.prefix(c);
      if (p === undefined) {
        throw new SimViolation(
          "commit-beyond-log",
          `${node.id} commit ${c} is beyond its persisted log (last ${st.lastIndex()})`,
        );
      }
      const known = commitIndex();
      if (c <= known) {
        if (cPrefix[c - base] !== p) {
          throw new SimViolation(
            "committed-prefix-changed",
            `${node.id} committed a log through ${c} that differs from the committed log`,
          );
        }
        observeCommit(c, hs.term);
        return;
      }
      // Extend: the node's log must agree with what is known, then adds new entries.
      if (known > st.snapIndex && st.prefix(known) !== cPrefix[known - base]) {
        throw new SimViolation(
          "committed-prefix-changed",
          `${node.id} committed through ${c} but its log differs at committed index ${known}`,
        );
      }
      if (known < st.snapIndex) {
        throw new SimViolation(
          "snapshot-uncommitted",
          `${node.id} holds a snapshot at ${st.snapIndex} beyond commit ${known}`,
        );
      }
      for (let i = known + 1; i <= c; i++) {
        extend(st.entry(i)!, st.ident(i)!, st.prefix(i)!);
      }
      observeCommit(c, hs.term);
    },

    onLeader(node, term) {
      checkLeader(node.id, term, "soft state");
      // Leader completeness (Raft §5.4): a new leader holds every entry committed in an
      // earlier term.
      holdsCommitted(node, term, committedBefore(term), "on election");
    },

    onVoteGranted(voter, candidate, term) {
      if (!mechanism) return;
      const key = `${voter}/${term}`;
      const prev = votes.get(key);
      if (prev === undefined) votes.set(key, candidate);
      else if (prev !== candidate) {
        throw new SimViolation(
          "vote-once-per-term",
          `${voter} granted its term-${term} vote to ${prev} and then to ${candidate}`,
        );
      }
    },

    onLeaderCommit(node, term, commit) {
      if (!mechanism) return;
      const t = node.storage.term(commit);
      if (t !== term) {
        throw new SimViolation(
          "commit-rule",
          `${node.id}, leader of term ${term}, advanced its commit to ${commit}, an entry of term ${t}`,
        );
      }
    },

    onLeaderMessage(from, term) {
      checkLeader(from, term, "sent a leader-only message");
    },

    onSnapshot(node, snap) {
      const i = snap.meta.index;
      const t = checker.committedTerm(i);
      if (t === undefined) {
        throw new SimViolation(
          "snapshot-uncommitted",
          `${node.id} got a snapshot at ${i} beyond the known commit ${commitIndex()}`,
        );
      }
      if (t !== snap.meta.term) {
        throw new SimViolation(
          "state-machine-safety",
          `${node.id} got a snapshot at ${i} of term ${snap.meta.term}; committed term there is ${t}`,
        );
      }
      if (snap.data.length > 0) {
        const s = decodeFsmState(snap.data);
        if (s.hash !== cFsm[i - base]) {
          throw new SimViolation(
            "state-machine-safety",
            `${node.id} got a snapshot at ${i} whose state differs from the committed state there`,
          );
        }
      }
    },

    onApply(node, e, fsmHash, term) {
      const i = e.index;
      const known = commitIndex();
      const ident = entryIdent(e);
      if (i === known + 1) {
        // Applied before any persisted commit reached us (commit and apply in one Ready).
        extend(e, ident, mixHash(cPrefix[known - base]!, i, e.term, ident));
      } else if (i > known + 1 || i <= base) {
        throw new SimViolation(
          "state-machine-safety",
          `${node.id} applied ${i} outside the committed log (commit ${known}, base ${base})`,
        );
      }
      if (cTerm[i - base] !== e.term || cIdent[i - base] !== ident || cFsm[i - base] !== fsmHash) {
        throw new SimViolation(
          "state-machine-safety",
          `${node.id} applied a different entry at ${i} (term ${e.term}) than another node (term ${cTerm[i - base]})`,
        );
      }
      if (i > maxApplied) maxApplied = i;
      observeCommit(i, term);
    },

    onReadStart(node, ctx, step) {
      reads.set(ctx, { node: node.id, incarnation: node.incarnation, required: maxApplied, step });
    },

    onReadState(node, rs) {
      const c = rs.context;
      const ctx =
        c.length === 4 ? (c[0]! | (c[1]! << 8) | (c[2]! << 16) | (c[3]! << 24)) >>> 0 : -1;
      const r = reads.get(ctx);
      if (r === undefined || r.node !== node.id || r.incarnation !== node.incarnation) {
        throw new SimViolation(
          "read-unknown",
          `${node.id} answered a read (ctx ${ctx}) it was not asked in this incarnation`,
        );
      }
      reads.delete(ctx);
      // Linearizable read: the state at rs.index includes every write applied anywhere
      // before the read began (Raft thesis §6.4).
      if (rs.index < r.required) {
        throw new SimViolation(
          "read-linearizable",
          `${node.id} answered read ${ctx} (began at step ${r.step}) at index ${rs.index}, but index ${r.required} was already applied`,
        );
      }
    },

    setLiveLeaders(get) {
      liveLeaders = get;
    },
  };
  return checker;
}
