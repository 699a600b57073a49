import { isCaCertificate } from "./certificate.js";
import { fingerprint } from "./fingerprint.js";
import { certificateDer, parseCertificateDer } from "./pem.js";
import type { x509 } from "./x509.js";
import { loadX509 } from "./x509-loader.js";

/**
 * Why a joining node refuses the chain a server presented. A refusal means: send nothing,
 * the token's secret included.
 */
export type ChainRefusal =
  /** The server presented no certificate. */
  | "empty-chain"
  /** A presented certificate is not parseable X.509. */
  | "malformed-certificate"
  /** No presented certificate has the token's CA hash: not our cluster, or a MITM. */
  | "hash-not-found"
  /** The certificate with the pinned hash is not a CA. */
  | "not-a-ca"
  /** The pinned CA itself is outside its validity period. */
  | "ca-expired"
  /** The server presented the CA itself as its leaf. */
  | "leaf-is-ca"
  /** The leaf's signature does not verify with the pinned CA's key: a MITM. */
  | "bad-signature"
  /** The leaf's notAfter is in the past. */
  | "expired"
  /** The leaf's notBefore is in the future. */
  | "not-yet-valid"
  /** The leaf has no extKeyUsage serverAuth. */
  | "no-server-auth"
  /** The leaf's DNS SAN (or CN, if it has no SAN) is not the expected cluster name. */
  | "name-mismatch";

/** Outcome of {@link checkEnrollmentChain}: the pinned CA and the leaf, or a reason. */
export type ChainCheckResult =
  | { ok: true; ca: x509.X509Certificate; leaf: x509.X509Certificate }
  | { ok: false; reason: ChainRefusal };

/** Input of {@link checkEnrollmentChain}. */
export interface ChainCheckInput {
  /** The chain as the server presented it, leaf first. */
  chain: readonly (Uint8Array | x509.X509Certificate)[];
  /** The token's CA hash: lowercase hex SHA-256 of the CA certificate's DER. */
  caHash: string;
  /**
   * The cluster name the leaf must carry, or a function deriving it from the pinned CA
   * (which is trustworthy once its hash matched). See `expectedNameFromCa`.
   */
  expectedName: string | ((ca: x509.X509Certificate) => string | undefined);
  /** The time to check validity against; default now. */
  now?: Date;
}

/**
 * The check a joining node runs on the server's chain before it sends anything. The chain
 * is accepted only if some certificate has the pinned hash, that certificate is a CA, the
 * leaf's signature verifies with that CA's public key (checked here with the key, because
 * Node and OpenSSL link presented chains by issuer *name*, which a man in the middle can
 * copy), the leaf is within its validity period, has serverAuth, and carries the expected
 * name. The first failing condition is reported.
 */
export async function checkEnrollmentChain(input: ChainCheckInput): Promise<ChainCheckResult> {
  if (input.chain.length === 0) return { ok: false, reason: "empty-chain" };
  let certs: x509.X509Certificate[];
  try {
    certs = input.chain.map((c) => (c instanceof Uint8Array ? parseCertificateDer(c) : c));
  } catch {
    return { ok: false, reason: "malformed-certificate" };
  }
  const now = input.now ?? new Date();
  const leaf = certs[0]!;
  const caHash = input.caHash.toLowerCase();
  const ca = certs.find((c) => fingerprint(certificateDer(c)) === caHash);
  if (ca === undefined) return { ok: false, reason: "hash-not-found" };
  if (!isCaCertificate(ca)) return { ok: false, reason: "not-a-ca" };
  if (now < ca.notBefore || now > ca.notAfter) return { ok: false, reason: "ca-expired" };
  if (ca === leaf) return { ok: false, reason: "leaf-is-ca" };

  // signatureOnly: validity is checked below with its own reasons, against `now`.
  let signed = false;
  try {
    signed = await leaf.verify({ publicKey: ca.publicKey, signatureOnly: true });
  } catch {
    signed = false;
  }
  if (!signed) return { ok: false, reason: "bad-signature" };

  if (now > leaf.notAfter) return { ok: false, reason: "expired" };
  if (now < leaf.notBefore) return { ok: false, reason: "not-yet-valid" };

  const x509 = loadX509();
  const eku = leaf.getExtension(x509.ExtendedKeyUsageExtension);
  if (eku === null || !eku.usages.includes(x509.ExtendedKeyUsage.serverAuth)) {
    return { ok: false, reason: "no-server-auth" };
  }

  const expected =
    typeof input.expectedName === "string" ? input.expectedName : input.expectedName(ca);
  if (expected === undefined || !certificateHasName(leaf, expected)) {
    return { ok: false, reason: "name-mismatch" };
  }
  return { ok: true, ca, leaf };
}

/**
 * True when the certificate is for `name`: one of its DNS SANs equals it (case-insensitive),
 * or, only when it has no SAN extension, its CN does (RFC 6125 §6.4.4).
 */
export function certificateHasName(cert: x509.X509Certificate, name: string): boolean {
  const wanted = name.toLowerCase();
  const san = cert.getExtension(loadX509().SubjectAlternativeNameExtension);
  if (san !== null) {
    return san.names.items.some((n) => n.type === "dns" && n.value.toLowerCase() === wanted);
  }
  return cert.subjectName.getField("CN").some((cn) => cn.toLowerCase() === wanted);
}

/** Human-readable text for a refusal, for logs and the CLI. Never contains secrets. */
export function describeChainRefusal(reason: ChainRefusal): string {
  switch (reason) {
    case "empty-chain":
      return "the server presented no certificate";
    case "malformed-certificate":
      return "the server presented a certificate that cannot be parsed";
    case "hash-not-found":
      return "no certificate presented by the server matches the CA hash in the join token";
    case "not-a-ca":
      return "the certificate matching the join token's CA hash is not a CA";
    case "ca-expired":
      return "the cluster CA matching the join token is outside its validity period";
    case "leaf-is-ca":
      return "the server presented the CA certificate itself instead of a cluster certificate";
    case "bad-signature":
      return "the server's certificate is not signed by the pinned cluster CA (possible man in the middle)";
    case "expired":
      return "the server's certificate has expired";
    case "not-yet-valid":
      return "the server's certificate is not yet valid (check the clocks)";
    case "no-server-auth":
      return "the server's certificate is not valid for server authentication";
    case "name-mismatch":
      return "the server's certificate is not for this cluster's name";
  }
}
