import type { Entry, Snapshot } from "../../src/raft/types.js";
import { entryIdent, mixHash } from "./entry-ident.js";
import { SimViolation } from "./violation.js";

/**
 * The simulated application state machine: a running hash over every applied entry
 * (index, term, identity) plus the count of applied writes. Two replicas that applied
 * the same log prefix have the same state, and a snapshot carries exactly that state.
 */
export interface SimFsm {
  /** Last applied index. */
  readonly applied: number;
  /** The state hash after `applied`. */
  readonly hash: number;
  /** Number of normal entries (writes) applied. */
  readonly writes: number;
  /** Applies the next committed entry; it must be `applied + 1`. */
  apply(e: Entry): void;
  /** Replaces the state with a snapshot's. */
  restore(snap: Snapshot): void;
  /** Serialises the state (the `data` of a snapshot taken at `applied`). */
  serialize(): Uint8Array;
}

/** Decodes what {@link SimFsm.serialize} wrote: index, hash, writes. */
export function decodeFsmState(data: Uint8Array): { index: number; hash: number; writes: number } {
  if (data.length === 0) return { index: 0, hash: 0, writes: 0 };
  if (data.length !== 16) {
    throw new SimViolation("snapshot-data", `snapshot data has ${data.length} bytes, want 16`);
  }
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return {
    index: v.getFloat64(0, true),
    hash: v.getUint32(8, true),
    writes: v.getUint32(12, true),
  };
}

/** Creates an empty state machine. */
export function createSimFsm(): SimFsm {
  let applied = 0;
  let hash = 0;
  let writes = 0;
  return {
    get applied() {
      return applied;
    },
    get hash() {
      return hash;
    },
    get writes() {
      return writes;
    },
    apply(e) {
      if (e.index !== applied + 1) {
        throw new SimViolation("apply-order", `applying ${e.index} after ${applied}`);
      }
      applied = e.index;
      hash = mixHash(hash, e.index, e.term, entryIdent(e));
      if (e.type === "normal") writes++;
    },
    restore(snap) {
      if (snap.data.length === 0) {
        // A bootstrap snapshot carries no application state: the empty state at its index.
        applied = snap.meta.index;
        hash = 0;
        writes = 0;
        return;
      }
      const s = decodeFsmState(snap.data);
      if (s.index !== snap.meta.index) {
        throw new SimViolation(
          "snapshot-data",
          `snapshot meta index ${snap.meta.index} carries FSM state at ${s.index}`,
        );
      }
      applied = s.index;
      hash = s.hash;
      writes = s.writes;
    },
    serialize() {
      const data = new Uint8Array(16);
      const v = new DataView(data.buffer);
      v.setFloat64(0, applied, true);
      v.setUint32(8, hash, true);
      v.setUint32(12, writes, true);
      return data;
    },
  };
}
