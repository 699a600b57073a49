import type { HardState, Message, Ready } from "../types.js";

/**
 * Splits a Ready's messages into those the caller may send *before* it persists the Ready
 * and those that must wait until the Ready is durable.
 *
 * A leader may replicate entries to its followers while it writes them to its own disk
 * (Raft thesis §10.2.1): the disk write then overlaps the followers' instead of preceding
 * it. A message may go early only when nothing it says depends on state that is not yet
 * durable:
 *
 * - it is an append or a heartbeat (only a leader sends those);
 * - the Ready does not change the term or the vote, and the message's term is the durable
 *   term. A leader elected in this very Ready (a single voter campaigns and wins in one
 *   step) has not persisted its term yet; if it crashed, it could lead that term again
 *   with a different log;
 * - its commit index is below the first entry this Ready appends. The core counts the
 *   leader's own match when it appends, so a single voter commits an entry in the same
 *   Ready that appends it; telling a nonvoter about that commit before the entry is
 *   durable could let the nonvoter apply an entry that a crash then erases.
 *
 * Everything else (votes, answers, anything of a Ready that installs a snapshot) waits.
 * The leader still counts itself toward a commit only after its write is durable: the
 * core sees the followers' answers in a later Ready, and the caller produces that Ready
 * only after it finished persisting this one.
 *
 * `durable` is the hard state that stable storage holds before this Ready.
 */
export function splitEarlyMessages(
  rd: Ready,
  durable: HardState,
): { early: Message[]; late: Message[] } {
  const none = { early: [], late: [...rd.messages] };
  if (rd.messages.length === 0 || rd.snapshot) return none;
  const hs = rd.hardState;
  if (hs && (hs.term !== durable.term || hs.vote !== durable.vote)) return none;
  const firstNew = rd.entries[0]?.index ?? Number.POSITIVE_INFINITY;
  const early: Message[] = [];
  const late: Message[] = [];
  for (const m of rd.messages) {
    const leaderMsg = m.type === "app" || m.type === "heartbeat";
    if (leaderMsg && m.term === durable.term && m.commit < firstNew) early.push(m);
    else late.push(m);
  }
  return { early, late };
}
