import {
  createHash,
  createHmac,
  createPrivateKey,
  type KeyObject,
  randomBytes,
  type webcrypto,
} from "node:crypto";
import { fingerprint } from "./fingerprint.js";
import {
  assertKeyMatchesCertificate,
  certificateDer,
  certificatesFromPem,
  certificatesToPem,
  privateKeyFromPem,
  privateKeyToPem,
} from "./pem.js";
import { PkiError } from "./pki-error.js";
import type { x509 } from "./x509.js";
import { EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM, loadX509, subtle } from "./x509-loader.js";

/**
 * How far notBefore is set in the past. Nodes' clocks disagree by seconds to minutes; a
 * certificate minted on a node whose clock runs ahead must not be "not yet valid" on the
 * others the moment it is replicated.
 */
export const NOT_BEFORE_BACKDATE_MS = 5 * 60 * 1000;

/** Default lifetime of the CA and the cluster certificate: ten years. Rotation is explicit. */
export const DEFAULT_VALIDITY_MS = 10 * 365 * 24 * 60 * 60 * 1000;

/**
 * A certificate together with its private key, in the forms the rest of the system
 * stores and replicates (PEM), plus the values derived from it.
 */
export interface CertificateWithKey {
  /** The certificate alone, one PEM block. */
  certPem: string;
  /** Its private key, unencrypted PKCS#8 PEM. A secret: never log it. */
  keyPem: string;
  /** SHA-256 of the certificate DER, lowercase hex. */
  fingerprint: string;
  notBefore: Date;
  notAfter: Date;
}

/** Options shared by {@link createClusterCa} and {@link issueClusterCert}. */
export interface ValidityOptions {
  /** Lifetime counted from `now`; default ten years. */
  validityMs?: number;
  /** The issuing time; default the current time. Tests pass a fixed clock. */
  now?: Date;
}

/**
 * A positive 128-bit serial from the CSPRNG, as hex. The top bit is cleared so that the
 * DER INTEGER stays positive and 16 bytes long, and a zero first byte is avoided so the
 * encoding stays minimal.
 */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return bytes.toString("hex");
}

function validity(options: ValidityOptions): { notBefore: Date; notAfter: Date } {
  const validityMs = options.validityMs ?? DEFAULT_VALIDITY_MS;
  if (!Number.isFinite(validityMs) || validityMs <= 0) {
    throw new PkiError("bad-validity", "certificate validity must be a positive duration");
  }
  const now = (options.now ?? new Date()).getTime();
  return {
    notBefore: new Date(now - NOT_BEFORE_BACKDATE_MS),
    notAfter: new Date(now + validityMs),
  };
}

async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await subtle.generateKey(EC_KEY_ALGORITHM, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
}

async function exportPrivateKey(key: webcrypto.CryptoKey): Promise<KeyObject> {
  const pkcs8 = await subtle.exportKey("pkcs8", key);
  return createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" });
}

