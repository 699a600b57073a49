import type { Entry, HardState, PersistedState, Snapshot } from "../../src/raft/types.js";
import { EMPTY_HARD_STATE } from "../../src/raft/types.js";
import { entryIdent, mixHash } from "./entry-ident.js";
import { SimViolation } from "./violation.js";

/** Options for {@link createSimStorage}. */
export interface SimStorageOptions {
  /** What the node starts with (a bootstrap state, or empty for a joining node). */
  readonly initial?: PersistedState;
  /** The injected `forget-vote` bug: the vote is never written, so a crash forgets it. */
  readonly forgetVote?: boolean;
  /** The prefix hash of the committed log at `index`, for a snapshot's base. */
  readonly committedPrefix: (index: number) => number | undefined;
}

/**
 * One node's stable storage in the simulator: what survives a crash. It holds the hard
 * state, the latest snapshot and the log after it, plus a running prefix hash per entry
 * that the invariant checker uses to compare whole log prefixes in O(1).
 */
export interface SimStorage {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | undefined;
  /** Index of the last entry covered by the snapshot (0 when none). */
  readonly snapIndex: number;
  /** Term of the snapshot's last entry (0 when none). */
  readonly snapTerm: number;
  lastIndex(): number;
  /** Term at `index`, or undefined when it is neither in the log nor the snapshot point. */
  term(index: number): number | undefined;
  /** The entry at `index` if it is in the log (not compacted). */
  entry(index: number): Entry | undefined;
  /** Identity of the entry at `index` (see entry-ident.ts), if in the log. */
  ident(index: number): number | undefined;
  /** Prefix hash through `index` (log or snapshot point), if known. */
  prefix(index: number): number | undefined;
  /**
   * Writes entries, overwriting a conflicting suffix exactly as a real log store does:
   * everything from the first new index on is replaced. Calls `onWrite` per entry.
   */
  append(entries: readonly Entry[], onWrite: (e: Entry, prefix: number) => void): void;
  /** Writes the hard state (minus the vote under `forget-vote`). */
  setHardState(hs: HardState): void;
  /** Replaces the log with a snapshot (a snapshot installed from a leader). */
  applySnapshot(snap: Snapshot): void;
  /** Records a local snapshot and drops the log prefix it covers. */
  compact(snap: Snapshot): void;
  /** What a restarting core is given. */
  load(): PersistedState;
}

/** Creates simulated stable storage. Everything in it survives {@link SimStorage.load}. */
export function createSimStorage(options: SimStorageOptions): SimStorage {
  const forgetVote = options.forgetVote === true;
  let hardState: HardState = EMPTY_HARD_STATE;
  let snapshot: Snapshot | undefined;
  let snapIndex = 0;
  let snapTerm = 0;
  let snapPrefix = 0;
  let entries: Entry[] = [];
  let idents: number[] = [];
  let prefixes: number[] = [];

  const lastIndex = () => snapIndex + entries.length;

  const storage: SimStorage = {
    get hardState() {
      return hardState;
    },
    get snapshot() {
      return snapshot;
    },
    get snapIndex() {
      return snapIndex;
    },
    get snapTerm() {
      return snapTerm;
    },
    lastIndex,
    term(index) {
      if (index === snapIndex) return snapTerm;
      if (index < snapIndex || index > lastIndex()) return undefined;
      return entries[index - snapIndex - 1]!.term;
    },
    entry(index) {
      if (index <= snapIndex) return undefined;
      return entries[index - snapIndex - 1];
    },
    ident(index) {
      if (index <= snapIndex) return undefined;
      return idents[index - snapIndex - 1];
    },
    prefix(index) {
      if (index === snapIndex) return snapPrefix;
      if (index < snapIndex || index > lastIndex()) return undefined;
      return prefixes[index - snapIndex - 1];
    },
    append(batch, onWrite) {
      if (batch.length === 0) return;
      const first = batch[0]!.index;
      if (first <= snapIndex) {
        throw new SimViolation(
          "storage-contract",
          `entries from ${first} overlap the snapshot at ${snapIndex}`,
        );
      }
      if (first > lastIndex() + 1) {
        throw new SimViolation(
          "storage-contract",
          `entries from ${first} leave a gap after last index ${lastIndex()}`,
        );
      }
      const keep = first - snapIndex - 1;
      entries.length = keep;
      idents.length = keep;
      prefixes.length = keep;
      let prev = keep === 0 ? snapPrefix : prefixes[keep - 1]!;
      let expect = first;
      for (const e of batch) {
        if (e.index !== expect) {
          throw new SimViolation("storage-contract", `entries not contiguous at ${e.index}`);
        }
        expect++;
        const id = entryIdent(e);
        prev = mixHash(prev, e.index, e.term, id);
        entries.push(e);
        idents.push(id);
        prefixes.push(prev);
        onWrite(e, prev);
      }
    },
    setHardState(hs) {
      hardState = forgetVote ? { term: hs.term, vote: "", commit: hs.commit } : hs;
    },
    applySnapshot(snap) {
      const p = options.committedPrefix(snap.meta.index);
      if (p === undefined) {
        throw new SimViolation(
          "snapshot-uncommitted",
          `snapshot at ${snap.meta.index} (term ${snap.meta.term}) is beyond every known commit`,
        );
      }
      snapshot = snap;
      snapIndex = snap.meta.index;
      snapTerm = snap.meta.term;
      snapPrefix = p;
      entries = [];
      idents = [];
      prefixes = [];
    },
    compact(snap) {
      const index = snap.meta.index;
      if (index <= snapIndex) return;
      const p = storage.prefix(index);
      if (p === undefined) {
        throw new SimViolation("storage-contract", `compact at ${index} beyond log ${lastIndex()}`);
      }
      const drop = index - snapIndex;
      entries = entries.slice(drop);
      idents = idents.slice(drop);
      prefixes = prefixes.slice(drop);
      snapshot = snap;
      snapIndex = index;
      snapTerm = snap.meta.term;
      snapPrefix = p;
    },
    load() {
      return {
        hardState,
        ...(snapshot ? { snapshot: snapshot.meta, snapshotData: snapshot.data } : {}),
        entries: entries.slice(),
      };
    },
  };

  const init = options.initial;
  if (init) {
    if (init.snapshot) {
      const p = options.committedPrefix(init.snapshot.index) ?? 0;
      snapshot = { meta: init.snapshot, data: init.snapshotData ?? new Uint8Array(0) };
      snapIndex = init.snapshot.index;
      snapTerm = init.snapshot.term;
      snapPrefix = p;
    }
    storage.append(init.entries, () => {});
    hardState = init.hardState;
  }
  return storage;
}
