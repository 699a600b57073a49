/**
 * An in-memory network of Raft cores for the scenario tests (not used in production).
 * Each node has a synchronous "stable storage" that takes a Ready exactly as the
 * contract asks (snapshot, entries, hard state, then messages, then apply), so a crash
 * can be modelled by rebuilding a core from its storage.
 */
import type {
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  PersistedState,
  ReadState,
  Role,
  Snapshot,
  SnapshotMeta,
} from "../types.js";
import { EMPTY_HARD_STATE } from "../types.js";
import type { RaftOptions, RawNode } from "./api.js";
import { bootstrapState, createRaft } from "./raft.js";

/** A small seeded PRNG (mulberry32), so every test run is the same. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What one node has made durable. */
export interface TestStorage {
  hardState: HardState;
  snapshot?: SnapshotMeta;
  snapshotData?: Uint8Array;
  entries: Entry[];
}

/** One node of the test network. */
export interface TestNode {
  readonly id: NodeId;
  raft: RawNode;
  storage: TestStorage;
  /** Entries applied to the state machine, by index (normal entries' data as text). */
  applied: Map<number, Entry>;
  /** Snapshots installed (index). */
  installed: number[];
  readStates: ReadState[];
}

export interface NetworkOptions {
  electionTick?: number;
  heartbeatTick?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
  maxSizePerMsg?: number;
  maxInflightMsgs?: number;
  seed?: number;
}

/** A message with every field a test leaves out set to its empty value. */
export { message } from "../types.js";

export function entriesWithTerms(terms: readonly number[], start = 1): Entry[] {
  return terms.map((term, i) => ({
    index: start + i,
    term,
    type: "normal" as const,
    data: new TextEncoder().encode(`e${start + i}t${term}`),
  }));
}

/** A conf with the given voters and learners, addresses "addr-<id>". */
export function confOf(voters: readonly NodeId[], learners: readonly NodeId[] = []): ConfState {
  const addrs: Record<NodeId, string> = {};
  for (const id of [...voters, ...learners]) addrs[id] = `addr-${id}`;
  return { voters: [...voters].sort(), learners: [...learners].sort(), addrs };
}

/** Storage as a founding member would have it, optionally with a log after the bootstrap snapshot. */
export function storageWith(
  conf: ConfState,
  terms: readonly number[] = [],
  term?: number,
): TestStorage {
  const b = bootstrapState(conf);
  const entries = entriesWithTerms(terms, 2);
  const lastTerm = terms.length > 0 ? terms[terms.length - 1]! : 1;
  return {
    hardState: { term: term ?? Math.max(lastTerm, 1), vote: "", commit: 1 },
    snapshot: b.snapshot!,
    snapshotData: b.snapshotData!,
    entries,
  };
}

/**
 * The network: a queue of messages in flight, a drop filter for partitions, and
 * helpers to tick, deliver and crash.
 */
export class TestNetwork {
  readonly nodes = new Map<NodeId, TestNode>();
  /** Messages sent but not yet delivered, in send order. */
  queue: Message[] = [];
  /** Every message ever handed to the network (for assertions). */
  sent: Message[] = [];
  private readonly cut = new Set<string>();
  /** Extra filter: return false to drop a message. */
  filter: (m: Message) => boolean = () => true;
  private readonly opts: Required<NetworkOptions>;
  private readonly rng: () => number;

  constructor(storages: Record<NodeId, TestStorage>, options: NetworkOptions = {}) {
    this.opts = {
      electionTick: options.electionTick ?? 10,
      heartbeatTick: options.heartbeatTick ?? 1,
      preVote: options.preVote ?? true,
      checkQuorum: options.checkQuorum ?? true,
      maxSizePerMsg: options.maxSizePerMsg ?? 1024 * 1024,
      maxInflightMsgs: options.maxInflightMsgs ?? 256,
      seed: options.seed ?? 1,
    };
    this.rng = seededRandom(this.opts.seed);
    for (const [id, storage] of Object.entries(storages)) {
      this.nodes.set(id, {
        id,
        raft: this.makeRaft(id, storage),
        storage,
        applied: new Map(),
        installed: [],
        readStates: [],
      });
    }
  }

  /** A network whose members all start from the same bootstrap state. */
  static bootstrap(
    voters: readonly NodeId[],
    learners: readonly NodeId[] = [],
    options: NetworkOptions = {},
  ): TestNetwork {
    const conf = confOf(voters, learners);
    const s: Record<NodeId, TestStorage> = {};
    for (const id of [...voters, ...learners]) s[id] = storageWith(conf);
    return new TestNetwork(s, options);
  }