function toCertificateWithKey(cert: x509.X509Certificate, key: KeyObject): CertificateWithKey {
  return {
    certPem: certificatesToPem([cert]),
    keyPem: privateKeyToPem(key),
    fingerprint: fingerprint(certificateDer(cert)),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

/** Options for {@link createClusterCa}. */
export interface CreateClusterCaOptions extends ValidityOptions {
  /**
   * The cluster this CA belongs to. It is written into the CA subject (OU), so that a
   * joining node that pinned this CA by hash can derive the cluster name the server's
   * certificate must carry before it sends anything.
   */
  clusterId: string;
}

/**
 * Creates a cluster CA: self-signed ECDSA P-256, basicConstraints CA:true (critical),
 * keyUsage keyCertSign and cRLSign (critical), a subject key identifier, a random 128-bit
 * serial, backdated notBefore. The CN carries part of the serial so that two CAs of the same
 * cluster (during a CA rotation) have different subjects and never shadow each other in
 * name-based chain building.
 */
export async function createClusterCa(
  options: CreateClusterCaOptions,
): Promise<CertificateWithKey> {
  assertClusterId(options.clusterId);
  const { notBefore, notAfter } = validity(options);
  const serialNumber = randomSerial();
  const x509 = loadX509();
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber,
    name: [
      { O: ["gastrolog"] },
      { OU: [`${CLUSTER_OU_PREFIX}${options.clusterId}`] },
      { CN: [`gastrolog cluster CA ${serialNumber.slice(0, 8)}`] },
    ],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return toCertificateWithKey(cert, await exportPrivateKey(keys.privateKey));
}

const CLUSTER_OU_PREFIX = "cluster ";

/**
 * The cluster id written into a CA's subject by {@link createClusterCa}, or undefined when
 * the CA does not carry one (a CA made by other tools).
 */
export function clusterIdOfCa(ca: x509.X509Certificate): string | undefined {
  for (const value of ca.subjectName.getField("OU")) {
    if (value.startsWith(CLUSTER_OU_PREFIX)) return value.slice(CLUSTER_OU_PREFIX.length);
  }
  return undefined;
}

function assertClusterId(clusterId: string): void {
  if (clusterId.length === 0 || clusterId.length > 128 || !/^[\x21-\x7e]+$/.test(clusterId)) {
    throw new PkiError(
      "bad-cluster-id",
      "cluster id must be 1 to 128 printable ASCII characters without spaces",
    );
  }
}

/**
 * The cluster-specific TLS server name, derived from the cluster id: CN and DNS SAN of the
 * cluster certificate, and the server name every node dials with.
 *
 * The name is `gastrolog-<16 hex>.cluster.invalid`. When the id is hex (a UUID or a random
 * hex id, dashes ignored) the 16 characters are its first 16, so operators can match the
 * name to the id by eye; otherwise they are the first 16 hex characters of SHA-256(id). The
 * `.invalid` TLD is reserved (RFC 2606) and never resolves: the name identifies the cluster
 * in TLS, it is never looked up.
 */
export function clusterServerName(clusterId: string): string {
  assertClusterId(clusterId);
  const compact = clusterId.replaceAll("-", "").toLowerCase();
  const label = /^[0-9a-f]{16,}$/.test(compact)
    ? compact.slice(0, 16)
    : createHash("sha256").update(clusterId).digest("hex").slice(0, 16);
  return `gastrolog-${label}.cluster.invalid`;
}

/** A CA as loaded for issuing: its certificate and private key, checked to belong together. */
export interface LoadedCa {
  cert: x509.X509Certificate;
  key: KeyObject;
}

/**
 * Loads a CA from PEM and checks it: the certificate parses, is a CA (CA:true and, when
 * keyUsage is present, keyCertSign), and the key is its private key.
 */
export function loadCa(certPem: string, keyPem: string): LoadedCa {
  const [cert] = certificatesFromPem(certPem);
  const key = privateKeyFromPem(keyPem);
  assertIsCa(cert!);
  assertKeyMatchesCertificate(key, cert!);
  return { cert: cert!, key };
}

/** True when a certificate may sign others: basicConstraints CA:true and keyCertSign. */
export function isCaCertificate(cert: x509.X509Certificate): boolean {
  const x509 = loadX509();
  const bc = cert.getExtension(x509.BasicConstraintsExtension);
  if (bc === null || !bc.ca) return false;
  const ku = cert.getExtension(x509.KeyUsagesExtension);
  return ku === null || (ku.usages & x509.KeyUsageFlags.keyCertSign) !== 0;
}

/** Throws `PkiError("not-a-ca")` unless {@link isCaCertificate}. */
export function assertIsCa(cert: x509.X509Certificate): void {
  if (!isCaCertificate(cert)) {
    throw new PkiError(
      "not-a-ca",
      `certificate "${cert.subject}" is not a CA (needs basicConstraints CA:true and keyCertSign)`,
    );
  }
}

/** Options for {@link issueClusterCert}. */
export interface IssueClusterCertOptions extends ValidityOptions {
  /** The issuing CA, PEM. */
  ca: { certPem: string; keyPem: string };
  /** The cluster id; the certificate's name is {@link clusterServerName} of it. */
  clusterId: string;
}

/** The parts of a CA that issuing needs, loaded and checked once per CA. */
interface IssuingCa {
  /** The CA's subject: the issuer of what it signs. */
  readonly subject: x509.Name;
  /** The authority key identifier of what it signs. */
  readonly authorityKeyId: x509.AuthorityKeyIdentifierExtension;
  /** The CA's key, imported for WebCrypto (what @peculiar/x509 signs with). */
  readonly signingKey: webcrypto.CryptoKey;
}

/**
 * CAs loaded for issuing, by a keyed MAC of their certificate and key PEM (the key is
 * never kept as a map key, only inside the CryptoKey). Loading a CA (parsing, the CA and
 * key checks, the key import) is much of what issuing costs, and a cluster issues with the
 * same CA rotation after rotation.
 */
const ISSUING_CA_LIMIT = 4;
const issuingCas = new Map<string, Promise<IssuingCa>>();
const issuingCaMacKey = randomBytes(32);

function issuingCa(certPem: string, keyPem: string): Promise<IssuingCa> {
  const id = createHmac("sha256", issuingCaMacKey)
    .update(certPem)
    .update("\0")
    .update(keyPem)
    .digest("hex");
  const hit = issuingCas.get(id);
  if (hit !== undefined) {
    issuingCas.delete(id);
    issuingCas.set(id, hit);
    return hit;
  }
  const loading = (async (): Promise<IssuingCa> => {
    const x509 = loadX509();
    const ca = loadCa(certPem, keyPem);
    const ski = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension);
    return {
      subject: ca.cert.subjectName,
      authorityKeyId:
        ski !== null
          ? new x509.AuthorityKeyIdentifierExtension(ski.keyId)
          : await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
      signingKey: await signingKey(ca.key),
    };
  })();
  // A CA that fails to load is not remembered: the next call reports the error again.
  loading.catch(() => issuingCas.delete(id));
  if (issuingCas.size >= ISSUING_CA_LIMIT) {
    const oldest = issuingCas.keys().next().value;
    if (oldest !== undefined) issuingCas.delete(oldest);
  }
  issuingCas.set(id, loading);
  return loading;
}

/** Imports a private key for signing with WebCrypto (what @peculiar/x509 signs with). */
async function signingKey(key: KeyObject): Promise<webcrypto.CryptoKey> {
  const der = key.export({ format: "der", type: "pkcs8" });
  return subtle.importKey("pkcs8", der, EC_KEY_ALGORITHM, false, ["sign"]);
}

/**
 * Issues the shared cluster certificate: a fresh ECDSA P-256 key, signed by the CA,
 * CN and DNS SAN = {@link clusterServerName}, extKeyUsage serverAuth and clientAuth,
 * keyUsage digitalSignature, CA:false, subject and authority key identifiers, random
 * 128-bit serial, backdated notBefore, ten years by default.
 *
 * This runs at the start of every rotation, so the CA is loaded once (see
 * {@link issuingCa}) and the new key pair is generated while it loads.
 */
export async function issueClusterCert(
  options: IssueClusterCertOptions,
): Promise<CertificateWithKey> {
  const name = clusterServerName(options.clusterId);
  const { notBefore, notAfter } = validity(options);
  const x509 = loadX509();
  const keysPromise = generateKeyPair();
  keysPromise.catch(() => undefined);
  const [ca, keys] = await Promise.all([
    issuingCa(options.ca.certPem, options.ca.keyPem),
    keysPromise,
  ]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ O: ["gastrolog"] }, { CN: [name] }],
    issuer: ca.subject,
    notBefore,
    notAfter,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([{ type: "dns", value: name }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ca.authorityKeyId,
    ],
  });
  return toCertificateWithKey(cert, await exportPrivateKey(keys.privateKey));
}
