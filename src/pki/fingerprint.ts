import { createHash } from "node:crypto";
import { certificateDer } from "./pem.js";
import type { x509 } from "./x509.js";

const FINGERPRINT = /^[0-9a-f]{64}$/;

/**
 * A certificate's fingerprint: the SHA-256 of its DER encoding, in lowercase hex. This is
 * the value join tokens pin (the CA hash) and the accepted set holds (peer certificates).
 */
export function fingerprint(cert: Uint8Array | x509.X509Certificate): string {
  const der = cert instanceof Uint8Array ? cert : certificateDer(cert);
  return createHash("sha256").update(der).digest("hex");
}

/** True when `s` has the shape of a fingerprint: 64 lowercase hex characters. */
export function isFingerprint(s: string): boolean {
  return FINGERPRINT.test(s);
}
