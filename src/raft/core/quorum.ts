import type { NodeId } from "../types.js";

/**
 * Quorum arithmetic over a single (non-joint) voter set. Knows nothing of the rest of
 * the core so that it can be checked against a brute-force reference.
 */

/** The size of a majority of `n` voters. */
export function majority(n: number): number {
  return Math.floor(n / 2) + 1;
}

const scratch: number[] = [];

/**
 * The largest index that a majority of `voters` has matched, given each voter's match.
 * Returns 0 for an empty voter set (nothing can commit without voters).
 */
export function committedIndex(voters: readonly NodeId[], match: (id: NodeId) => number): number {
  const n = voters.length;
  if (n === 0) return 0;
  // `scratch` only grows; entries past n are stale and never read.
  for (let i = 0; i < n; i++) scratch[i] = match(voters[i]!);
  // Insertion sort, descending: voter sets are tiny (3-7), so this beats Array.sort.
  for (let i = 1; i < n; i++) {
    const v = scratch[i]!;
    let j = i - 1;
    while (j >= 0 && scratch[j]! < v) {
      scratch[j + 1] = scratch[j]!;
      j--;
    }
    scratch[j + 1] = v;
  }
  return scratch[majority(n) - 1]!;
}

/** The outcome of an election so far. */
export type VoteResult = "won" | "lost" | "pending";

/**
 * Tallies votes from `voters` only (answers from nonmembers or learners are ignored):
 * won with a majority of grants, lost once a majority can no longer be reached.
 */
export function voteResult(
  voters: readonly NodeId[],
  votes: ReadonlyMap<NodeId, boolean>,
): VoteResult {
  const q = majority(voters.length);
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === undefined) missing++;
    else if (v) granted++;
  }
  if (voters.length === 0) return "lost";
  if (granted >= q) return "won";
  if (granted + missing >= q) return "pending";
  return "lost";
}

/** True when `acked` contains a majority of `voters`. */
export function hasQuorum(voters: readonly NodeId[], acked: (id: NodeId) => boolean): boolean {
  if (voters.length === 0) return false;
  let n = 0;
  for (const id of voters) if (acked(id)) n++;
  return n >= majority(voters.length);
}
