/**
 * Certificate factories for tests: the real cluster CA and certificate from src/pki, plus
 * hand-made certificates that break exactly one rule each (impostors, expired leaves, a
 * man in the middle that copies the CA's names).
 */
import { createPrivateKey, type webcrypto } from "node:crypto";
import { ClusterTlsState } from "../../src/cluster/tls/tls-state.js";
import {
  type CertificateWithKey,
  createClusterCa,
  issueClusterCert,
} from "../../src/pki/certificate.js";
import { fingerprint } from "../../src/pki/fingerprint.js";
import { certificatesToPem, privateKeyToPem } from "../../src/pki/pem.js";
import { EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM, subtle, x509 } from "../../src/pki/x509.js";

export const CLUSTER_ID = "3f2a9c1e-7b4d-4e8a-9c1f-0a1b2c3d4e5f";

/** A CA and a cluster certificate issued by it. */
export interface ClusterPki {
  ca: CertificateWithKey;
  cert: CertificateWithKey;
}

export async function makeClusterPki(clusterId = CLUSTER_ID): Promise<ClusterPki> {
  const ca = await createClusterCa({ clusterId });
  const cert = await issueClusterCert({ ca, clusterId });
  return { ca, cert };
}

/** The TLS state of a node holding `pki`, accepting `accepted` (default: its own cert). */
export function stateOf(pki: ClusterPki, accepted?: string[]): ClusterTlsState {
  return ClusterTlsState.fromPem({
    trustedCaPems: [pki.ca.certPem],
    certPem: pki.cert.certPem,
    keyPem: pki.cert.keyPem,
    ...(accepted === undefined ? {} : { accepted }),
  });
}

export interface CustomCertOptions {
  subject: string;
  /** Signer: its key, and the certificate whose subject (and SKI) become issuer (and AKI). */
  signer?: { keyPem: string; cert: x509.X509Certificate };
  /** Override the issuer name written into the certificate. */
  issuerName?: string;
  /** Override the authority key identifier (hex). */
  authorityKeyId?: string;
  dnsNames?: string[];
  eku?: string[];
  isCa?: boolean;
  /** keyUsage bits; default keyCertSign|cRLSign for a CA, digitalSignature otherwise. */
  keyUsage?: number;
  notBefore?: Date;
  notAfter?: Date;
}

/** Issues an arbitrary certificate; self-signed unless `signer` is given. */
export async function makeCustomCert(o: CustomCertOptions): Promise<CertificateWithKey> {
  const keys = (await subtle.generateKey(EC_KEY_ALGORITHM, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const signingKey =
    o.signer === undefined
      ? keys.privateKey
      : await subtle.importKey(
          "pkcs8",
          createPrivateKey(o.signer.keyPem).export({ format: "der", type: "pkcs8" }),
          EC_KEY_ALGORITHM,
          false,
          ["sign"],
        );
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(o.isCa ?? false, undefined, true),
    new x509.KeyUsagesExtension(
      o.keyUsage ??
        (o.isCa
          ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
          : x509.KeyUsageFlags.digitalSignature),
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (o.eku !== undefined) extensions.push(new x509.ExtendedKeyUsageExtension(o.eku));
  if (o.dnsNames !== undefined) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(o.dnsNames.map((value) => ({ type: "dns", value }))),
    );
  }
  const signerSki = o.signer?.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  const aki = o.authorityKeyId ?? signerSki;
  if (aki !== undefined) extensions.push(new x509.AuthorityKeyIdentifierExtension(aki));
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    subject: o.subject,
    issuer: o.issuerName ?? o.signer?.cert.subject ?? o.subject,
    notBefore: o.notBefore ?? new Date(now - 60_000),
    notAfter: o.notAfter ?? new Date(now + 24 * 3600_000),
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    extensions,
  });
  const keyPem = privateKeyToPem(
    createPrivateKey({
      key: Buffer.from(await subtle.exportKey("pkcs8", keys.privateKey)),
      format: "der",
      type: "pkcs8",
    }),
  );
  return {
    certPem: certificatesToPem([cert]),
    keyPem,
    fingerprint: fingerprint(new Uint8Array(cert.rawData)),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

export function parsed(pem: string): x509.X509Certificate {
  return new x509.X509Certificate(pem);
}
