import type { Entry } from "../types.js";
import { RaftInvariantError } from "./errors.js";

/** The size an entry counts for in the per-message byte limit. */
export function entrySize(e: Entry): number {
  // A fixed overhead stands in for index, term and type on the wire.
  let n = e.data.byteLength + 16;
  if (e.change) n += e.change.nodeId.length + e.change.addr.length;
  return n;
}

/**
 * The in-memory log: everything after the latest snapshot, plus the snapshot's last
 * (index, term) so that the entry before the first can still be matched. Entries at
 * or after `unstable` have not yet been handed out for persistence.
 *
 * The whole post-snapshot log lives here (the runtime compacts often), so `step` never
 * reads storage.
 */
export class RaftLog {
  private ents: Entry[];
  snapshotIndex: number;
  snapshotTerm: number;
  committed: number;
  /** First index not yet handed to the caller to persist. */
  unstable: number;

  constructor(
    snapshotIndex: number,
    snapshotTerm: number,
    entries: readonly Entry[],
    committed: number,
  ) {
    this.snapshotIndex = snapshotIndex;
    this.snapshotTerm = snapshotTerm;
    this.ents = [];
    let expect = snapshotIndex + 1;
    for (const e of entries) {
      if (e.index < expect) continue; // already covered by the snapshot
      if (e.index !== expect) {
        throw new RaftInvariantError(`persisted log has a gap: expected ${expect}, got ${e.index}`);
      }
      this.ents.push(e);
      expect++;
    }
    if (committed < snapshotIndex) committed = snapshotIndex;
    if (committed > this.lastIndex()) {
      throw new RaftInvariantError(
        `persisted commit ${committed} is past the last index ${this.lastIndex()}`,
      );
    }
    this.committed = committed;
    this.unstable = this.lastIndex() + 1;
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.ents.length;
  }

  lastTerm(): number {
    const n = this.ents.length;
    return n === 0 ? this.snapshotTerm : this.ents[n - 1]!.term;
  }

  /** The term at `i`, or undefined when `i` is compacted away or past the end. */
  term(i: number): number | undefined {
    if (i === this.snapshotIndex) return this.snapshotTerm;
    if (i < this.snapshotIndex) return undefined;
    return this.ents[i - this.snapshotIndex - 1]?.term;
  }

  /** The entry at `i` (first..last), or undefined. */
  entry(i: number): Entry | undefined {
    if (i <= this.snapshotIndex) return undefined;
    return this.ents[i - this.snapshotIndex - 1];
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** §5.4.1: a candidate's log (lastIndex, lastTerm) is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const t = this.lastTerm();
    return lastTerm > t || (lastTerm === t && lastIndex >= this.lastIndex());
  }

  /**
   * Entries [lo, hi) with at most `maxBytes` (but at least one entry). `lo` must be
   * >= firstIndex.
   */
  slice(lo: number, hi: number, maxBytes = Number.POSITIVE_INFINITY): Entry[] {
    if (lo >= hi) return [];
    if (lo <= this.snapshotIndex) {
      throw new RaftInvariantError(
        `slice(${lo}) reaches into the snapshot at ${this.snapshotIndex}`,
      );
    }
    const off = this.snapshotIndex + 1;
    const end = Math.min(hi, this.lastIndex() + 1);
    if (maxBytes === Number.POSITIVE_INFINITY) return this.ents.slice(lo - off, end - off);
    let bytes = 0;
    let i = lo;
    for (; i < end; i++) {
      bytes += entrySize(this.ents[i - off]!);
      if (bytes > maxBytes && i > lo) break;
    }
    return this.ents.slice(lo - off, i - off);
  }

  /** Entries not yet handed out for persistence. */
  unstableEntries(): Entry[] {
    if (this.unstable > this.lastIndex()) return [];
    return this.ents.slice(this.unstable - this.snapshotIndex - 1);
  }

  /**
   * Appends entries that follow on from some index in the log, truncating any suffix
   * from the first entry's index. Never truncates committed entries.
   */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    if (first <= this.committed) {
      throw new RaftInvariantError(
        `append at ${first} would overwrite committed ${this.committed}`,
      );
    }
    const last = this.lastIndex();
    if (first > last + 1) {
      throw new RaftInvariantError(`append at ${first} leaves a gap after ${last}`);
    }
    if (first <= last) {
      this.ents.length = first - this.snapshotIndex - 1;
      if (this.unstable > first) this.unstable = first;
    }
    for (const e of entries) this.ents.push(e);
  }

  /** The index of the first entry that is new or conflicts with ours; 0 if none. */
  findConflict(entries: readonly Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * §5.3 AppendEntries receiver: if our log has (prevIndex, prevTerm), merges `entries`
   * (dropping those we already have, truncating from the first conflict) and commits up
   * to min(leaderCommit, last new index). Returns the last index now known to match the
   * leader, or undefined when the consistency check fails.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    leaderCommit: number,
    entries: readonly Entry[],
  ): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + entries.length;
    const ci = this.findConflict(entries);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new RaftInvariantError(`entry ${ci} conflicts with committed ${this.committed}`);
      }
      this.append(entries.slice(ci - prevIndex - 1));
    }
    this.commitTo(Math.min(leaderCommit, lastNew));
    return lastNew;
  }

  /**
   * The largest index <= `index` whose term is <= `term`, with that term. An index whose
   * term is unknown (compacted) is returned with term 0: it may match.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    for (; index > 0; index--) {
      const t = this.term(index);
      if (t === undefined) return { index, term: 0 };
      if (t <= term) return { index, term: t };
    }
    return { index: 0, term: 0 };
  }

  /** Raises the commit index; never lowers it, never passes the log. */
  commitTo(i: number): void {
    if (i <= this.committed) return;
    if (i > this.lastIndex()) {
      throw new RaftInvariantError(`commit ${i} is past the last index ${this.lastIndex()}`);
    }
    this.committed = i;
  }

  /** Replaces the whole log with a snapshot's (index, term). */
  restore(index: number, term: number): void {
    this.ents = [];
    this.snapshotIndex = index;
    this.snapshotTerm = term;
    this.committed = index;
    this.unstable = index + 1;
  }

  /** Drops entries up to and including `index` (which must be in the log). */
  compact(index: number): void {
    if (index <= this.snapshotIndex) return;
    const t = this.term(index);
    if (t === undefined) throw new RaftInvariantError(`compact(${index}) past the last index`);
    this.ents.splice(0, index - this.snapshotIndex);
    this.snapshotIndex = index;
    this.snapshotTerm = t;
    if (this.unstable <= index) this.unstable = index + 1;
  }

  /** Marks everything handed out as on its way to stable storage. */
  markHanded(): void {
    this.unstable = this.lastIndex() + 1;
  }
}
