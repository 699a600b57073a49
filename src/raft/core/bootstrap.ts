import type { ConfState, PersistedState } from "../types.js";
import { validateConfState } from "./confchange.js";
import { RaftError } from "./errors.js";

/**
 * The stable state a brand-new cluster starts from: a snapshot at index 1, term 1 that
 * carries the initial membership (and the state machine's initial serialisation,
 * `data`, empty by default), with commit 1. Every founding member starts from the same
 * value.
 *
 * Why a snapshot at index 1 rather than at 0 or conf entries: a node that joins later
 * starts with an empty log, so a leader's first probe to it fails at index 1 and the
 * leader sends it this snapshot, which is how the joiner learns the membership it was
 * added to. No special case is needed for "the log before any leader".
 */
export function bootstrapState(
  conf: ConfState,
  data: Uint8Array = new Uint8Array(0),
): PersistedState {
  validateConfState(conf);
  if (conf.voters.length === 0) {
    throw new RaftError("InvalidConfChange", "a new cluster needs at least one voter");
  }
  return {
    hardState: { term: 1, vote: "", commit: 1 },
    snapshot: { index: 1, term: 1, conf },
    snapshotData: data,
    entries: [],
  };
}

/**
 * The stable state of a brand-new single-voter cluster as a log instead of a snapshot:
 * one committed `conf` entry at index 1, term 1, that adds `self` as a voter at `addr`
 * (commit 1, no snapshot). The state machine starts empty.
 *
 * Why the runtime bootstraps this way: while the leader's log still starts at index 1, a
 * node that joins later receives the log from its first entry in ordinary appends, and
 * learns the membership from the conf entries in it, instead of being sent (and having
 * to install, with a file fsync and a directory fsync) a snapshot of nothing. Homes
 * bootstrapped with {@link bootstrapState} (a snapshot at index 1) keep working: a joiner
 * then receives that snapshot first, as before.
 */
export function bootstrapLogState(self: string, addr: string): PersistedState {
  const change = { type: "addVoter", nodeId: self, addr } as const;
  validateConfState({ voters: [self], learners: [], addrs: { [self]: addr } });
  return {
    hardState: { term: 1, vote: "", commit: 1 },
    entries: [{ index: 1, term: 1, type: "conf", data: new Uint8Array(0), change }],
  };
}
