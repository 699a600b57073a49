/**
 * The secret-bearing reads of the config FSM: TLS key material for the node's
 * own cluster port and the enrollment reply, and the CA key for signing a new
 * cluster certificate. Kept apart from views.ts (which status and listing use)
 * and with every key wrapped in `Secret`, so that logging or serialising one of
 * these objects prints "[redacted]" instead of a key.
 */

import type { Secret } from "./secret.js";

/** A certificate and its private key. */
export interface KeyedCert {
  readonly fingerprint: string;
  readonly certPem: string;
  readonly keyPem: Secret;
  readonly notAfterUnixMs: number;
}

/**
 * What a node listens and dials with, and what the enrollment reply carries:
 * trusted CA certificates (no CA keys), the current cluster certificate and key,
 * and during a rotation the previous one.
 */
export interface TlsMaterial {
  /** PEM certificates of every trusted CA, sorted by fingerprint. */
  readonly trustedCaCertsPem: readonly string[];
  readonly current: KeyedCert;
  /** Non-null only while a rotation is in flight. */
  readonly previous: KeyedCert | null;
  /** Fingerprints a peer may present (current, plus previous during a rotation). */
  readonly acceptedFingerprints: readonly string[];
}
