import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** Bytes of randomness in a join-token secret. 256 bits: guessing is not an attack. */
export const JOIN_SECRET_BYTES = 32;

/** Characters of a secret: 32 bytes in base64url without padding. */
const SECRET_CHARS = 43;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
const HEX = /^[0-9a-fA-F]+$/;

/**
 * Why a join token was refused. Each code names one defect, so that the CLI can tell an
 * operator what is wrong with what they pasted.
 */
export type JoinTokenErrorCode =
  | "empty"
  | "missing-separator"
  | "bad-secret-encoding"
  | "bad-secret-length"
  | "bad-hash-length"
  | "bad-hash-encoding";

/**
 * A join token that does not parse. The message describes the defect (lengths, which part)
 * and never contains the secret or any part of it: tokens are pasted into terminals and
 * errors end up in logs and bug reports.
 */
export class JoinTokenError extends Error {
  override readonly name = "JoinTokenError";
  readonly code: JoinTokenErrorCode;

  constructor(code: JoinTokenErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** A parsed join token. `secret` is the decoded secret; treat it as a secret. */
export interface JoinToken {
  /** The 32 secret bytes. */
  secret: Uint8Array;
  /** Lowercase hex SHA-256 of the cluster CA certificate's DER: what the joiner pins. */
  caHash: string;
}

/** A freshly generated token: the text shown once to the operator, and its parts. */
export interface GeneratedJoinToken extends JoinToken {
  /** `<secret>:<ca-hash>`, the only form an operator ever sees. Shown once. */
  token: string;
  /** What the config FSM stores instead of the secret: see {@link hashJoinSecret}. */
  secretHash: string;
}

/**
 * Generates a join token for a CA: 32 bytes from `crypto.randomBytes` as unpadded
 * base64url, a colon, and the CA's fingerprint.
 */
export function generateJoinToken(caHash: string): GeneratedJoinToken {
  const hash = parseCaHash(caHash);
  const secret = new Uint8Array(randomBytes(JOIN_SECRET_BYTES));
  return {
    token: formatJoinToken({ secret, caHash: hash }),
    secret,
    caHash: hash,
    secretHash: hashJoinSecret(secret),
  };
}

/** Formats a token as `<secret>:<ca-hash>`. */
export function formatJoinToken(token: JoinToken): string {
  return `${Buffer.from(token.secret).toString("base64url")}:${token.caHash}`;
}

/**
 * Parses `<secret>:<ca-hash>`. Surrounding whitespace (a pasted newline) is ignored.
 * The hash is accepted in either case and returned in lowercase. Throws
 * {@link JoinTokenError} with one code per defect; no message contains the secret.
 */
export function parseJoinToken(text: string): JoinToken {
  const trimmed = text.trim();
  if (trimmed.length === 0) {
    throw new JoinTokenError("empty", "join token is empty");
  }
  const colon = trimmed.lastIndexOf(":");
  if (colon < 0) {
    throw new JoinTokenError(
      "missing-separator",
      "join token has no ':' between the secret and the CA hash (expected <secret>:<ca-hash>)",
    );
  }
  const secretText = trimmed.slice(0, colon);
  const caHash = parseCaHash(trimmed.slice(colon + 1));
  if (secretText.length === 0 || !BASE64URL.test(secretText)) {
    throw new JoinTokenError(
      "bad-secret-encoding",
      "join token secret is not unpadded base64url (allowed: A-Z a-z 0-9 - _)",
    );
  }
  if (secretText.length !== SECRET_CHARS) {
    throw new JoinTokenError(
      "bad-secret-length",
      `join token secret has ${secretText.length} characters, expected ${SECRET_CHARS} (${JOIN_SECRET_BYTES} bytes)`,
    );
  }
  const secret = Buffer.from(secretText, "base64url");
  // 43 base64url characters carry 258 bits; the last 2 must be zero in a canonical
  // encoding. Refusing non-canonical forms keeps one token = one text.
  if (secret.length !== JOIN_SECRET_BYTES || secret.toString("base64url") !== secretText) {
    throw new JoinTokenError("bad-secret-encoding", "join token secret is not canonical base64url");
  }
  return { secret: new Uint8Array(secret), caHash };
}

function parseCaHash(text: string): string {
  if (text.length !== 64) {
    throw new JoinTokenError(
      "bad-hash-length",
      `join token CA hash has ${text.length} characters, expected 64 hex characters (SHA-256)`,
    );
  }
  if (!HEX.test(text)) {
    throw new JoinTokenError("bad-hash-encoding", "join token CA hash is not hexadecimal");
  }
  return text.toLowerCase();
}

/**
 * Domain separation for the stored hash, so that the value cannot be confused with (or
 * replayed as) a SHA-256 computed for any other purpose in the system.
 */
const SECRET_HASH_DOMAIN = "gastrolog join-token secret v1\0";

/**
 * The hash the config FSM stores instead of a secret: SHA-256 over a domain-separation
 * prefix and the 32 secret bytes, lowercase hex.
 *
 * No slow KDF (scrypt, argon2) is needed: those exist to make guessing low-entropy
 * passwords expensive. A secret is 256 uniformly random bits; no amount of hashing speed
 * makes 2^256 guesses feasible, and a fast hash keeps verification cheap on the leader.
 */
export function hashJoinSecret(secret: Uint8Array): string {
  return createHash("sha256").update(SECRET_HASH_DOMAIN).update(secret).digest("hex");
}

/**
 * True when `secret` hashes to `storedHash`. The comparison is constant-time over the
 * fixed-length hashes; a malformed stored hash compares false.
 */
export function verifyJoinSecret(secret: Uint8Array, storedHash: string): boolean {
  const expected = Buffer.from(hashJoinSecret(secret), "hex");
  if (storedHash.length !== 64 || !HEX.test(storedHash)) return false;
  const stored = Buffer.from(storedHash, "hex");
  return timingSafeEqual(expected, stored);
}
