/**
 * Why a piece of certificate or key material was refused. Each code names one cause, so
 * that callers (the CLI, the API, the enrollment path) can react without parsing text.
 */
export type PkiErrorCode =
  /** No PEM block of the expected kind, a torn block, or bad base64 inside a block. */
  | "malformed-pem"
  /** The DER inside a certificate block is not an X.509 certificate. */
  | "malformed-certificate"
  /** The private key block cannot be read as a private key. */
  | "malformed-key"
  /** The key is not an ECDSA P-256 key, the only kind this project issues. */
  | "unsupported-key"
  /** The private key does not belong to the certificate it is paired with. */
  | "key-mismatch"
  /** A certificate used as a CA is not one (no CA:true, or no keyCertSign). */
  | "not-a-ca"
  /** A certificate is not signed by any of the trusted CAs. */
  | "untrusted-certificate"
  /** A fingerprint is not 64 lowercase hex characters. */
  | "bad-fingerprint"
  /** A cluster id is empty or unusable. */
  | "bad-cluster-id"
  /** A validity period is not a positive duration. */
  | "bad-validity";

/**
 * The one error type of the PKI layer. Messages describe what is wrong with the input and
 * never include key material: they may end up in logs and RPC error messages.
 */
export class PkiError extends Error {
  override readonly name = "PkiError";
  readonly code: PkiErrorCode;

  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
