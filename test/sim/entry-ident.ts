import type { Entry } from "../../src/raft/types.js";

/**
 * Compact identities for log entries, so that the invariant checker compares numbers
 * instead of byte arrays on every step.
 *
 * Every payload the simulator proposes is unique: a normal entry starts with its
 * 32-bit proposal id (little endian), a conf entry's `addr` is `sim-<id>`. So an
 * entry's identity is exact, and equal identities mean equal entries.
 */

/** The identity of a no-op entry. */
export const NOOP_IDENT = 0;

/** Encodes proposal `id` (>= 1) into a payload of `size` (>= 4) bytes. */
export function encodePayload(id: number, size: number): Uint8Array {
  const data = new Uint8Array(size);
  data[0] = id & 0xff;
  data[1] = (id >>> 8) & 0xff;
  data[2] = (id >>> 16) & 0xff;
  data[3] = (id >>> 24) & 0xff;
  // The tail only gives entries a size; derive it from the id so it is deterministic.
  for (let i = 4; i < size; i++) data[i] = (id * 31 + i) & 0xff;
  return data;
}

/** The conf-change address that carries conf proposal `id`. */
export function confAddr(id: number): string {
  return `sim-${id}`;
}

/**
 * The identity of an entry: its proposal id for normal entries, minus its conf id for
 * conf entries, and 0 for no-ops. An entry the simulator did not make (unknown shape)
 * gets a hash of its bytes, offset so it cannot equal a real proposal id.
 */
export function entryIdent(e: Entry): number {
  if (e.type === "normal") {
    const d = e.data;
    if (d.length >= 4) return (d[0]! | (d[1]! << 8) | (d[2]! << 16) | (d[3]! << 24)) >>> 0 || -1;
    let h = 0x811c9dc5;
    for (let i = 0; i < d.length; i++) h = Math.imul(h ^ d[i]!, 0x01000193);
    return 2 ** 33 + (h >>> 0);
  }
  if (e.type === "conf") {
    const addr = e.change?.addr ?? "";
    const id = addr.startsWith("sim-") ? Number(addr.slice(4)) : Number.NaN;
    return Number.isInteger(id) ? -id : -(2 ** 33);
  }
  return NOOP_IDENT;
}

/**
 * Folds (index, term, ident) into a running 32-bit hash. Used for log prefixes and FSM
 * states: equal inputs give equal hashes, so a differing hash proves a difference. A
 * collision can only hide a bug, never invent one.
 */
export function mixHash(prev: number, index: number, term: number, ident: number): number {
  let h = prev ^ Math.imul(index | 0, 0x9e3779b1);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) ^ (term | 0);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) ^ (ident | 0) ^ Math.floor(ident / 4294967296);
  h = Math.imul(h ^ (h >>> 16), 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}
