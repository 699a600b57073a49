/**
 * Pure input checks for the config FSM. Each returns an error message (safe to
 * show: it never repeats secret input) or null when the value is acceptable.
 * They are deterministic: same input, same answer, on every replica.
 */

import { createHash } from "node:crypto";
import { FSM_LIMITS } from "./limits.js";

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const KEY_RE = /^[A-Za-z0-9/_.-]+$/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL_RE = /[\u0000-\u001f\u007f]/;
const ADDR_RE = /^[^\s/]+:[0-9]{1,5}$/;
const FINGERPRINT_RE = /^[0-9a-f]{64}$/;

/** Converts a protobuf int64 to a number if it is a safe, non-negative integer. */
export function toCount(v: bigint): number | null {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(v);
}

/** An id: cluster, node or token. 1..64 chars, [A-Za-z0-9._-], starting alphanumeric. */
export function checkId(what: string, v: string): string | null {
  if (v.length === 0) return `${what} is required`;
  if (v.length > FSM_LIMITS.maxIdChars || !ID_RE.test(v)) {
    return `${what} must be 1-${FSM_LIMITS.maxIdChars} characters of [A-Za-z0-9._-], starting with a letter or digit`;
  }
  return null;
}

/** A configuration key. Reported without echoing an oversized key in full. */
export function checkKey(v: string): string | null {
  if (v.length === 0) return "key is required";
  if (v.length > FSM_LIMITS.maxKeyBytes) {
    return `key is ${v.length} characters; the limit is ${FSM_LIMITS.maxKeyBytes}`;
  }
  if (!KEY_RE.test(v)) return "key may only contain [A-Za-z0-9/_.-]";
  return null;
}

/** Free text (names, labels, actors): bounded, no control characters. */
export function checkText(what: string, v: string, max: number, required: boolean): string | null {
  if (v.length === 0) return required ? `${what} is required` : null;
  if (v.length > max) return `${what} is longer than ${max} characters`;
  if (CONTROL_RE.test(v)) return `${what} contains control characters`;
  return null;
}

/** A HOST:PORT address. Empty is allowed only when not required. */
export function checkAddr(what: string, v: string, required: boolean): string | null {
  if (v.length === 0) return required ? `${what} is required` : null;
  if (v.length > FSM_LIMITS.maxAddrChars || !ADDR_RE.test(v)) {
    return `${what} must be HOST:PORT`;
  }
  const port = Number(v.slice(v.lastIndexOf(":") + 1));
  if (port < 1 || port > 65535) return `${what} has a port outside 1-65535`;
  return null;
}

/** A lowercase hex SHA-256 fingerprint. */
export function checkFingerprint(what: string, v: string): string | null {
  return FINGERPRINT_RE.test(v) ? null : `${what} must be 64 lowercase hex characters`;
}

/** A token secret hash: a SHA-256 digest. The message never includes the bytes. */
export function checkSecretHash(v: Uint8Array): string | null {
  return v.length === FSM_LIMITS.secretHashBytes
    ? null
    : `secret hash must be ${FSM_LIMITS.secretHashBytes} bytes (SHA-256)`;
}

/** A time in Unix ms: a safe integer, > 0 when required. */
export function checkTime(what: string, v: bigint, required: boolean): string | null {
  const n = toCount(v);
  if (n === null) return `${what} is not a valid time`;
  if (required && n === 0) return `${what} is required`;
  return null;
}

/**
 * Parses one PEM block with the given label and returns its DER bytes, or an
 * error message. Strict on purpose: exactly one block, nothing around it but
 * whitespace, base64 that round-trips. The message never contains the PEM.
 */
export function parsePem(
  what: string,
  pem: string,
  labels: readonly string[],
): Uint8Array | string {
  if (pem.length === 0) return `${what} is required`;
  if (pem.length > FSM_LIMITS.maxPemChars)
    return `${what} is larger than ${FSM_LIMITS.maxPemChars} characters`;
  const m =
    /^\s*-----BEGIN ([A-Z ]+)-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END ([A-Z ]+)-----\s*$/.exec(
      pem,
    );
  if (m === null) return `${what} is not a single PEM block`;
  const [, begin, body, end] = m;
  if (begin !== end || begin === undefined || !labels.includes(begin)) {
    return `${what} must be a PEM block of type ${labels.join(" or ")}`;
  }
  const b64 = (body ?? "").replace(/\r?\n/g, "");
  const der = Buffer.from(b64, "base64");
  if (der.length === 0 || der.toString("base64") !== b64) return `${what} has invalid base64`;
  return new Uint8Array(der.buffer, der.byteOffset, der.byteLength);
}

/** Lowercase hex SHA-256 of DER bytes: the project's fingerprint format. */
export function fingerprintOfDer(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

/** PEM labels accepted for certificates and for private keys. */
export const CERT_PEM_LABELS = ["CERTIFICATE"] as const;
export const KEY_PEM_LABELS = ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"] as const;