  private makeRaft(id: NodeId, s: TestStorage, extra: Partial<RaftOptions> = {}): RawNode {
    const persisted: PersistedState = {
      hardState: s.hardState,
      snapshot: s.snapshot,
      snapshotData: s.snapshotData,
      entries: [...s.entries],
    };
    return createRaft({
      id,
      electionTick: this.opts.electionTick,
      heartbeatTick: this.opts.heartbeatTick,
      random: seededRandom(
        this.opts.seed * 7919 + [...id].reduce((a, c) => a + c.charCodeAt(0), 0),
      ),
      persisted,
      preVote: this.opts.preVote,
      checkQuorum: this.opts.checkQuorum,
      maxSizePerMsg: this.opts.maxSizePerMsg,
      maxInflightMsgs: this.opts.maxInflightMsgs,
      ...extra,
    });
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  raft(id: NodeId): RawNode {
    return this.node(id).raft;
  }

  /** Adds a brand-new joining node with empty storage. */
  addEmptyNode(id: NodeId): TestNode {
    const storage: TestStorage = { hardState: EMPTY_HARD_STATE, entries: [] };
    const n: TestNode = {
      id,
      raft: this.makeRaft(id, storage),
      storage,
      applied: new Map(),
      installed: [],
      readStates: [],
    };
    this.nodes.set(id, n);
    return n;
  }

  /** Handles every pending Ready of `id` per the contract. */
  process(id: NodeId): void {
    const n = this.node(id);
    while (n.raft.hasReady()) {
      const rd = n.raft.ready();
      const st = n.storage;
      if (rd.snapshot) {
        st.snapshot = rd.snapshot.meta;
        st.snapshotData = rd.snapshot.data;
        st.entries = [];
        n.installed.push(rd.snapshot.meta.index);
      }
      if (rd.entries.length > 0) {
        const first = rd.entries[0]!.index;
        st.entries = st.entries.filter((e) => e.index < first);
        st.entries.push(...rd.entries);
      }
      if (rd.hardState) st.hardState = rd.hardState;
      for (const m of rd.messages) {
        this.sent.push(m);
        this.queue.push(m);
      }
      for (const e of rd.committedEntries) n.applied.set(e.index, e);
      n.readStates.push(...rd.readStates);
      n.raft.advance();
    }
  }

  processAll(): void {
    for (const id of this.nodes.keys()) this.process(id);
  }

  /** Cuts the link from `a` to `b` (one direction). */
  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}->${b}`);
  }

  /** Cuts both directions between `id` and everybody else. */
  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cutLink(id, other);
      this.cutLink(other, id);
    }
  }

  heal(): void {
    this.cut.clear();
    this.filter = () => true;
  }

  private passes(m: Message): boolean {
    return !this.cut.has(`${m.from}->${m.to}`) && this.filter(m);
  }

  /** Delivers one queued message (the first), returning it, or undefined if none. */
  deliverOne(): Message | undefined {
    const m = this.queue.shift();
    if (!m) return undefined;
    const to = this.nodes.get(m.to);
    if (to && this.passes(m)) {
      to.raft.step(m);
      this.process(m.to);
    }
    return m;
  }

  /** Delivers messages until none are in flight (bounded). */
  deliverAll(limit = 100_000): void {
    this.processAll();
    for (let i = 0; i < limit; i++) {
      if (this.deliverOne() === undefined) return;
    }
    throw new Error("deliverAll: messages never stopped");
  }

  /** Drops every queued message. */
  dropQueued(): Message[] {
    const q = this.queue;
    this.queue = [];
    return q;
  }

  /** Ticks `ids` (default all) `n` times, delivering after each round. */
  tick(n = 1, ids: readonly NodeId[] = [...this.nodes.keys()]): void {
    for (let i = 0; i < n; i++) {
      for (const id of ids) {
        this.node(id).raft.tick();
        this.process(id);
      }
      this.deliverAll();
    }
  }

  /** Makes `id` campaign and runs the election to completion. */
  elect(id: NodeId): void {
    this.raft(id).campaign();
    this.deliverAll();
  }

  /** The nodes that believe they lead, with their terms. */
  leaders(): { id: NodeId; term: number }[] {
    const out: { id: NodeId; term: number }[] = [];
    for (const n of this.nodes.values()) {
      const s = n.raft.status();
      if (s.role === "leader") out.push({ id: n.id, term: s.term });
    }
    return out;
  }

  role(id: NodeId): Role {
    return this.raft(id).status().role;
  }

  /** Proposes `text` at `id` and returns where it went. */
  propose(id: NodeId, text: string): { index: number; term: number } {
    const r = this.raft(id).propose(new TextEncoder().encode(text));
    this.process(id);
    return r;
  }

  /** Crashes `id` (in-flight messages to and from it are lost) and restarts it from storage. */
  restart(id: NodeId, extra: Partial<RaftOptions> = {}): void {
    const n = this.node(id);
    this.queue = this.queue.filter((m) => m.to !== id && m.from !== id);
    n.raft = this.makeRaft(id, n.storage, extra);
    n.applied = new Map();
  }

  /** The terms of a node's log entries after its snapshot. */
  logTerms(id: NodeId): number[] {
    const s = this.raft(id).status();
    const terms: number[] = [];
    const st = this.node(id).storage;
    for (const e of st.entries) if (e.index >= s.firstIndex) terms.push(e.term);
    return terms;
  }

  /** Applied normal entries' payloads, in index order. */
  appliedData(id: NodeId): string[] {
    const n = this.node(id);
    return [...n.applied.values()]
      .filter((e) => e.type === "normal")
      .sort((a, b) => a.index - b.index)
      .map((e) => new TextDecoder().decode(e.data));
  }

  /** Uses the network's PRNG (for randomized tests). */
  random(): number {
    return this.rng();
  }
}

export type { Snapshot };
