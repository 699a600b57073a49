/**
 * The few DER (X.690) building blocks that issuing a cluster certificate needs, and a
 * reader for the top-level fields of a certificate. Issuing goes through these instead of
 * @peculiar/x509's generator, which spends most of a rotation's issuing time building
 * and re-parsing ASN.1 objects; the output is checked by the same tests (parsed by
 * @peculiar/x509 and by OpenSSL, verified, used in TLS handshakes).
 */

/** A DER length: short form below 128, else long form. */
function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / 256)) bytes.unshift(x & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV: `tag` (one byte) around `content`. */
export function tlv(tag: number, ...content: Uint8Array[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

export const sequence = (...items: Uint8Array[]): Buffer => tlv(0x30, ...items);
export const set = (...items: Uint8Array[]): Buffer => tlv(0x31, ...items);
export const octetString = (b: Uint8Array): Buffer => tlv(0x04, b);
export const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, "utf8"));
/** [n] EXPLICIT (constructed, context-specific). */
export const explicit = (n: number, ...items: Uint8Array[]): Buffer => tlv(0xa0 | n, ...items);
/** [n] IMPLICIT for a primitive type (the content bytes as they are). */
export const implicitPrimitive = (n: number, content: Uint8Array): Buffer => tlv(0x80 | n, content);
export const booleanTrue = (): Buffer => Buffer.from([0x01, 0x01, 0xff]);

/** A BIT STRING of whole bytes (no unused bits). */
export function bitString(b: Uint8Array, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.from([unusedBits]), b);
}

/** A non-negative INTEGER from big-endian magnitude bytes (hex). */
export function integerFromHex(hex: string): Buffer {
  let bytes = Buffer.from(hex.length % 2 === 0 ? hex : `0${hex}`, "hex");
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0 && bytes[start + 1]! < 0x80) start++;
  bytes = bytes.subarray(start);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  if (bytes[0]! >= 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

export function smallInteger(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 127) throw new RangeError("small integers only");
  return tlv(0x02, Buffer.from([n]));
}

/** An OBJECT IDENTIFIER from its dotted form. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split(".").map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) {
    throw new RangeError(`bad OID ${dotted}`);
  }
  const out: number[] = [];
  const push = (v: number): void => {
    const group: number[] = [v & 0x7f];
    for (let x = Math.floor(v / 128); x > 0; x = Math.floor(x / 128))
      group.unshift(0x80 | (x & 0x7f));
    out.push(...group);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return tlv(0x06, Buffer.from(out));
}

/**
 * A certificate validity time (RFC 5280 §4.1.2.5): UTCTime through 2049, GeneralizedTime
 * from 2050, both in UTC with seconds and a "Z".
 */
export function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const year = d.getUTCFullYear();
  if (year < 1950 || year > 9999) throw new RangeError("certificate time out of range");
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return year < 2050
    ? tlv(0x17, Buffer.from(digits.slice(2), "ascii"))
    : tlv(0x18, Buffer.from(digits, "ascii"));
}

/** One element read from DER: its tag and where its header, content and end are. */
export interface DerElement {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

/** Reads the element starting at `offset`; throws on anything truncated or unsupported. */
export function readElement(der: Uint8Array, offset: number): DerElement {
  const tag = der[offset];
  const first = der[offset + 1];
  if (tag === undefined || first === undefined || (tag & 0x1f) === 0x1f) {
    throw new RangeError("truncated or unsupported DER");
  }
  let len = first;
  let contentStart = offset + 2;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new RangeError("unsupported DER length");
    len = 0;
    for (let i = 0; i < n; i++) {
      const b = der[offset + 2 + i];
      if (b === undefined) throw new RangeError("truncated DER");
      len = len * 256 + b;
    }
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > der.length) throw new RangeError("truncated DER");
  return { tag, start: offset, contentStart, end };
}

/** The elements directly inside a constructed element. */
export function children(der: Uint8Array, parent: DerElement): DerElement[] {
  const out: DerElement[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const e = readElement(der, at);
    out.push(e);
    at = e.end;
  }
  return out;
}

/**
 * The encoded subject Name of a DER certificate, byte for byte (what a certificate it
 * issues must carry as its issuer).
 */
export function certificateSubjectDer(cert: Uint8Array): Uint8Array {
  const top = readElement(cert, 0);
  const [tbs] = children(cert, top);
  if (top.tag !== 0x30 || tbs?.tag !== 0x30) throw new RangeError("not a certificate");
  const fields = children(cert, tbs);
  // version [0] is optional; then serial, signature, issuer, validity, subject.
  const base = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[base + 4];
  if (subject?.tag !== 0x30) throw new RangeError("not a certificate");
  return cert.subarray(subject.start, subject.end);
}

/**
 * The subjectPublicKey bits of an SPKI (DER): what RFC 5280 §4.2.1.2 method 1 hashes into
 * a key identifier.
 */
export function spkiPublicKeyBits(spki: Uint8Array): Uint8Array {
  const top = readElement(spki, 0);
  const [, bits] = children(spki, top);
  if (top.tag !== 0x30 || bits?.tag !== 0x03) throw new RangeError("not a SubjectPublicKeyInfo");
  // Skip the unused-bits byte.
  return spki.subarray(bits.contentStart + 1, bits.end);
}
