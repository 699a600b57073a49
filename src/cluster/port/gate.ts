import type { TLSSocket } from "node:tls";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { fingerprint } from "../../pki/fingerprint.js";
import type { ClusterTlsState } from "../tls/tls-state.js";
import { type PeerAuth, peerIdentityKey } from "./peer-identity.js";

/**
 * Judges the peer of a TLS socket against a TLS state. A peer is authenticated only when
 * all of these hold:
 *
 * 1. it presented a certificate;
 * 2. OpenSSL verified that certificate's chain during the handshake against the trusted
 *    CAs in force then (`socket.authorized`): signature, validity period and the
 *    clientAuth purpose;
 * 3. the certificate's signature verifies with the public key of a CA trusted *now*
 *    (a real signature check in {@link ClusterTlsState.isSignedByTrustedCa}), so that a
 *    session opened before a CA was retired does not outlive the retirement;
 * 4. its fingerprint is in the accepted set *now*. Chaining to the CA is not enough: an
 *    evicted node's certificate is still signed by it.
 */
export function authenticatePeer(socket: TLSSocket, state: ClusterTlsState): PeerAuth {
  const peer = socket.getPeerX509Certificate();
  if (peer === undefined) return { t: "anonymous" };
  const der = new Uint8Array(peer.raw);
  const fp = fingerprint(der);
  if (!socket.authorized) {
    const reason = String(socket.authorizationError ?? "certificate chain not verified");
    return { t: "untrusted", fingerprint: fp, reason };
  }
  if (!state.isSignedByTrustedCa(der)) {
    return { t: "untrusted", fingerprint: fp, reason: "not signed by a currently trusted CA" };
  }
  if (!state.isAccepted(fp)) return { t: "not-accepted", fingerprint: fp };
  return { t: "authenticated", fingerprint: fp };
}

/**
 * The error a refused peer receives: `unauthenticated` without a trusted certificate,
 * `permission_denied` for a trusted certificate that is not (or no longer) accepted. The
 * message names the cause but never echoes anything the peer sent.
 */
export function gateError(auth: Exclude<PeerAuth, { t: "authenticated" }>): ConnectError {
  switch (auth.t) {
    case "anonymous":
      return new ConnectError(
        "a cluster client certificate is required for this method",
        Code.Unauthenticated,
      );
    case "untrusted":
      return new ConnectError(
        "the client certificate is not issued by a trusted cluster CA",
        Code.Unauthenticated,
      );
    case "not-accepted":
      return new ConnectError(
        "the client certificate is not accepted by this cluster (rotated out or revoked)",
        Code.PermissionDenied,
      );
  }
}

/**
 * Second line of the gate, inside Connect: refuses any non-public method whose context
 * does not carry an authenticated peer. The HTTP-level gate already refused such requests
 * before their body was read; this interceptor makes the guarantee hold even if the two
 * ever disagreed about a path.
 */
export function createGateInterceptor(isPublic: (procedure: string) => boolean): Interceptor {
  return (next) => async (req) => {
    const procedure = `/${req.service.typeName}/${req.method.name}`;
    if (!isPublic(procedure)) {
      const auth = req.contextValues.get(peerIdentityKey)?.auth ?? { t: "anonymous" as const };
      if (auth.t !== "authenticated") throw gateError(auth);
    }
    return next(req);
  };
}
