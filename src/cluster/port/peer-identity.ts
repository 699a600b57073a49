import { createContextKey } from "@connectrpc/connect";

/**
 * The gate's verdict on the peer of one cluster-port request. A discriminated union so
 * that handlers (and the enrollment rate limiter) can tell "no certificate" from
 * "certificate we do not trust" from "trusted certificate we no longer accept".
 */
export type PeerAuth =
  /** The peer presented a certificate that chains to a trusted CA and is accepted. */
  | { t: "authenticated"; fingerprint: string }
  /** The peer presented no certificate (a joining node). */
  | { t: "anonymous" }
  /** The peer's certificate does not chain to a trusted CA (self-signed, other CA, expired). */
  | { t: "untrusted"; fingerprint: string; reason: string }
  /** The certificate chains to a trusted CA but is not in the accepted set (revoked). */
  | { t: "not-accepted"; fingerprint: string };

/** Who is calling: what handlers on the cluster port may learn about the peer. */
export interface PeerIdentity {
  /** The peer's IP address as seen by the socket, for logs and per-source rate limits. */
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  auth: PeerAuth;
}

/**
 * Context key under which the cluster port passes the {@link PeerIdentity} to every
 * handler: `ctx.values.get(peerIdentityKey)`. Undefined only outside the cluster port.
 */
export const peerIdentityKey = createContextKey<PeerIdentity | undefined>(undefined, {
  description: "gastrolog cluster-port peer identity",
});
