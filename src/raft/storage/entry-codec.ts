import type { ConfChange, Entry, EntryType } from "../types.js";

/**
 * Binary encoding of one log entry as stored in the lmdb log database. The index is the
 * lmdb key, so it is not repeated in the value.
 *
 * Layout (all integers big-endian):
 *
 *   u8  codec version (1)
 *   u8  entry type: 0 normal, 1 conf, 2 noop
 *   u32 term, high 21 bits   } the term split in two so it stays exact up to 2^53
 *   u32 term, low 32 bits    }
 *   conf only: u8 change type (0 addVoter, 1 addLearner, 2 removeNode),
 *              u16 nodeId length, nodeId UTF-8, u16 addr length, addr UTF-8
 *   the rest:  data
 *
 * A hand-written codec rather than protobuf: the record is tiny, hot (one per entry per
 * fsync turn) and must stay stable on disk independently of the wire protocol's evolution.
 */
export const ENTRY_CODEC_VERSION = 1;

const TYPE_CODE: Record<EntryType, number> = { normal: 0, conf: 1, noop: 2 };
const TYPE_NAME: readonly EntryType[] = ["normal", "conf", "noop"];
const CHANGE_CODE: Record<ConfChange["type"], number> = {
  addVoter: 0,
  addLearner: 1,
  removeNode: 2,
};
const CHANGE_NAME: readonly ConfChange["type"][] = ["addVoter", "addLearner", "removeNode"];
const HEADER = 10;
const TWO_32 = 0x1_0000_0000;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes an entry's value (everything but its index). Throws on a malformed entry. */
export function encodeEntry(e: Entry): Uint8Array {
  const type = TYPE_CODE[e.type];
  if (type === undefined) throw new TypeError(`entry ${e.index}: unknown type ${String(e.type)}`);
  if (!Number.isSafeInteger(e.term) || e.term < 0) {
    throw new TypeError(`entry ${e.index}: term ${e.term} is not a non-negative safe integer`);
  }
  let nodeId: Uint8Array | undefined;
  let addr: Uint8Array | undefined;
  let change = 0;
  if (e.type === "conf") {
    const c = e.change;
    if (!c || CHANGE_CODE[c.type] === undefined) {
      throw new TypeError(`entry ${e.index}: conf entry without a valid change`);
    }
    change = CHANGE_CODE[c.type];
    nodeId = encoder.encode(c.nodeId);
    addr = encoder.encode(c.addr);
    if (nodeId.length > 0xffff || addr.length > 0xffff) {
      throw new TypeError(`entry ${e.index}: conf change node id or address too long`);
    }
  }
  const confLen = nodeId && addr ? 5 + nodeId.length + addr.length : 0;
  const out = new Uint8Array(HEADER + confLen + e.data.length);
  const view = new DataView(out.buffer);
  out[0] = ENTRY_CODEC_VERSION;
  out[1] = type;
  view.setUint32(2, Math.floor(e.term / TWO_32));
  view.setUint32(6, e.term % TWO_32);
  let p = HEADER;
  if (nodeId && addr) {
    out[p++] = change;
    view.setUint16(p, nodeId.length);
    out.set(nodeId, p + 2);
    p += 2 + nodeId.length;
    view.setUint16(p, addr.length);
    out.set(addr, p + 2);
    p += 2 + addr.length;
  }
  out.set(e.data, p);
  return out;
}

/**
 * Decodes a stored value back into the entry at `index`. The data is copied, so the
 * result does not alias lmdb's memory. Throws a plain Error describing the damage; the
 * caller wraps it with the file name.
 */
export function decodeEntry(index: number, buf: Uint8Array): Entry {
  if (buf.length < HEADER)
    throw new Error(`entry ${index}: value of ${buf.length} bytes is too short`);
  if (buf[0] !== ENTRY_CODEC_VERSION) {
    throw new Error(`entry ${index}: unknown entry codec version ${buf[0]}`);
  }
  const type = TYPE_NAME[buf[1] ?? 255];
  if (!type) throw new Error(`entry ${index}: unknown entry type ${buf[1]}`);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const term = view.getUint32(2) * TWO_32 + view.getUint32(6);
  let p = HEADER;
  if (type !== "conf") return { index, term, type, data: new Uint8Array(buf.subarray(p)) };
  const changeType = CHANGE_NAME[buf[p] ?? 255];
  if (!changeType) throw new Error(`entry ${index}: unknown conf change type ${buf[p]}`);
  p++;
  const take = (): string => {
    if (p + 2 > buf.length) throw new Error(`entry ${index}: conf change is truncated`);
    const n = view.getUint16(p);
    if (p + 2 + n > buf.length) throw new Error(`entry ${index}: conf change is truncated`);
    const s = decoder.decode(buf.subarray(p + 2, p + 2 + n));
    p += 2 + n;
    return s;
  };
  const nodeId = take();
  const addr = take();
  return {
    index,
    term,
    type,
    data: new Uint8Array(buf.subarray(p)),
    change: { type: changeType, nodeId, addr },
  };
}
